"""Step 1: freeze new PagerDuty assignments — an override makes incoming primary for the whole
handover window; the outgoing admin stays on the schedule (the overlap prevents coverage gaps)."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import FreezeRequest, OnCallQuery, PagerDutyActivities
    from handover import decisions, messages
    from handover.models import Phase

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.lookups import LOOKUP
from workflows.state import HandoverState, reason

RENEW_BEFORE = timedelta(minutes=15)
"""The override is extended this long (or a quarter of the overlap) before it would run out while
the handover goes on."""


async def freeze_assignments(handover: HandoverState) -> None:
    """Override: incoming is primary for the whole window. The outgoing admin stays on."""
    progress = handover.progress
    handover.set_phase(Phase.FREEZING)
    start = workflow.now().replace(microsecond=0)
    end = start + progress.request.overlap
    if not decisions.makes_override(progress.request):
        # Routine rotation: PagerDuty's auto-rotation gives the overlap; check it does.
        query = OnCallQuery(user_id=handover.incoming.pagerduty_id, start=start, end=end)
        progress.on_call = await workflow.execute_activity_method(
            PagerDutyActivities.check_on_call, query, **LOOKUP
        )
        return
    window = FreezeRequest(user_id=handover.incoming.pagerduty_id, start=start, end=end)
    progress.override = await workflow.execute_activity_method(
        PagerDutyActivities.freeze_assignments, window, **LOOKUP
    )
    progress.overlap_ends_at = end


async def keep_assignments_frozen(handover: HandoverState) -> None:
    """The override covers the whole handover window, not only the first overlap: while people
    are still handing over, a next override continues it before it runs out."""
    progress = handover.progress
    renew_before = min(RENEW_BEFORE, progress.request.overlap / 4)  # (a demo's overlap is short)
    while True:
        current = progress.extensions[-1] if progress.extensions else progress.override
        assert current is not None
        try:
            await workflow.wait_condition(
                lambda: handover.stop_freezing,
                timeout=max(current.end - renew_before - workflow.now(), timedelta(seconds=1)),
            )
            return
        except TimeoutError:
            pass
        window = FreezeRequest(
            user_id=handover.incoming.pagerduty_id,
            start=current.end,
            end=current.end + progress.request.overlap,
        )
        try:
            extension = await workflow.execute_activity_method(
                PagerDutyActivities.freeze_assignments, window, **LOOKUP
            )
        except ActivityError as error:
            handover.log(logging.WARNING, "could not extend the override: %s", reason(error))
            await handover.post(
                "override-not-extended", messages.override_lapses(progress, reason(error)), thread=True
            )
            return
        progress.extensions.append(extension)
