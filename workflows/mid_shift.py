"""Mid-shift outage: the senior admin leads until the outage is mitigated; then the formal
(planned) handover runs."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import PagerDutyActivities
    from handover.models import Done, Phase

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import HandoverState


async def wait_for_mitigation(handover: HandoverState) -> None:
    """Until someone calls it mitigated, or the major incident leaves triggered/acknowledged."""
    progress = handover.progress
    handover.set_phase(Phase.OUTAGE)
    assert progress.major_incident is not None
    status = await handover.watch_until(
        PagerDutyActivities.wait_until_resolved,
        progress.major_incident.id,
        progress.request.mitigation_poll,
        done=lambda: progress.mitigated is not None,
    )
    if progress.mitigated is not None:
        return
    if status is None:  # the watch gave up (the incident is gone?): a person calls it
        await handover.wait(lambda: progress.mitigated is not None)
        return
    progress.mitigated = Done(by="PagerDuty", at=workflow.now())
    progress.mitigation_note = f"#{progress.major_incident.number} is {status} in PagerDuty"
