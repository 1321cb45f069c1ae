"""What the CLI and the endpoint do with a schedule's autopilot (workflows/autopilot.py), through
the Temporal client: turn it on, read its status, steer it (pause, resume, skip-next).

One autopilot per PagerDuty schedule, under the workflow id `autopilot-<schedule>`: a second for
the same schedule cannot run beside it. Every failure a person can cause comes back as one of
`handover.errors`, with a message to act on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.client import WorkflowExecutionStatus as Status
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from handover import service
from handover.errors import AlreadyRunning, HandoverError, NoWorker, UnknownItem, from_failure
from handover.models import AutopilotRequest, AutopilotStatus, Steer, SteerAction, SteerRecord, autopilot_id
from handover.text import format_duration

WORKFLOW = "AutopilotWorkflow"
ANSWER_WITHIN = timedelta(seconds=10)
"""How long a status or a steer may wait for a worker."""
UPDATES = {SteerAction.PAUSE: "pause", SteerAction.RESUME: "resume", SteerAction.SKIP_NEXT: "skip_next"}


async def turn_on(
    client: Client, task_queue: str, request: AutopilotRequest, why: str, wait: timedelta = ANSWER_WITHIN
) -> AutopilotStatus | None:
    """Start the schedule's autopilot, and wait (up to `wait`) for its first read of the schedule:
    its status, or None when no worker has read it yet (it reads once one is up). A schedule
    PagerDuty does not have is refused here (UnknownItem)."""
    started = SteerRecord(action=SteerAction.START, by=request.requested_by, why=why, at=datetime.now(UTC))
    request = request.model_copy(update={"steers": [*request.steers, started]})
    try:
        handle = await client.start_workflow(
            WORKFLOW,
            request,
            id=autopilot_id(request.schedule_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"Autopilot of PagerDuty schedule {request.schedule_id}: routine handovers",
            static_details=(
                f"Turned on by {request.requested_by}: {why} · starts each routine handover "
                f"{format_duration(request.lead)} before the shift change · "
                f"`starter.py autopilot status {request.schedule_id}`"
            ),
        )
    except WorkflowAlreadyStartedError:
        raise AlreadyRunning(
            f"the autopilot of schedule {request.schedule_id} is on already: "
            f"`starter.py autopilot status {request.schedule_id}`"
        ) from None
    return await _first_read(handle, wait)


async def _first_read(handle: WorkflowHandle, wait: timedelta) -> AutopilotStatus | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    while loop.time() < deadline:
        description = await handle.describe()
        # (the first run continues as new at once when the first change is near: still on)
        if description.status is not Status.RUNNING and description.status is not Status.CONTINUED_AS_NEW:
            try:
                await handle.result()
            except WorkflowFailureError as error:
                raise (from_failure(error) or HandoverError(f"the autopilot failed: {error.cause}")) from None
            return None
        try:
            status = await handle.query(
                "status", result_type=AutopilotStatus, rpc_timeout=timedelta(seconds=1)
            )
        except RPCError as error:
            if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            continue  # no worker yet
        if status.read_at is not None:
            return status
        await asyncio.sleep(0.2)
    return None


def _handle(client: Client, schedule_id: str) -> WorkflowHandle:
    return client.get_workflow_handle(autopilot_id(schedule_id))


async def _running(client: Client, schedule_id: str) -> WorkflowHandle:
    handle = _handle(client, schedule_id)
    description = await service.latest_run(client, handle.id)
    if description is None or description.status is not Status.RUNNING:
        state = "" if description is None else f" (it {description.status.name.lower()})"
        raise UnknownItem(
            f"the autopilot of schedule {schedule_id} is not on{state}: "
            f"`starter.py autopilot start {schedule_id}` turns it on"
        )
    return handle


async def status(
    client: Client, schedule_id: str, answer_within: timedelta = ANSWER_WITHIN
) -> AutopilotStatus:
    return await _status_of(await _running(client, schedule_id), schedule_id, answer_within)


async def _status_of(handle: WorkflowHandle, schedule_id: str, answer_within: timedelta) -> AutopilotStatus:
    try:
        return await handle.query("status", result_type=AutopilotStatus, rpc_timeout=answer_within)
    except RPCError as error:
        if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise
        raise _no_worker(schedule_id, "answered", answer_within) from None


async def steer(client: Client, schedule_id: str, action: SteerAction, given: Steer) -> AutopilotStatus:
    """Pause, resume or skip the next change; recorded with who and why. Refused with a sentence
    when it makes no sense (pausing a paused autopilot); NoWorker, changing nothing, when no
    worker answers in time."""
    handle = await _running(client, schedule_id)
    try:
        return await handle.execute_update(
            UPDATES[action], given, result_type=AutopilotStatus, rpc_timeout=ANSWER_WITHIN
        )
    except WorkflowUpdateFailedError as error:
        raise (from_failure(error) or HandoverError(f"refused: {error.cause}")) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise _no_worker(
            schedule_id, "took it (it may still be applied when one is back: check the status)", ANSWER_WITHIN
        ) from None


def _no_worker(schedule_id: str, what: str, within: timedelta) -> NoWorker:
    return NoWorker(
        f"no worker {what} for the autopilot of {schedule_id} within {format_duration(within)}: "
        "is the worker running?"
    )


async def every(client: Client) -> list[dict]:
    """The autopilots that are on (from Temporal's visibility), each with what it does next when a
    worker answers (`starter.py list`)."""
    query = f'WorkflowType = "{WORKFLOW}" AND ExecutionStatus = "Running"'
    executions = [execution async for execution in client.list_workflows(query, limit=100)]

    async def row(workflow_id: str) -> dict:
        schedule_id = workflow_id.removeprefix("autopilot-")  # (until it answers: its own id)
        try:
            found = await _status_of(
                client.get_workflow_handle(workflow_id), schedule_id, timedelta(seconds=2)
            )
            schedule_id, summary = found.schedule_id, found.summary()
        except HandoverError as error:
            summary = error.message
        return {"autopilot": workflow_id, "schedule": schedule_id, "next": summary}

    return list(await asyncio.gather(*(row(execution.id) for execution in executions)))
