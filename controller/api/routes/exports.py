"""``GET /searches/{id}/export``: one device's frontier as JSON, CSV, PyTorch or ONNX files."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lts.controller import exports
from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StateDep, StoreDep
from lts.controller.api.errors import responses
from lts.controller.search.config import MAX_SEED
from lts.controller.store import Store
from lts.shared.errors import BuildError

router = APIRouter(prefix="/searches", tags=["exports"])

_CONTENT: dict[str, dict[str, object]] = {
    t: {} for t in ("application/json", "text/csv", "application/octet-stream", "application/zip")
}


@router.get(
    "/{search_id}/export",
    response_class=Response,
    responses={200: {"content": _CONTENT}, **responses(401, 404, 422, 429, 507),
               501: {"description": "pt/onnx: PyTorch is not installed on this server"}},
)  # fmt: skip
async def read_export(
    search_id: SearchId,
    store: StoreDep,
    state: StateDep,
    request: Request,
    device: Annotated[
        str | None,
        Query(
            min_length=1,
            description="agent or device name; needed when the search ran on several devices",
        ),
    ] = None,
    fmt: Annotated[Literal["json", "onnx", "pt", "csv"], Query(alias="format")] = "json",
    ids: Annotated[
        str | None, Query(description="comma-separated arch ids (default: the frontier)")
    ] = None,
    seed: Annotated[int, Query(ge=0, le=MAX_SEED, description="seed of the untrained weights")] = 0,
) -> Response:
    """``json``: every member's config and figures; ``csv``: the table; ``pt`` / ``onnx``:
    untrained model files (the file itself for one member, else a zip of them). Model files
    are bounded: at most the server's ``export_max_params`` parameters in all (422 naming
    ``ids``: pick fewer), one export built at a time (429), none the free disk cannot hold
    (507); an export stops once its client has gone."""
    sel = await run_in_threadpool(_select, store, search_id, device, ids)
    if fmt == "json":
        return JSONResponse(exports.manifest(sel))
    if fmt == "csv":
        name = f"search-{search_id}-frontier.csv"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(exports.csv_text(sel), media_type="text/csv", headers=disposition)
    try:
        exports.require_torch(fmt)
    except BuildError as exc:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, str(exc)) from None
    return await state.exports.build(sel, fmt, seed, request)


def _select(
    store: Store, search_id: int, device: str | None, ids: str | None
) -> exports.Selection:
    reads.require_search(store, search_id)
    return exports.select(store, search_id, device, exports.parse_ids(ids))
