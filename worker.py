"""The worker: runs the handover workflow and its activities on task queue `oncall-handover`.

    python worker.py            (make run starts it for you)
    HANDOVER_WORKER_RUNS=workflows python worker.py, and =activities: the two apart, in two
    processes on one task queue (docs/operations.md, "Workflows and activities apart")

Configuration comes from the environment; see docs/configuration.md.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

if __name__ == "__main__":
    # Installed for starter.py's tables, rich (and pygments) would be loaded here for nothing: by
    # structlog, to draw tracebacks (they print plainly without), and by httpx, for its command
    # line. 90 modules and 4 MB of the worker's idle weight (docs/bench.md, "What the worker holds").
    for unused in ("rich", "pygments"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]

import structlog  # noqa: E402
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities import all_activities  # noqa: E402
from handover import compiled, logs, tracing, visibility  # noqa: E402
from handover.runner import WorkflowRunner  # noqa: E402
from handover.settings import Settings, SettingsError  # noqa: E402
from handover.temporal import connect_or_exit, run_or_leave  # noqa: E402
from workflows.autopilot import AutopilotWorkflow  # noqa: E402
from workflows.handover import HandoverWorkflow  # noqa: E402
from workflows.plan import PlanWorkflow  # noqa: E402

log = structlog.get_logger("worker")

ACTIVITY_THREADS = 32
"""The API clients are synchronous: activities run on this many threads."""


def build_worker(client, settings: Settings, executor: ThreadPoolExecutor, **options: Any) -> Worker:
    """The worker of HANDOVER_WORKER_RUNS: the handover's workflows, its activities, or both."""
    compiled.keep("workflows")  # (each handover's sandbox re-imports them: compiled once, not per run)
    runs_workflows = settings.worker_runs in ("all", "workflows")
    runs_activities = settings.worker_runs in ("all", "activities")
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[HandoverWorkflow, PlanWorkflow, AutopilotWorkflow] if runs_workflows else [],
        activities=all_activities(settings) if runs_activities else [],
        activity_executor=executor if runs_activities else None,
        workflow_runner=WorkflowRunner(),
        max_concurrent_activities=ACTIVITY_THREADS,
        graceful_shutdown_timeout=timedelta(seconds=10),
        **options,
    )


async def _search_attributes_ready(client) -> bool:
    try:
        absent = await visibility.missing(client)
    except RPCError as error:  # a cluster that does not let us list them (e.g. a restricted API key)
        log.warning("cannot check the search attributes", reason=error.message, needed=visibility.names())
        return True
    if absent:
        log.error(
            "cannot start: the namespace lacks search attributes every handover sets",
            missing=absent,
            fix=visibility.register_commands(absent),
        )
        return False
    return True


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The Temporal SDK's Prometheus exporter on HANDOVER_METRICS_ADDRESS (docs/operations.md, "Metrics"):
    the SDK's worker, workflow and activity metrics and the handovers' own counters."""
    if not settings.metrics_address:
        return None
    prometheus = PrometheusConfig(bind_address=settings.metrics_address, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


def quieten_garbage_collection() -> None:
    """Shorter collection pauses: what is loaded at start (the SDK, pydantic, the workflow
    sandbox's modules) lives as long as the process, so full collections stop walking it. Under
    load they paused the event loop for up to 200 ms (make bench, P3), holding acknowledgements
    back. (Collecting less often helped latency more but cost 25 MB of RSS with 100 handovers.)"""
    gc.collect()
    gc.freeze()


async def main() -> None:
    logs.configure()
    try:
        settings = Settings.load()
    except SettingsError as error:
        log.error("cannot start", reason=str(error))
        raise SystemExit(2) from None
    logs.hide(settings)
    tracing.configure("worker")  # (only with OTEL_EXPORTER_OTLP_ENDPOINT set)
    client = await connect_or_exit(settings, runtime=metrics_runtime(settings))
    if not await _search_attributes_ready(client):
        raise SystemExit(2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        quieten_garbage_collection()
        log.info(
            "worker started",
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            runs=settings.worker_runs,
            sandbox=settings.uses_sandbox,
            metrics=f"http://{settings.metrics_address}/metrics" if settings.metrics_address else None,
            traces="OTLP" if tracing.on() else "off",
        )
        async with worker:
            await stop.wait()
            log.info("worker stopping: finishing activities in flight")
    tracing.shutdown()


if __name__ == "__main__":
    run_or_leave(main())
