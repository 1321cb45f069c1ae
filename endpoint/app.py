"""The endpoint's ASGI app: one router per concern, errors mapped once, metrics on every route.

python -m endpoint            (make run starts it on :8080)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError

from endpoint import autopilots, codec, console, docs, events, guards, handovers, slack
from endpoint.auth import TokenStore
from handover import tracing
from handover.access import Access
from handover.codec import EncryptionCodec, UndecryptablePayload
from handover.errors import HandoverError, invalid_fields
from handover.models import ITEM_KINDS
from handover.settings import Settings
from handover.temporal import connect

FORMS = {
    "handover_id": "a handover id (handover-<outgoing email>) or the outgoing admin's email",
    **{
        f"{kind.kind}_id": f"{'an' if kind.noun[0] in 'aeiou' else 'a'} {kind.noun} id "
        "(letters, digits and . _ : - only)"
        for kind in ITEM_KINDS
    },
}
"""What each path parameter must be, said instead of its pattern."""


def _sentence(errors: list) -> str:
    """pydantic's errors, as one sentence a person can act on."""
    unreadable = [problem for problem in errors if problem.get("type") == "json_invalid"]
    if unreadable:
        syntax = unreadable[0].get("ctx", {}).get("error", "a syntax error")
        return f"Invalid input: the body is not valid JSON ({syntax})."
    located = invalid_fields(errors, FORMS, skip=("body", "path", "query", "header"))
    return f"Invalid input: {located}."


class Metrics:
    """Request counts and latencies per route (Prometheus), in a registry of the app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "handover_endpoint_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "handover_endpoint_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class Measured:
    """Counts and times every HTTP request by its route's template (a plain ASGI middleware:
    Starlette's BaseHTTPMiddleware runs each request through a task group and memory streams,
    which with the thread-pool hops of plain-function dependencies cost half the endpoint's CPU under
    `make bench`'s acknowledgements)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # (what ServerErrorMiddleware answers if the app raises before it starts a response)

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")  # (the router sets it)
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)


class Endpoint(FastAPI):
    """FastAPI, with the security headers outside even Starlette's ServerErrorMiddleware (which
    sits outside every middleware added): a 500 carries them too. (Around the app rather than in
    its middleware stack, which OpenTelemetry's instrumentation rebuilds as Starlette makes it.)"""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._secured = guards.SecurityHeaders(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._secured(scope, receive, send)


def create_app(settings: Settings, client: Client | None = None, tokens: TokenStore | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.client is None:
            app.state.client = await connect(settings)
        yield

    app = Endpoint(
        title="On-call handover endpoint",
        version="1.0",
        description=(
            "Starts handovers (service token), takes every person's input (their own token: the actor is "
            "who the token says), and relays Slack and PagerDuty events to the handover workflow."
        ),
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs and /redoc load their scripts from a CDN: endpoint/docs.py instead
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.client = client
    app.state.tokens = tokens if tokens is not None else TokenStore.load(settings.endpoint_tokens_file)
    app.state.seen_webhooks = events.Seen()
    app.state.slack = slack.SlackWeb(settings)
    app.state.pressing = set()  # Slack presses being given (endpoint/events.py)
    app.state.access = Access(settings.observers)
    metrics = app.state.metrics = Metrics()
    app.add_middleware(guards.BodyLimit)  # inside Measured: its 413s are counted
    tracing.instrument(app)  # (a span per request, when tracing is on)

    app.add_middleware(Measured, metrics=metrics)

    @app.exception_handler(HandoverError)
    async def handover_error(request: Request, error: HandoverError) -> JSONResponse:
        return JSONResponse(status_code=error.http_status, content={"detail": error.message})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _sentence(list(error.errors()))})

    @app.exception_handler(ValidationError)
    async def invalid_model(request: Request, error: ValidationError) -> JSONResponse:
        # Our own models, built from a well-formed body (e.g. outgoing == incoming).
        return JSONResponse(status_code=422, content={"detail": _sentence(list(error.errors()))})

    @app.exception_handler(RPCError)
    async def temporal_down(request: Request, error: RPCError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": f"Temporal at {settings.temporal_address} is unavailable: try again shortly."},
        )

    @app.exception_handler(UndecryptablePayload)
    async def undecryptable(request: Request, error: UndecryptablePayload) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"The endpoint is misconfigured: {error}."})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=error.status_code, content={"detail": error.detail})

    @app.get("/healthz", tags=["operations"], summary="Liveness: the endpoint answers")
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(handovers.router)
    app.include_router(autopilots.router)
    app.include_router(events.router)
    app.include_router(console.router)
    app.include_router(docs.router)
    keyring = settings.payload_keyring()
    if keyring:
        app.state.codec = EncryptionCodec(keyring)
        app.state.codec_sessions = codec.Sessions(keyring)
        app.include_router(codec.router)
        if settings.codec_cors_origins:
            app.add_middleware(codec.CodecCors, origins=settings.codec_cors_origins)
    else:
        app.include_router(codec.off)
    return app


STATIC = Path(__file__).parent / "static"
