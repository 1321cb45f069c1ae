"""Traces: one trace from the HTTP acknowledgement to the PagerDuty bulk update it led to, through
the endpoint, the Update, the workflow, the activity and the outbound call (handover/tracing.py).

The real endpoint over HTTP, the dev server, a worker with the real activities against the
sandbox; only the exporter is in memory. The acknowledgement's batch is scheduled later, from the
workflow's own loop (acknowledgements are gathered): its trace is carried over, not inherited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from endpoint.app import create_app
from handover import tracing
from handover.models import Outcome
from tests.conftest import TOKENS, EndpointHandle, endpoint_settings, token_store, worker
from tests.endpoint.test_api import ID, STATUS, start
from tests.humans import INCOMING, OUTGOING, inventory, wait_for
from tests.serving import serving

ACK_ROUTE = "POST /handovers/{handover_id}/incidents/{incident_id}/ack"


@pytest.fixture
async def traced(dev_server_env, settings, activity_executor) -> AsyncIterator[tuple[EndpointHandle, list]]:
    """The endpoint and a worker, tracing into memory; the exporter's finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure("test", provider)
    try:
        client = Client(**{**dev_server_env.client.config(), "interceptors": tracing.interceptors()})
        task_queue = "traced-handovers"
        async with worker(client, task_queue, settings, activity_executor):
            app = create_app(
                endpoint_settings(settings, client, task_queue), client=client, tokens=token_store()
            )
            async with serving(app) as url:
                yield EndpointHandle(url=url, client=client, task_queue=task_queue), exporter
                await client.get_workflow_handle(ID).terminate("test ended")
    finally:
        tracing.reset()
        provider.shutdown()


def chain(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> list[str]:
    """The span's name and its ancestors', up to the trace's root."""
    names = [span.name]
    while span.parent is not None and span.parent.span_id in spans:
        span = spans[span.parent.span_id]
        names.append(span.name)
    return names


async def test_one_trace_from_an_http_acknowledgement_to_the_pagerduty_bulk_update(
    traced, fresh_sandbox, settings
):
    endpoint, exporter = traced
    await start(endpoint)
    listed = await inventory(endpoint.client, ID)
    incident = next(i.incident.id for i in listed.incidents if i.outcome is Outcome.PENDING)
    async with endpoint.http(OUTGOING) as alice:
        answer = await alice.post(f"/handovers/{ID}/incidents/{incident}/status", json=STATUS)
        assert answer.status_code == 200, answer.text
    await wait_for(
        endpoint.client, ID, lambda p: next(i for i in p.incidents if i.incident.id == incident).reassigned
    )
    async with endpoint.http(INCOMING) as bob:
        answer = await bob.post(f"/handovers/{ID}/incidents/{incident}/ack")
        assert answer.status_code == 200, answer.text
    await wait_for(
        endpoint.client,
        ID,
        lambda p: next(i for i in p.incidents if i.incident.id == incident).outcome is Outcome.HANDED_OVER,
    )

    spans = exporter.get_finished_spans()
    acks = [s for s in spans if s.name == ACK_ROUTE and s.kind.name == "SERVER"]
    assert len(acks) == 1, sorted({s.name for s in spans})
    trace_id = acks[0].context.trace_id
    in_trace = {s.context.span_id: s for s in spans if s.context.trace_id == trace_id}
    # (The sandbox serves PagerDuty under /pagerduty.)
    updates = [s for s in in_trace.values() if s.name == "PagerDuty PUT /pagerduty/incidents"]
    assert updates, f"the ack's trace has no PagerDuty update: {sorted(s.name for s in in_trace.values())}"
    assert chain(updates[0], in_trace) == [
        "PagerDuty PUT /pagerduty/incidents",
        "RunActivity:acknowledge_incidents",
        "StartActivity:acknowledge_incidents",
        "StartWorkflowUpdate:acknowledge_incident",
        ACK_ROUTE,
    ]
    assert updates[0].attributes["http.response.status_code"] == 200
    assert "HandleUpdate:acknowledge_incident" in {s.name for s in in_trace.values()}
    status_trace = {
        s.context.trace_id
        for s in spans
        if s.name == "POST /handovers/{handover_id}/incidents/{incident_id}/status"
    }
    notes = [s for s in spans if s.name == "PagerDuty POST /pagerduty/incidents/{id}/notes"]
    assert notes and {s.context.trace_id for s in notes} <= status_trace, (
        "the note continues the status' trace"
    )

    # Nothing a person wrote, and no secret, is in a span.
    told = json.dumps(
        [{**s.attributes, "events": [dict(e.attributes or {}) for e in s.events]} for s in spans]
    )
    secrets = [*TOKENS.values(), *STATUS.values()]
    for settings_secret in ("pagerduty_api_token", "slack_bot_token", "platform_api_token"):
        secrets.append(getattr(settings, settings_secret).get_secret_value())
    assert not [secret for secret in secrets if secret in told]
