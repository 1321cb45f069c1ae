"""What every request passes through before any route: the body's size limit.

Pure ASGI middleware (not BaseHTTPMiddleware): it wraps `receive` and nothing is buffered.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1_000_000
"""Bytes of request body the endpoint reads at most (a status paragraph is 2,000 characters)."""
TOO_LARGE = f"The body is larger than {MAX_BODY // 1_000_000} MB."


class BodyLimit:
    """Refuses a body over `limit` bytes with 413: at once when its Content-Length says so, and
    otherwise (chunked, no length) as soon as the bytes counted while it streams pass the limit.

    Every route reads its body through `receive`, FastAPI's body parameters and `await
    request.body()` alike (Slack, PagerDuty, the codec), so all are covered. The HTTPException raised
    from `receive` reaches the route's caller (FastAPI re-raises it), and the app's handler answers
    it as every other refusal, `{"detail": ...}`, counted by the metrics."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await JSONResponse({"detail": TOO_LARGE}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)
