"""Tracing's switch and its export (handover/tracing.py): off, and nothing of OpenTelemetry's SDK
loaded, without OTEL_EXPORTER_OTLP_ENDPOINT; with it, spans reach an OTLP/HTTP collector (here a
local one that records what it is sent). Each in a process of its own: the tracer provider is
global, as in the worker and the endpoint. The whole trace is in tests/endpoint/test_traces.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from handover.tracing import path_template


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_off_without_an_otlp_endpoint_and_nothing_of_the_sdk_is_loaded():
    done = run(
        "import sys, worker, endpoint.app\n"
        "from handover import tracing\n"
        "assert tracing.configure('worker') is None and tracing.interceptors() == []\n"
        "with tracing.outbound('PagerDuty', 'GET', 'https://api.pagerduty.com/incidents') as span:\n"
        "    assert span is None\n"
        "sdk = ('opentelemetry.sdk', 'opentelemetry.exporter')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(sdk))\n"
        "assert not loaded, loaded\n"
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def collector() -> Iterator[tuple[str, list]]:
    """An OTLP/HTTP collector on a free port: (its URL, what it was sent: (path, content type, body))."""
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()


def test_spans_are_exported_by_otlp_when_the_endpoint_is_set(collector):
    url, received = collector
    done = run(
        "from handover import tracing\n"
        "assert tracing.configure('worker') is not None and tracing.interceptors()\n"
        "headers, url = {}, 'https://api.pagerduty.com/incidents/Q1ABC2?limit=5'\n"
        "with tracing.outbound('PagerDuty', 'PUT', url, headers) as s:\n"
        "    tracing.answered(s, 200)\n"
        "assert headers['traceparent'].startswith('00-'), headers\n"
        "tracing.shutdown()\n",
        OTEL_EXPORTER_OTLP_ENDPOINT=url,
    )
    assert done.returncode == 0, done.stderr
    assert [(path, kind) for path, kind, _ in received] == [("/v1/traces", "application/x-protobuf")]
    export = ExportTraceServiceRequest.FromString(received[0][2])
    (resource,) = export.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    assert service == "oncall-handover-worker"
    (span,) = [span for scope in resource.scope_spans for span in scope.spans]
    assert span.name == "PagerDuty PUT /incidents/{id}"
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["server.address"].string_value == "api.pagerduty.com"
    assert "Q1ABC2" not in str(export) and "limit" not in str(export), "no id, no query string"


@pytest.mark.parametrize(
    "path, template",
    [
        ("/incidents", "/incidents"),
        ("/incidents/Q1DISK7/notes", "/incidents/{id}/notes"),
        ("/pagerduty/users/PABC123", "/pagerduty/users/{id}"),
        ("/platform/v1/tickets/SUP-4821/handover", "/platform/v1/tickets/{id}/handover"),
        ("/platform/v1/admins/alice@novalien.com", "/platform/v1/admins/{id}"),
        ("/slack/api/chat.postMessage", "/slack/api/chat.postMessage"),
        ("/incidents?statuses[]=triggered", "/incidents"),
    ],
)
def test_a_path_is_told_without_its_ids(path, template):
    assert path_template(path) == template
