"""Traces (OpenTelemetry): endpoint → Update → workflow → activity → the HTTP call to PagerDuty,
Slack or the platform, in one trace. Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; then exported by OTLP over HTTP, configured by the
standard OTEL_* variables (docs/operations.md, "Traces").

Temporal's own interceptor (temporalio.contrib.opentelemetry) carries the context through the
client, the workflow and the activities. Two things are ours:

- An Update or Signal is a person's request: its workflow handler runs in the caller's trace
  (Temporal's default puts it in the workflow's, with a link). The workflow remembers that context
  per item (`here`), and the batch activity the input leads to continues it (`within`): an
  acknowledgement's trace ends at the PagerDuty bulk update that wrote it. A batch gathered from
  several inputs continues the first one's trace.
- The outbound call is one CLIENT span per request (`outbound`): the method, the host, the path
  with its ids masked, the status code. Never a header, a query string or a body.

`here` and `within` are safe in workflow code: the context they read comes from the Update's
headers, which are in history, so a replay sees the same.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import opentelemetry.context
import opentelemetry.trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

SERVICE = "oncall-handover"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
UNTRACED_ROUTES = "healthz,metrics,static"
"""FastAPI routes without a span: probes, scrapes and the console's files tell nothing."""

PROPAGATOR: TextMapPropagator = TraceContextTextMapPropagator()

_tracer: opentelemetry.trace.Tracer | None = None
"""Set by `configure`; None: tracing is off and nothing below makes a span."""
_provider: TracerProvider | None = None


def wanted() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(process: str, provider: TracerProvider | None = None) -> TracerProvider | None:
    """Turn tracing on for this process (`worker`, `endpoint`): with `provider` (tests), or with
    an OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set. None, and nothing loaded, otherwise."""
    global _tracer, _provider
    if provider is None:
        if not wanted():
            return None
        provider = _otlp_provider(process)
        opentelemetry.trace.set_tracer_provider(provider)
    _tracer, _provider = provider.get_tracer(SERVICE), provider
    return provider


def reset() -> None:
    """Tracing off again (tests)."""
    global _tracer, _provider
    _tracer = _provider = None


def on() -> bool:
    return _tracer is not None


def _otlp_provider(process: str) -> TracerProvider:
    # (The SDK and the exporter are imported only when traces are wanted: a worker without them
    # does not hold them.)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or f"{SERVICE}-{process}"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def shutdown() -> None:
    """Flush what is still buffered (a process that stops)."""
    if _provider is not None:
        _provider.shutdown()


# --- Temporal: the interceptor, with a person's input in the caller's trace ---------------------


def interceptors() -> list[Any]:
    """For Client.connect: Temporal's tracing interceptor (ours), or none while tracing is off."""
    if _tracer is None:
        return []
    from handover.temporal_tracing import HandoverTracing

    return [HandoverTracing(_tracer)]


def here() -> dict[str, str]:
    """The current trace context, as a W3C `traceparent` carrier; empty when there is none.
    Workflow-safe (see the module's docstring)."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier


@contextlib.contextmanager
def within(carrier: dict[str, str] | None) -> Iterator[None]:
    """Run the block in the trace `carrier` names (from `here`); as it is when there is none.
    Workflow-safe: Temporal's interceptor reads this context when it schedules an activity."""
    if not carrier:
        yield
        return
    # (Extracted into the current context: it keeps Temporal's interceptor, which it holds.)
    context = PROPAGATOR.extract(carrier, context=opentelemetry.context.get_current())
    token = opentelemetry.context.attach(context)
    try:
        yield
    finally:
        opentelemetry.context.detach(token)


# --- outbound HTTP ---------------------------------------------------------------------------------

_ID = re.compile(r"^(?=.*\d)[A-Za-z0-9_.@+-]{4,}$|@")


def path_template(path: str) -> str:
    """`/incidents/Q1DISK7/notes` → `/incidents/{id}/notes`: a path without its ids and emails."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join("{id}" if part and _ID.search(part) else part for part in parts)


@contextlib.contextmanager
def outbound(api: str, method: str, url: str, headers: dict[str, str] | None = None) -> Iterator[Any]:
    """One CLIENT span for a request to `api` (PagerDuty, Slack, platform), its `traceparent` put in
    `headers`; `answered(span, status)` once it is. An error is told by its type only (its message
    may quote a body). A no-op while tracing is off."""
    if _tracer is None:
        yield None
        return
    parts = urlsplit(url)
    path = path_template(parts.path)
    with _tracer.start_as_current_span(
        f"{api} {method} {path}",
        kind=opentelemetry.trace.SpanKind.CLIENT,
        attributes={
            "http.request.method": method,
            "server.address": parts.hostname or "",
            "url.template": path,
            "handover.api": api,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if headers is not None:
            PROPAGATOR.inject(headers)
        try:
            yield span
        except BaseException as error:
            span.set_status(opentelemetry.trace.StatusCode.ERROR, type(error).__name__)
            span.set_attribute("error.type", type(error).__name__)
            raise


def answered(span: Any, status: int) -> None:
    if span is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_status(opentelemetry.trace.StatusCode.ERROR, str(status))


def instrument(app: FastAPI) -> None:
    """The endpoint's SERVER spans (FastAPI's instrumentation), when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=UNTRACED_ROUTES,
        exclude_spans=["receive", "send"],  # (one span per request, not one per ASGI message)
    )
