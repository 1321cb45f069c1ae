"""The end: the overlap runs out; or, after a cancel or a failure, what moved is reported as moved
and the rest as left untouched."""

from __future__ import annotations

import logging

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handover import messages
    from handover.models import Outcome, Phase

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import HandoverState, reason


async def wait_for_overlap(handover: HandoverState) -> None:
    ends = handover.progress.overlap_ends_at
    if ends is None or ends <= workflow.now():
        return
    handover.set_phase(Phase.OVERLAP)
    try:
        await handover.wait(lambda: False, timeout=ends - workflow.now())
    except TimeoutError:
        pass


async def wind_down(handover: HandoverState, failure: str | None = None) -> None:
    """After a cancel (or a failure): what moved is reported as moved; the rest was left alone."""
    progress = handover.progress
    if failure is not None:
        progress.error = failure
        why = f"not handed over: the handover failed ({failure})"
    else:
        assert progress.cancelled is not None
        why = f"cancelled by {progress.cancelled.by} before it was handed over"
    for item in progress.all_items():
        if item.outcome is Outcome.PENDING:
            item.cut_short()  # an incident reassigned is handed over; a rollout annotated is not
    for item in progress.all_items():
        if item.outcome is Outcome.PENDING:
            item.outcome = Outcome.NOT_HANDED_OVER
            item.detail = why
            item.stage = "left untouched"
    handover.set_phase(Phase.FAILED if failure is not None else Phase.CANCELLED)
    if progress.thread_ts is not None:
        part, text = (
            ("failed", messages.failed_text(progress))
            if failure is not None
            else ("cancelled", messages.cancelled_text(progress))
        )
        try:
            await handover.post(part, text)
        except ActivityError as error:
            handover.log(logging.WARNING, "could not post the %s notice: %s", part, reason(error))
