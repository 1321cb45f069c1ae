"""The autopilot's one write: start a boundary's routine handover, through the same door as a
person's `starter.py start` (handover/service.py), once. The key is the schedule and the boundary:
a retry, a replay or a second attempt returns the handover the first one started; a handover a
person started first for that admin is reported, and none is started."""

from __future__ import annotations

from datetime import UTC

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus

from handover import service
from handover.errors import AlreadyRunning, InvalidInput, invalid_fields
from handover.models import HandoverRequest, ScheduledStart, StartedHandover, Variant
from handover.settings import Settings


class AutopilotActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings  # (one constructor for every activity class: all_activities)

    @activity.defn
    async def start_scheduled_handover(self, work: ScheduledStart) -> StartedHandover:
        boundary = work.boundary
        at = boundary.at.astimezone(UTC)
        if boundary.outgoing is None:
            return StartedHandover(handover_id=None, started=False, detail="nobody was on call before it")
        done = await _done_by_hand(service.workflow_id_for(boundary.outgoing), work)
        if done is not None:
            return done
        try:
            request = HandoverRequest(
                outgoing=boundary.outgoing,
                incoming=boundary.incoming,
                variant=Variant.ROUTINE,
                overlap=work.overlap,
                requested_by=work.requested_by,
                reason=f"routine rotation on {work.schedule_id} at {at:%Y-%m-%d %H:%M} UTC",
            )
            handle = await service.start(activity.client(), work.task_queue, request, work.key)
        except AlreadyRunning as error:
            own = await _running(service.workflow_id_for(boundary.outgoing))
            # The outgoing admin's own handover (a person started it first) is the change's: no
            # word to the channel. Another in the way (incoming still hands over theirs) is told.
            return StartedHandover(handover_id=own, started=False, detail=error.message, blocked=own is None)
        except InvalidInput as error:
            return StartedHandover(handover_id=None, started=False, detail=error.message, blocked=True)
        except ValidationError as error:  # (e.g. a schedule that hands an admin to themself)
            detail = invalid_fields(error.errors())
            return StartedHandover(handover_id=None, started=False, detail=detail, blocked=True)
        except ValueError as error:
            return StartedHandover(handover_id=None, started=False, detail=str(error), blocked=True)
        # Anything else (Temporal out of reach) is raised: the activity is tried again.
        return StartedHandover(handover_id=handle.id, started=True, detail=f"started {handle.id}")


async def _running(workflow_id: str) -> str | None:
    """The workflow id, if a handover runs under it."""
    described = await service.latest_run(activity.client(), workflow_id)
    running = described is not None and described.status is WorkflowExecutionStatus.RUNNING
    return workflow_id if running else None


async def _done_by_hand(workflow_id: str, work: ScheduledStart) -> StartedHandover | None:
    """The outgoing admin's handover that a person started since the change before, and that
    completed: this change's, done by hand (the autopilot's own start, by its key, is not one)."""
    described = None if work.since is None else await service.latest_run(activity.client(), workflow_id)
    if described is None:
        return None
    memo = await described.memo()
    if (
        memo.get("idempotency_key") == work.key
        or described.status is not WorkflowExecutionStatus.COMPLETED
        or described.start_time < work.since
    ):
        return None
    when = described.start_time.astimezone(UTC)
    return StartedHandover(
        handover_id=workflow_id,
        started=False,
        detail=f"handed over by hand already: {workflow_id}, started {when:%Y-%m-%d %H:%M} UTC, completed",
    )
