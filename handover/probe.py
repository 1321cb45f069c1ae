"""`python -m handover.probe`: is this machine's worker polling its task queue? For a container's
liveness and readiness probe (deploy/kubernetes/): a worker process that is up but has stopped
polling (Temporal out of reach, the poller stuck) is not alive in any way that matters.

It asks Temporal who polled the task queue lately (DescribeTaskQueue) and looks for a poller of
this host (the SDK's identity is `<pid>@<hostname>`; a pod's hostname is its name), for the tasks
the worker runs (HANDOVER_WORKER_RUNS: workflow tasks, activity tasks, or both). Exit 0 and one
line when it polls, 1 and why when it does not.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from handover.settings import Settings
from handover.temporal import connect

RECENT = timedelta(minutes=1)
"""A poller seen this recently is polling (a long poll lasts up to a minute)."""
KINDS = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
POLLS = {"all": ("workflow", "activity"), "workflows": ("workflow",), "activities": ("activity",)}
"""The tasks a worker polls for, by its HANDOVER_WORKER_RUNS."""


async def polling(
    client: Client, task_queue: str, host: str, now: datetime | None = None, runs: str = "all"
) -> str | None:
    """None if a worker of `host` polled `task_queue` lately for each kind of task it takes (`runs`:
    its HANDOVER_WORKER_RUNS); else what is missing, in a sentence."""
    now = now or datetime.now(UTC)
    for name in POLLS[runs]:
        kind = KINDS[name]
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
            ),
            timeout=timedelta(seconds=5),
        )
        mine = [
            poller
            for poller in answer.pollers
            if poller.identity.endswith(f"@{host}")
            and now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= RECENT
        ]
        if not mine:
            return f"no worker on {host} has polled {task_queue} for {name} tasks in the last minute"
    return None


async def main() -> int:
    settings = Settings.load_or_exit()
    host = socket.gethostname()
    try:
        client = await connect(settings)
        missing = await polling(client, settings.task_queue, host, runs=settings.worker_runs)
    except (ConnectionError, RuntimeError) as error:
        print(f"not polling: cannot reach Temporal at {settings.temporal_address} ({error})")
        return 1
    if missing is not None:
        print(f"not polling: {missing}")
        return 1
    print(f"polling: a worker on {host} polls {settings.task_queue}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
