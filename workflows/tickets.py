"""Step 3: hand over pinned support tickets — by state: waiting on customer (reassign + label),
waiting on engineering (reassign + link the engineering issue, which the outgoing admin supplies
where none is linked), active with an open impersonation session (end the session first)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.platform import PlatformActivities, TicketBatch, TicketWork
    from handover import decisions
    from handover.models import Done, InputKind, Outcome, TicketAction, TicketHandover

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.batches import as_ready, finish, run_batch
from workflows.state import HandoverState


async def hand_over_tickets(handover: HandoverState) -> None:
    """Per pinned ticket, by state: label, engineering link, or end impersonation first."""
    items = handover.progress.tickets
    link_needed = decisions.outgoing_can_answer(handover.progress.request)
    for item in items:
        if (
            link_needed
            and item.outcome is Outcome.PENDING
            and item.action is TicketAction.LINK_ENGINEERING_ISSUE
            and item.engineering_issue is None
        ):
            item.stage = "waiting for engineering issue"
    await as_ready(
        handover,
        items,
        _hand_over,
        when=lambda t: (
            not link_needed
            or t.action is not TicketAction.LINK_ENGINEERING_ISSUE
            or t.engineering_issue is not None
        ),
    )


async def _hand_over(handover: HandoverState, batch: list[TicketHandover]) -> None:
    work = TicketBatch(
        handover_id=handover.progress.handover_id,
        outgoing=handover.outgoing.email,
        incoming=handover.incoming.email,
        acting_as=handover.acting_as,
        items=[
            TicketWork(
                ticket_id=item.ticket.id,
                action=item.action,
                sessions_to_end=item.sessions_to_end,
                engineering_issue=item.engineering_issue,
            )
            for item in batch
        ],
    )
    for item in batch:
        item.stage = "handing over"
    results = await run_batch(
        handover,
        PlatformActivities.hand_over_tickets,
        work,
        [i.ticket.id for i in batch],
        after=(InputKind.ENGINEERING_LINK,),
    )
    for item, result in zip(batch, results, strict=True):
        item.sessions_ended = result.sessions_ended
        if result.outcome is Outcome.HANDED_OVER:
            item.reassigned = Done(by=handover.acting_as, at=workflow.now())
            if item.action is TicketAction.LINK_ENGINEERING_ISSUE and item.engineering_issue is None:
                result.detail = "no engineering issue linked: the outgoing admin could not name one"
        finish(item, result)
