"""Temporal's own floor for `make bench`: a bare workflow and its bare worker.

    python scripts/floor.py --address 127.0.0.1:7233 --task-queue bench-floor --ready FILE

The workflow waits until told it is done and answers an update at once; the worker runs it and
nothing else (the same SDK and the same pydantic data converter as `worker.py`, no activities).
The bench times the update's round trip next to the service's acknowledgements (P3) and reads this
worker's memory next to the service worker's (P4): what any Temporal workflow costs on the same
dev server and the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel


class BareAck(BaseModel):
    """The same shape as an incident's acknowledgement: who, and which one."""

    actor: str
    incident_id: str


class BareAccepted(BaseModel):
    incident_id: str


@workflow.defn(name="BenchFloor")
class BareWorkflow:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    def ack(self, given: BareAck) -> BareAccepted:
        return BareAccepted(incident_id=given.incident_id)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="the Temporal server, host:port")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--ready", type=Path, required=True, help="written once the worker polls")
    parser.add_argument("--metrics", help="host:port for the SDK's Prometheus metrics (as worker.py's)")
    args = parser.parse_args()
    runtime = None
    if args.metrics:
        prometheus = PrometheusConfig(bind_address=args.metrics, durations_as_seconds=True)
        runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    client = await Client.connect(args.address, data_converter=pydantic_data_converter, runtime=runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=args.task_queue, workflows=[BareWorkflow]):
        args.ready.write_text("polling\n")
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
