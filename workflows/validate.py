"""Step 0: validate — both admins resolve, and nothing is written before they do. Then the
handover's announcement in the channel (mid-shift: who leads, who shadows)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handover import decisions, messages
    from handover.models import Phase, Variant

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows import lookups
from workflows.state import HandoverState


async def validate(handover: HandoverState) -> None:
    """Both admins resolve in PagerDuty, the platform and Slack; both are platform admins; the
    Slack bot can post and read in the channel. Nothing is written before this holds."""
    progress, request = handover.progress, handover.progress.request
    handover.set_phase(Phase.VALIDATING)
    progress.outgoing, progress.incoming, progress.channel = await lookups.resolve_admins(
        request.outgoing, request.incoming
    )
    progress.acting_as = progress.outgoing.email
    if decisions.acts_as_service(request):
        progress.acting_as = await lookups.service_identity()
    if request.variant is Variant.MID_SHIFT and request.major_incident and request.senior:
        progress.major_incident = await lookups.major_incident(request.major_incident)
        progress.lead = request.senior
        progress.shadow = request.incoming if request.senior == request.outgoing else request.outgoing


async def announce(handover: HandoverState) -> None:
    """The handover's message in the channel (mid-shift: who leads, who shadows)."""
    handover.progress.thread_ts = await handover.post(
        "announcement", messages.announcement(handover.progress)
    )
