"""``GET /searches/{id}/plots/{name}.png`` and ``.html``: a search's plots of one device."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from lts.controller import plots
from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StoreDep
from lts.controller.api.errors import responses
from lts.controller.store import Store
from lts.shared.errors import NotFoundError
from lts.shared.objectives import get as objective
from lts.shared.web import HTML_HEADERS

router = APIRouter(prefix="/searches", tags=["plots"])

DeviceQuery = Annotated[
    str | None,
    Query(min_length=1, description="agent or device name; needed when the search ran on "
          "several devices"),
]  # fmt: skip


def _render(store: Store, search_id: int, name: str, device: str | None, kind: str) -> bytes:
    reads.require_search(store, search_id)
    objectives = reads.load_config(store, search_id).objectives
    slices = [n for n in objectives if objective(n).measured]
    names = [*slices, *plots.PNG_PLOTS] if kind == "png" else list(plots.HTML_PLOTS)
    if name not in names:
        raise NotFoundError(f"no plot {name}.{kind}; choose from "
                            f"{', '.join(f'{n}.{kind}' for n in names)}")  # fmt: skip
    data = plots.one_device(plots.plot_data(store, search_id, device), device)
    return plots.render(data, name)


@router.get(
    "/{search_id}/plots/{name}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **responses(401, 404, 422)},
)
def read_plot_png(
    search_id: SearchId, name: str, store: StoreDep, device: DeviceQuery = None
) -> Response:
    """One measured objective of the search (``latency``, ``decode_latency``, ``memory``):
    decoder parameters against it, with every candidate, the Pareto frontier and the
    layer-scaled baselines; ``hypervolume``: the hypervolume after each iteration."""
    body = _render(store, search_id, name, device, "png")
    return Response(body, media_type="image/png")


@router.get(
    "/{search_id}/plots/{name}.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **responses(401, 404, 422)},
)
def read_plot_html(
    search_id: SearchId, name: str, store: StoreDep, device: DeviceQuery = None
) -> Response:
    """``frontier3d``: the frontier in 3-D (decoder parameters and the first two measured
    objectives; a third colours the members) as an
    interactive page with plotly.js embedded (about 5 MB; it opens offline)."""
    body = _render(store, search_id, name, device, "html")
    return Response(body, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)
