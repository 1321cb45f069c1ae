"""What every request and answer passes through, around the routes: the body's size limit, and the
headers that tell a browser what the console and the API may do.

Pure ASGI middleware (not BaseHTTPMiddleware): it wraps `receive` and `send`, nothing is buffered.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1_000_000
"""Bytes of request body the endpoint reads at most (a status paragraph is 2,000 characters)."""
TOO_LARGE = f"The body is larger than {MAX_BODY // 1_000_000} MB."

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The console and /docs run only the endpoint's own files (no inline script or style, no CDN):
a script that got in some other way could read the admin's token in the tab's session storage."""
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


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


class SecurityHeaders:
    """SECURITY_HEADERS on every answer: the console's, the API's, its refusals (401, 404, 413, 422)
    and the CORS answers of the codec (the outermost middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
