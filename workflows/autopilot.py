"""The autopilot of one PagerDuty schedule: at each change of person, the routine handover.

It reads the final schedule (overrides and swaps applied) for the next change of person, waits
until `lead` before it, reading the schedule again every `recheck` (a change that moves is
followed; one that disappears is re-planned), then starts the routine handover from whoever is on
call to whoever is next, through the same door a person uses (activities/autopilot.py), keyed by
the schedule and the change: never twice. Then it continues as new, so its history stays short
however many weeks it runs. Deterministic: time is `workflow.now()` and durable timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.autopilot import AutopilotActivities
    from activities.pagerduty import PagerDutyActivities, ShiftChange, ShiftQuery
    from handover.models import (
        PLANNED_MINIMUM_OVERLAP,
        AutopilotRequest,
        AutopilotStatus,
        Boundary,
        BoundaryRecord,
        ScheduledStart,
        StartedHandover,
    )

from workflows.lookups import LOOKUP

KEPT = 20
"""Changes handled that the autopilot remembers (its status shows them)."""
WAITS_PER_RUN = 50
"""Schedule reads in one run while it waits (12 days at the default `recheck`); then it continues
as new, so its history stays short however long a change is in coming."""


@workflow.defn
class AutopilotWorkflow:
    @workflow.init
    def __init__(self, request: AutopilotRequest) -> None:
        self._request = request
        self._next: Boundary | None = None
        self._read_at: datetime | None = None

    @workflow.run
    async def run(self, request: AutopilotRequest) -> None:
        after = request.handled_until or workflow.now()
        boundary = await self._next_change(after)
        waits = 0
        while boundary is None or workflow.now() < boundary.at - request.lead:
            if waits >= WAITS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(request)  # (a long wait: the history stays short)
            wake = workflow.now() + request.recheck
            if boundary is not None:
                wake = min(wake, boundary.at - request.lead)
            await workflow.sleep(max(wake - workflow.now(), timedelta(seconds=1)))
            boundary = await self._next_change(after)  # an override or a swap may have moved it
            waits += 1
        if workflow.now() > boundary.at + request.lead:
            # Found long after it happened (the worker was down, say): too late to hand over.
            started = StartedHandover(
                handover_id=None, started=False, detail=f"missed: found after the change, at {workflow.now()}"
            )
        else:
            started = await workflow.execute_activity_method(
                AutopilotActivities.start_scheduled_handover,
                ScheduledStart(
                    schedule_id=request.schedule_id,
                    boundary=boundary,
                    # The runbook's 2 h past the change, however late the start.
                    overlap=max(boundary.at - workflow.now(), timedelta(0)) + PLANNED_MINIMUM_OVERLAP,
                    requested_by=request.requested_by,
                    task_queue=workflow.info().task_queue,
                ),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
        record = BoundaryRecord(
            boundary=boundary,
            at=workflow.now(),
            handover_id=started.handover_id,
            started=started.started,
            detail=started.detail,
        )
        workflow.logger.info("shift change at %s: %s", boundary.at, started.detail)
        history = [*request.history, record][-KEPT:]
        workflow.continue_as_new(
            request.model_copy(update={"handled_until": boundary.at, "history": history})
        )

    async def _next_change(self, after: datetime) -> Boundary | None:
        request = self._request
        change: ShiftChange | None = await workflow.execute_activity_method(
            PagerDutyActivities.next_shift_change,
            ShiftQuery(schedule_id=request.schedule_id, after=after, horizon=request.horizon),
            **LOOKUP,
        )
        self._read_at = workflow.now()
        self._next = (
            None
            if change is None
            else Boundary(
                at=change.at,
                outgoing=change.outgoing.email if change.outgoing else None,
                incoming=change.incoming.email,
            )
        )
        return self._next

    @workflow.query
    def status(self) -> AutopilotStatus:
        request, boundary = self._request, self._next
        return AutopilotStatus(
            schedule_id=request.schedule_id,
            read_at=self._read_at,
            next=boundary,
            starts_at=boundary.at - request.lead if boundary else None,
            history=request.history,
        )
