"""`python -m handover.probe`, the worker's liveness probe: it passes while this host's worker
polls its task queue, and fails with a sentence for a queue nobody polls (against the dev server)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.worker import Worker

from handover.probe import polling
from workflows.plan import PlanWorkflow


async def polled(client, task_queue: str, host: str, runs: str = "all") -> str | None:
    """The probe's answer once the worker's first polls have reached the server (within moments)."""
    for _ in range(50):
        if await polling(client, task_queue, host, runs=runs) is None:
            break
        await asyncio.sleep(0.1)
    return await polling(client, task_queue, host, runs=runs)


async def test_the_probe_passes_while_this_hosts_worker_polls_and_fails_otherwise(dev_server):
    client, task_queue = dev_server
    host = socket.gethostname()
    assert await polled(client, task_queue, host) is None
    nobody = f"nobody-{uuid.uuid4()}"
    assert "no worker on" in await polling(client, nobody, host)
    assert "no worker on elsewhere" in await polling(client, task_queue, "elsewhere")
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert "in the last minute" in await polling(client, task_queue, host, now=later), (
        "a stale poll is no poll"
    )


async def test_a_worker_running_only_the_workflows_passes_as_such_and_not_as_a_whole_one(dev_server):
    client, _ = dev_server
    task_queue, host = f"workflows-only-{uuid.uuid4()}", socket.gethostname()
    async with Worker(client, task_queue=task_queue, workflows=[PlanWorkflow]):
        assert await polled(client, task_queue, host, runs="workflows") is None
        assert "for activity tasks" in await polling(client, task_queue, host, runs="all")
        assert "for activity tasks" in await polling(client, task_queue, host, runs="activities")
