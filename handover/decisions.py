"""Pure decisions of the runbook: which action a ticket needs, what the notes and summary say.

No I/O and no clock: the workflow calls these with what it knows, and they are unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from handover.models import (
    Admin,
    HandoverProgress,
    ImpersonationSession,
    IncidentHandover,
    InputKind,
    Outcome,
    PendingInput,
    Phase,
    RolloutHandover,
    StatusParagraph,
    Ticket,
    TicketAction,
    TicketHandover,
    TicketState,
)

WAITING_ON_CUSTOMER_LABEL = "waiting_on_customer"


def ticket_action(ticket: Ticket, open_sessions: Sequence[ImpersonationSession]) -> TicketAction:
    """Runbook step 3: what handing over this pinned ticket takes."""
    if ticket.state is TicketState.WAITING_ON_CUSTOMER:
        return TicketAction.LABEL_WAITING_ON_CUSTOMER
    if ticket.state is TicketState.WAITING_ON_ENGINEERING:
        return TicketAction.LINK_ENGINEERING_ISSUE
    if ticket.state is TicketState.ACTIVE and any(
        session.ticket_id == ticket.id for session in open_sessions
    ):
        return TicketAction.END_IMPERSONATION_FIRST
    return TicketAction.REASSIGN


def sessions_to_end(ticket: Ticket, open_sessions: Sequence[ImpersonationSession]) -> list[str]:
    return sorted(session.id for session in open_sessions if session.ticket_id == ticket.id)


def format_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def format_duration(span: timedelta) -> str:
    """`2h`, `1h30m`, `45s`: the way people write overlaps."""
    seconds = int(span.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return "".join(parts) or "0s"


def status_note(status: StatusParagraph, outgoing: Admin, incoming: Admin, handover_id: str) -> str:
    """The one-paragraph status posted on the incident before it is reassigned."""
    return (
        f"On-call handover from {outgoing.name} to {incoming.name}. "
        f"Current hypothesis: {_sentence(status.hypothesis)} "
        f"Last action taken: {_sentence(status.last_action)} "
        f"Next action: {_sentence(status.next_action)} "
        f"[{handover_id}]"
    )


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def mention(admin: Admin) -> str:
    return f"<@{admin.slack_id}>" if admin.slack_id else f"@{admin.name}"


def summary_text(
    outgoing: Admin,
    incoming: Admin,
    at: datetime,
    incidents: int,
    tickets: int,
    rollouts: int,
) -> str:
    """Runbook step 5, word for word."""
    return (
        f"On-call: {mention(outgoing)} → {mention(incoming)} as of {format_time(at)}. "
        f"{_plural(incidents, 'incident')} reassigned, {_plural(tickets, 'ticket')} reassigned, "
        f"{_plural(rollouts, 'rollout')} in flight. Details in the thread."
    )


def _outcome_suffix(outcome: Outcome, detail: str | None) -> str:
    if outcome is Outcome.HANDED_OVER:
        return ""
    return f" — *{outcome.value.replace('_', ' ')}*: {detail or 'no reason given'}"


def incidents_detail(items: Sequence[IncidentHandover]) -> str:
    lines = [f"*Incidents* ({len(items)})"]
    for item in items:
        incident = item.incident
        line = f"• <{incident.html_url}|#{incident.number} {incident.title}>"
        if item.status is not None:
            line += (
                f"\n   hypothesis: {item.status.hypothesis}"
                f"\n   last action: {item.status.last_action}"
                f"\n   next action: {item.status.next_action}"
            )
        if item.acknowledged is not None:
            line += f"\n   acknowledged by {item.acknowledged.by} at {format_time(item.acknowledged.at)}"
        lines.append(line + _outcome_suffix(item.outcome, item.detail))
    if not items:
        lines.append("No open incidents on the platform-ops services.")
    return "\n".join(lines)


def tickets_detail(items: Sequence[TicketHandover]) -> str:
    lines = [f"*Pinned tickets* ({len(items)})"]
    for item in items:
        ticket = item.ticket
        line = f"• {ticket.id} {ticket.subject} ({ticket.customer}) — {item.action.value}"
        if item.engineering_issue:
            line += f", engineering issue {item.engineering_issue}"
        if item.sessions_ended:
            line += f", impersonation ended: {', '.join(item.sessions_ended)}"
        lines.append(line + _outcome_suffix(item.outcome, item.detail))
    if not items:
        lines.append("No pinned tickets.")
    return "\n".join(lines)


def rollouts_detail(items: Sequence[RolloutHandover]) -> str:
    lines = [f"*Rollouts in flight* ({len(items)})"]
    for item in items:
        rollout = item.rollout
        line = f"• {rollout.flag} ({rollout.state.value})"
        if item.annotation is not None:
            line += (
                f" — at {item.annotation.ramp_percent:g}%, error rate "
                f"{item.annotation.error_rate:g}%, next: {item.annotation.next_step}"
            )
        if item.owned is not None:
            line += f"; owned by {item.owned.by}"
        lines.append(line + _outcome_suffix(item.outcome, item.detail))
    if not items:
        lines.append("No rollouts ramping or paused.")
    return "\n".join(lines)


def pending_inputs(progress: HandoverProgress) -> list[PendingInput]:
    """Every human input the handover is waiting for: who owes it, for which item, since when."""
    if progress.outgoing is None or progress.incoming is None:
        return []
    if progress.phase in (Phase.COMPLETED, Phase.FAILED):
        return []
    outgoing, incoming = progress.outgoing.email, progress.incoming.email
    listed = progress.override.start if progress.override else progress.started_at
    pending: list[PendingInput] = []

    def owe(kind: InputKind, owner: str, item_id: str | None, since: datetime) -> None:
        pending.append(PendingInput(kind=kind, owner=owner, item_id=item_id, since=since))

    for incident in progress.incidents:
        if incident.outcome is not Outcome.PENDING:
            continue
        if incident.status_given is None:
            owe(InputKind.STATUS, outgoing, incident.incident.id, listed)
        elif incident.acknowledged is None:
            owe(InputKind.INCIDENT_ACK, incoming, incident.incident.id, incident.status_given.at)
    for ticket in progress.tickets:
        if (
            ticket.outcome is Outcome.PENDING
            and ticket.action is TicketAction.LINK_ENGINEERING_ISSUE
            and ticket.engineering_issue is None
        ):
            owe(InputKind.ENGINEERING_LINK, outgoing, ticket.ticket.id, listed)
    for rollout in progress.rollouts:
        if rollout.outcome is not Outcome.PENDING:
            continue
        if rollout.annotated is None:
            owe(InputKind.ROLLOUT_ANNOTATION, outgoing, rollout.rollout.id, listed)
        elif rollout.owned is None:
            owe(InputKind.ROLLOUT_OWNERSHIP, incoming, rollout.rollout.id, rollout.annotated.at)
    summary = progress.summary
    if summary is not None and summary.acknowledged is None:
        owe(InputKind.SUMMARY_ACK, incoming, None, summary.posted_at)
    return pending
