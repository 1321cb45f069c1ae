"""Pure decisions of the runbook: which action a ticket needs, who owes what, when to chase them.

No I/O and no clock: the workflow calls these with what it knows (and `workflow.now()`), and they
are unit-tested. What the messages say is in `handover.messages`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from handover.models import (
    ITEM_KINDS,
    EmergencyReason,
    HandoverProgress,
    HandoverRequest,
    ImpersonationSession,
    IncidentGroup,
    InputKind,
    Outcome,
    Owed,
    Owing,
    PendingInput,
    Phase,
    ReminderMark,
    ReminderPolicy,
    Ticket,
    TicketAction,
    TicketState,
    Variant,
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


def outgoing_can_answer(request: HandoverRequest) -> bool:
    """In an emergency the outgoing admin is gone: nothing is waited for from them."""
    return request.variant is not Variant.EMERGENCY


_NUMBERS = re.compile(r"[0-9]+")


def status_groups(progress: HandoverProgress) -> list[IncidentGroup]:
    """The incidents waiting for a status paragraph that look like one cause to PagerDuty: one
    service, and one title apart from its numbers (`Disk full on db-1`, `Disk full on db-7`).
    Groups of two or more, largest first, suggested for one status paragraph each."""
    if not outgoing_can_answer(progress.request):
        return []
    groups: dict[tuple[str, str], list[str]] = {}
    labels: dict[tuple[str, str], str] = {}
    for item in progress.incidents:
        if item.outcome is not Outcome.PENDING or item.status_given is not None:
            continue
        incident = item.incident
        title = " ".join(_NUMBERS.sub("#", incident.title).split())
        key = (incident.service_id, title.casefold())
        groups.setdefault(key, []).append(incident.id)
        labels.setdefault(key, f"{title} ({incident.service_name})")
    found = [
        IncidentGroup(label=labels[key], incident_ids=ids) for key, ids in groups.items() if len(ids) > 1
    ]
    return sorted(found, key=lambda group: (-len(group.incident_ids), group.label))


def acts_as_service(request: HandoverRequest) -> bool:
    """A compromised admin's name must not sign anything: the service writes as itself."""
    return request.emergency_reason is EmergencyReason.COMPROMISED


def makes_override(request: HandoverRequest) -> bool:
    """Routine weekly rotation: PagerDuty's auto-rotation already gives the overlap."""
    return request.variant is not Variant.ROUTINE


def mitigation_allowed_from(request: HandoverRequest) -> tuple[str, ...]:
    """Mid-shift: the senior admin who leads, or either admin, declares the outage mitigated."""
    return (request.outgoing, request.incoming)


def cancel_allowed_from(request: HandoverRequest) -> tuple[str, ...]:
    """The requester or either admin; not a compromised outgoing admin, whose account may be in
    someone else's hands (cancelling would leave everything with it)."""
    if acts_as_service(request):
        return (request.incoming, request.requested_by.strip().lower())
    return (request.outgoing, request.incoming, request.requested_by.strip().lower())


def readers(request: HandoverRequest) -> set[str]:
    """Who may read a handover (its progress, its report, its payloads through the codec): both
    admins, the senior, and whoever requested it (an admin's email or `service:<name>`). The
    deployment's observers may too (handover/access.py)."""
    people = {request.outgoing, request.incoming, request.requested_by.strip().lower()}
    return people | ({request.senior} if request.senior else set())


THUMBS_UP = {"+1", "thumbsup"}
ACKNOWLEDGE_SUMMARY_ACTION = "handover.acknowledge_summary"
"""The action id of the summary's Block Kit button; the endpoint relays presses of it."""


def is_thumbs_up(reaction: str) -> bool:
    """`+1`, `thumbsup`, and their skin-tone forms (`+1::skin-tone-3`)."""
    return reaction.split("::", 1)[0] in THUMBS_UP


# --- who owes what --------------------------------------------------------------------------


def pending_inputs(progress: HandoverProgress) -> list[PendingInput]:
    """Every human input the handover is waiting for: who owes it, for which item, since when."""
    return [
        PendingInput(kind=kind, owner=owner, item_id=item_id, since=since)
        for kind, owner, item_id, since in owed(progress)
    ]


def waiting_on(progress: HandoverProgress) -> list[str]:
    """Who owes an input now, sorted: the `HandoverWaitingOn` search attribute. Stops looking once
    everyone who could owe one does (the workflow asks at every step of an alert storm)."""
    could = {person.email for person in (progress.outgoing, progress.incoming) if person is not None}
    if progress.lead:
        could.add(progress.lead)
    owing: set[str] = set()
    for _, owner, _, _ in owed(progress):
        owing.add(owner)
        if owing >= could:
            break
    return sorted(owing)


def owed(progress: HandoverProgress) -> Iterator[Owed]:
    """`pending_inputs` as plain tuples: the workflow asks on every step of an alert storm's
    thousands of items, and building a model for each made it the worker's hottest code. What
    each item is owed, its kind says (`ItemHandover.owed`)."""
    if progress.outgoing is None or progress.incoming is None or progress.phase.ended:
        return
    if progress.cancelled is not None:
        return
    request = progress.request
    outgoing, incoming = progress.outgoing.email, progress.incoming.email
    if progress.phase is Phase.OUTAGE and progress.mitigated is None and progress.lead:
        yield InputKind.MITIGATED, progress.lead, request.major_incident, progress.started_at
    owing = Owing(
        outgoing=outgoing,
        incoming=incoming,
        listed=progress.inventory_at or progress.started_at,
        from_outgoing=outgoing_can_answer(request),
    )
    for kind in ITEM_KINDS:
        for item in getattr(progress, kind.field):
            if item.outcome is Outcome.PENDING:
                yield from item.owed(owing)
    summary = progress.summary
    if summary is not None and summary.acknowledged is None:
        yield InputKind.SUMMARY_ACK, incoming, None, summary.posted_at


# --- reminders and escalation ---------------------------------------------------------------


BATCHING = timedelta(minutes=1)
"""Inputs falling due within a minute of each other are chased in one message per person; with
shorter reminder intervals, within a quarter of the shortest (`look_ahead`)."""


def look_ahead(policy: ReminderPolicy) -> timedelta:
    """How far ahead of `now` a reminder counts as due, so that inputs falling due together go in
    one message. Never as long as the shortest interval: with `--remind-after 1m` a look-ahead of
    a minute chased every input the moment it became pending."""
    return min(BATCHING, min(policy.remind_after, policy.escalate_after, policy.repeat_every) / 4)


def reminder_key(wait: PendingInput) -> str:
    return f"{wait.kind.value}:{wait.item_id or '-'}"


def due_reminders(
    progress: HandoverProgress, now: datetime, ahead: timedelta | None = None
) -> tuple[list[PendingInput], list[PendingInput]]:
    """(to remind in the thread, to escalate to the channel) at `now`.

    A pending input is reminded once `remind_after` it became pending, escalated once
    `escalate_after`, and escalated again every `repeat_every` after that, `max_escalations`
    times in all.
    """
    policy = progress.request.reminders
    remind: list[PendingInput] = []
    escalate: list[PendingInput] = []
    now = now + (look_ahead(policy) if ahead is None else ahead)
    for wait in pending_inputs(progress):
        mark = progress.reminders.get(reminder_key(wait), ReminderMark())
        if mark.escalations >= policy.max_escalations:
            continue
        if mark.escalated_at is not None:
            if now - mark.escalated_at >= policy.repeat_every:
                escalate.append(wait)
        elif now - wait.since >= policy.escalate_after:
            escalate.append(wait)
        elif mark.reminded_at is None and now - wait.since >= policy.remind_after:
            remind.append(wait)
    return remind, escalate


def next_reminder_at(progress: HandoverProgress) -> datetime | None:
    """When the next reminder or escalation falls due, if anything is pending."""
    policy = progress.request.reminders
    earliest: datetime | None = None
    for kind, _, item_id, since in owed(progress):
        mark = progress.reminders.get(f"{kind.value}:{item_id or '-'}")  # (reminder_key, no model)
        if (mark.escalations if mark else 0) >= policy.max_escalations:
            continue
        if mark is not None and mark.escalated_at is not None:
            due = mark.escalated_at + policy.repeat_every
        elif mark is not None and mark.reminded_at is not None:
            due = since + policy.escalate_after
        else:
            due = since + policy.remind_after
        if earliest is None or due < earliest:
            earliest = due
    return earliest


def waited(waits: Sequence[PendingInput], now: datetime) -> timedelta:
    return max((now - wait.since for wait in waits), default=timedelta(0))
