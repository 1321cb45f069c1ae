"""What the outgoing admin owns: open incidents, pinned tickets (and their impersonation
sessions), rollouts in flight. Compromised: every open session ended before anything moves."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.platform import EndSessions, PlatformActivities
    from handover import decisions, messages
    from handover.models import ITEM_KINDS, Done, ItemHandover, Outcome, RolloutAnnotation, TicketHandover

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows import lookups
from workflows.batches import BATCH
from workflows.state import HandoverState, left_alone


async def take_inventory(handover: HandoverState) -> None:
    """What outgoing owns: incidents, pinned tickets (and sessions), rollouts in flight."""
    progress, request = handover.progress, handover.progress.request
    found = await lookups.take_inventory(handover.outgoing)
    now = workflow.now()
    progress.inventory_at = now
    sessions = found.pinned.open_sessions
    handover.open_sessions = sorted(session.id for session in sessions)
    for kind in ITEM_KINDS:
        if kind.field not in found.listed:
            continue  # a kind added later, which this handover's code does not list (its patch)
        items: list[ItemHandover]
        if kind.model is TicketHandover:  # step 3: each pinned ticket with its sessions
            items = [
                TicketHandover(
                    ticket=ticket,
                    action=decisions.ticket_action(ticket, sessions),
                    sessions_to_end=decisions.sessions_to_end(ticket, sessions),
                    engineering_issue=ticket.engineering_issue,
                )
                for ticket in found.pinned.tickets
            ]
        else:
            items = [kind.model(**{kind.kind: listed}) for listed in found.listed[kind.field]]
        setattr(progress, kind.field, [left_alone(item) for item in items])
    if request.emergency_reason is not None:
        # Nobody can annotate for an absent admin: the console's figures (an unknown error
        # rate stays unknown), and no next step.
        for item in progress.rollouts:
            if item.outcome is not Outcome.PENDING:
                continue
            item.annotation = RolloutAnnotation(
                ramp_percent=item.rollout.ramp_percent,
                error_rate=item.rollout.error_rate,
                next_step=messages.emergency_next_step(request.emergency_reason),
            )
            item.annotated = Done(by=handover.acting_as, at=now)
    await handover.post("to-do", messages.to_do(progress, decisions.pending_inputs(progress)), thread=True)


async def end_every_impersonation(handover: HandoverState) -> None:
    """Compromised: end all of outgoing's open sessions, whatever the ticket, before anything moves."""
    work = EndSessions(
        handover_id=handover.progress.handover_id,
        admin=handover.outgoing.email,
        acting_as=handover.acting_as,
        session_ids=handover.open_sessions,
    )
    handover.progress.sessions_ended_first = await workflow.execute_activity_method(
        PlatformActivities.end_sessions, work, **BATCH
    )
