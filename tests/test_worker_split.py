"""HANDOVER_WORKER_RUNS: the worker's workflows and activities apart, in two workers on one task
queue, hand over as one worker does; each polls only for its own part."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from handover.models import Outcome, Phase
from handover.settings import Settings, SettingsError
from tests.conftest import skipping, start_time_skipping
from tests.humans import planned_handover
from worker import ACTIVITY_THREADS, build_worker


async def pollers(client, task_queue: str, kind: TaskQueueType.ValueType) -> set[str]:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
    )
    return {
        poller.identity for poller in (await client.workflow_service.describe_task_queue(request)).pollers
    }


async def test_workflows_and_activities_in_two_workers_hand_over_as_one(settings: Settings, fresh_sandbox):
    env = await start_time_skipping()
    try:
        task_queue = f"split-{uuid.uuid4()}"
        settings = skipping(settings).model_copy(update={"task_queue": task_queue})  # (see skipping)
        workflows = settings.model_copy(update={"worker_runs": "workflows"})
        activities = settings.model_copy(update={"worker_runs": "activities"})
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with (
                build_worker(env.client, workflows, executor),
                build_worker(env.client, activities, executor),
            ):
                report = await planned_handover(env.client, task_queue)
    finally:
        await env.shutdown()
    assert report.phase is Phase.COMPLETED
    items = [*report.incidents, *report.tickets, *report.rollouts]
    assert items and all(item.outcome is Outcome.HANDED_OVER for item in items), items


async def test_each_polls_for_its_own_part_only(settings: Settings, dev_server_env):
    client = dev_server_env.client
    task_queue = f"split-{uuid.uuid4()}"
    settings = settings.model_copy(update={"task_queue": task_queue})
    identities = {runs: f"{runs}-{uuid.uuid4().hex[:8]}" for runs in ("workflows", "activities")}
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        built = [
            build_worker(
                client, settings.model_copy(update={"worker_runs": runs}), executor, identity=identity
            )
            for runs, identity in identities.items()
        ]
        async with built[0], built[1]:
            for _ in range(50):  # (each polls within moments of starting)
                workflow = await pollers(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
                activity = await pollers(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
                if workflow and activity:
                    break
                await asyncio.sleep(0.1)
    assert (workflow, activity) == ({identities["workflows"]}, {identities["activities"]})


def test_a_worker_that_would_run_nothing_is_refused_at_start(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HANDOVER_WORKER_RUNS", "queries")
    with pytest.raises(SettingsError, match="HANDOVER_WORKER_RUNS"):
        Settings.load()
