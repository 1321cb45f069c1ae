"""Two workers on one task queue; the one in the middle of a handover's writes is killed with SIGKILL,
and the other finishes the handover.

Real processes (tests/reliability/stack.py): the Temporal dev server and two `python worker.py`. The
sandbox writes the first incident note and holds its answer back; the worker running that activity is
killed meanwhile. Temporal misses its heartbeat (20 s, workflows/handover.py) and runs the activity
again on the other worker, which must not write the note again.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import WorkflowHandle

from tests.reliability.runs import Run, planned, run_handover, slow_once, until_fired
from tests.reliability.stack import Stack, identity, running_stack, until_polling

HELD_ACTIVITY = "hand_over_incidents"
HELD_WRITE = slow_once("pagerduty", "POST", "/incidents/*/notes")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, workers=2, endpoint=False) as stack:
        yield stack


@dataclass
class Failover:
    """What the kill hit."""

    workflow_id: str = ""
    killed: subprocess.Popen | None = None
    survivor: subprocess.Popen | None = None
    activity_id: str = ""
    """The activity the killed worker held."""
    history_at_kill: int = 0
    """Events in the history once the killed worker was gone."""


async def test_the_other_worker_finishes_the_handover_when_one_is_killed_mid_activity(two_workers: Stack):
    stack = two_workers
    await until_polling(stack)
    failover = Failover()

    async def kill_the_worker_holding_the_write(stack: Stack, handle: WorkflowHandle, run: Run) -> None:
        failover.workflow_id = handle.id
        await until_fired(stack)
        description = await handle.describe()
        holders = {
            pending.last_worker_identity: pending.activity_id
            for pending in description.raw_description.pending_activities
            if pending.activity_type.name == HELD_ACTIVITY
        }
        by_identity = {identity(worker): worker for worker in stack.workers}
        assert len(holders) == 1 and set(holders) <= set(by_identity), (holders, list(by_identity))
        [(holder, failover.activity_id)] = holders.items()
        failover.killed = by_identity.pop(holder)
        [failover.survivor] = by_identity.values()
        assert stack.kill_worker(failover.killed)
        assert failover.survivor.poll() is None, "the other worker died too"
        # A completion the killed worker sent just before it died may still be on its way to the
        # server: let it land before counting what came after the kill.
        await asyncio.sleep(1)
        description = await handle.describe()
        failover.history_at_kill = description.raw_description.workflow_execution_info.history_length

    run = await run_handover(
        stack,
        "two workers on one task queue: the one holding a write killed with SIGKILL",
        "failover-two-workers",
        planned(),
        kill_the_worker_holding_the_write,
        faults=[HELD_WRITE],
        timeout=180,
    )

    run.assert_clean()  # completed, every item handed over, no write made twice, no input lost
    assert failover.killed is not None and failover.survivor is not None
    assert failover.killed.returncode == -9
    assert failover.survivor.poll() is None, "the worker that finished the handover is gone"
    [held] = [write for write in stack.sandbox.writes() if write["fault"] == "slow"]
    assert held["status"] < 300, held  # the killed worker's note was written, its answer held back

    survivor = identity(failover.survivor)
    held_scheduled = 0
    held_started = held_completed = None
    completed_after_kill: list[str] = []
    handle = (await stack.client()).get_workflow_handle(failover.workflow_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_id == failover.activity_id:
                held_scheduled = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            if event.activity_task_started_event_attributes.scheduled_event_id == held_scheduled:
                held_started = event.activity_task_started_event_attributes
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id == held_scheduled:
                held_completed = completed
            # Scheduled after the kill: no dead worker can have taken it. (A completion's own event
            # can come later than the kill though sent before it: the server buffers it while a
            # workflow task runs.)
            if completed.scheduled_event_id > failover.history_at_kill:
                completed_after_kill.append(completed.identity)
    # The killed worker's attempt went silent, not wrong: Temporal timed out its heartbeat and ran the
    # activity once more, on the survivor.
    assert held_started is not None and held_completed is not None
    assert held_started.attempt == 2, held_started
    timeout = held_started.last_failure.timeout_failure_info.timeout_type
    assert timeout == TimeoutType.TIMEOUT_TYPE_HEARTBEAT, held_started.last_failure
    assert held_started.identity == held_completed.identity == survivor
    assert completed_after_kill and set(completed_after_kill) == {survivor}
