"""Request body limit: a pure ASGI middleware answering 413 before the body is parsed."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web import error_response

#: How much of a too-large body is still read (and dropped) so that the client sees the 413
#: rather than a reset connection; beyond this the connection is simply answered and closed.
_DRAIN_FACTOR = 16


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether or not they declare a
    Content-Length (chunked bodies are counted as they arrive)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(int(declared), receive, scope, send)
            return
        body, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(size, receive if more else None, scope, send)
                return
            body.append(chunk)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(body)}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, size: int, receive: Receive | None, scope: Scope, send: Send) -> None:
        drained = 0
        while receive is not None and drained <= _DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            drained += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        detail = f"request body of {size}+ bytes; this agent takes at most {self.max_bytes}"
        await error_response(413, detail)(scope, receive or _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
