"""Metrics: the worker's Prometheus exporter (Temporal SDK metrics and the handovers' own
counters) and the endpoint's request metrics, under the names docs/operations.md documents."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from handover.models import Phase
from handover.settings import Settings
from tests.conftest import skipping, start_time_skipping
from tests.humans import planned_handover
from tests.reliability.stack import free_port
from worker import ACTIVITY_THREADS, build_worker, metrics_runtime

WORKER_METRICS = [
    "temporal_workflow_completed",
    "temporal_workflow_task_execution_latency",
    "temporal_activity_execution_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_worker_task_slots_available",
    "handover_ended",
    "handover_items",
]


def samples(text: str, name: str) -> dict[str, float]:
    """`name`'s samples: labels -> value."""
    found = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_the_worker_exports_sdk_and_handover_metrics(settings: Settings, fresh_sandbox):
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(settings.model_copy(update={"metrics_address": address}))
    assert runtime is not None and metrics_runtime(settings) is None  # off unless configured
    env = await start_time_skipping(runtime)
    try:
        task_queue = f"metrics-{uuid.uuid4()}"
        settings = skipping(settings).model_copy(update={"task_queue": task_queue})  # (see skipping)
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(env.client, settings, executor):  # as worker.py builds it
                report = await planned_handover(env.client, task_queue)
                assert report.phase is Phase.COMPLETED
                async with httpx.AsyncClient() as http:
                    text = (await http.get(f"http://{address}/metrics")).text
    finally:
        await env.shutdown()

    for name in WORKER_METRICS:
        assert re.search(rf"^{name}(_bucket|_sum|_count)?[{{ ]", text, re.M), f"{name} is not exported"
    assert sum(samples(text, "temporal_workflow_completed").values()) >= 1
    ended = samples(text, "handover_ended")
    assert any('phase="completed"' in labels and 'variant="planned"' in labels for labels in ended)
    handed = {
        labels: value
        for labels, value in samples(text, "handover_items").items()
        if 'outcome="handed_over"' in labels
    }
    assert sum(value for labels, value in handed.items() if 'kind="incident"' in labels) == len(
        report.incidents
    )


async def test_the_endpoint_counts_requests_by_route_and_status(endpoint):
    async with endpoint.http() as http:
        await http.get("/healthz")
        await http.get("/handovers/handover-nobody@novalien.com")
        text = (await http.get("/metrics")).text
    requests = samples(text, "handover_endpoint_requests_total")
    assert any('route="/healthz"' in labels and 'status="200"' in labels for labels in requests)
    assert any(
        'route="/handovers/{handover_id}"' in labels and 'status="401"' in labels for labels in requests
    )
    assert samples(text, "handover_endpoint_request_seconds_count")
