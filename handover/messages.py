"""What the handover says: incident notes, Slack announcements, the summary and its thread,
reminders, the emergency context digest, catch-up requests and the cancel notice.

Pure functions of what the workflow knows; unit-tested in tests/handover/test_messages.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from handover.decisions import ACKNOWLEDGE_SUMMARY_ACTION
from handover.inputs import BY_KIND, Giver
from handover.models import (
    ITEM_KINDS,
    Admin,
    Boundary,
    ContextDigest,
    EmergencyReason,
    HandoverPlan,
    HandoverProgress,
    HandoverRequest,
    IncidentHandover,
    InputKind,
    ItemHandover,
    ItemKind,
    Outcome,
    PendingInput,
    PlannedTicket,
    StatusParagraph,
    SteerRecord,
    TicketAction,
    UnclearThread,
    Variant,
)
from handover.text import (
    error_rate,
    format_clock,
    format_duration,
    format_time,
)
from handover.text import plural as _plural
from handover.text import sentence as _sentence
from handover.text import short as _short
from handover.text import stay as _stay

H = TypeVar("H", bound=ItemHandover)

LIST_LIMIT = 40
"""Items listed per kind in the summary's thread; the report has them all."""
REPLY_CHARACTERS = 3_000
"""A thread reply stays readable: a longer detail is posted in parts of at most this many
characters (Slack itself refuses 40,000)."""


def _bounded(lines: list[str], total: int) -> list[str]:
    if total > LIST_LIMIT:
        return lines[:LIST_LIMIT] + [f"… and {total - LIST_LIMIT} more: see the handover report."]
    return lines


def outcome_of(item: ItemHandover) -> str:
    """`handed_over`, or the outcome with its reason (`skipped: solved: nothing to hand over`)."""
    if item.outcome in (Outcome.PENDING, Outcome.HANDED_OVER) or not item.detail:
        return item.outcome.value
    return f"{item.outcome.value}: {item.detail}"


def mention(admin: Admin) -> str:
    return f"<@{admin.slack_id}>" if admin.slack_id else f"@{admin.name}"


def mention_email(progress: HandoverProgress, email: str) -> str:
    for admin in (progress.outgoing, progress.incoming):
        if admin is not None and admin.email == email:
            return mention(admin)
    return email


# --- incident notes (step 2) ------------------------------------------------------------------


def status_note(status: StatusParagraph, outgoing: Admin, incoming: Admin, handover_id: str) -> str:
    """The one-paragraph status posted on the incident before it is reassigned."""
    return (
        f"On-call handover from {outgoing.name} to {incoming.name}. "
        f"Current hypothesis: {_sentence(status.hypothesis)} "
        f"Last action taken: {_sentence(status.last_action)} "
        f"Next action: {_sentence(status.next_action)} "
        f"[{handover_id}]"
    )


RUNBOOK_CHANNEL = "#novavms-platform-ops"
"""The runbook's channel; a team's own is named by step 0 (`channel_of`)."""


def channel_of(progress: HandoverProgress | HandoverPlan) -> str:
    return progress.channel or RUNBOOK_CHANNEL


def emergency_note(
    reason: EmergencyReason,
    outgoing: Admin,
    incoming: Admin,
    handover_id: str,
    channel: str = RUNBOOK_CHANNEL,
) -> str:
    """Emergency: no status paragraph; the note says so, and where the context is."""
    return (
        f"Emergency on-call handover from {outgoing.name} ({reason.value}) to {incoming.name}. "
        "No status paragraph from the outgoing admin: the context digest (this incident's history, "
        f"ticket comments, the last hour of {channel}) is in the handover's Slack thread. "
        f"[{handover_id}]"
    )


def emergency_next_step(reason: EmergencyReason) -> str:
    return (
        f"Not known: emergency handover, the outgoing admin is {reason.value}. "
        "The incoming admin decides the next ramp step."
    )


# --- announcements ------------------------------------------------------------------------------


def announcement(progress: HandoverProgress) -> str:
    """The handover's first message in the channel; reminders follow in its thread."""
    request = progress.request
    outgoing, incoming = progress.outgoing, progress.incoming
    assert outgoing is not None and incoming is not None
    who = f"{mention(outgoing)} → {mention(incoming)}"
    tail = f" Progress: `starter.py status {progress.handover_id}`. Reminders follow in this thread."
    if request.variant is Variant.MID_SHIFT and progress.major_incident is not None:
        lead = mention_email(progress, progress.lead or "")
        shadow = mention_email(progress, progress.shadow or "")
        incident = progress.major_incident
        return (
            f":rotating_light: Mid-shift outage on "
            f"<{incident.html_url}|#{incident.number} {incident.title}>: {lead} leads, {shadow} shadows. "
            f"The formal on-call handover {who} follows once the outage is mitigated "
            f"(the incident resolves, or `starter.py mitigated {progress.handover_id}`)." + tail
        )
    if request.variant is Variant.EMERGENCY:
        reason = request.emergency_reason.value if request.emergency_reason else "unavailable"
        acting = (
            " Writes are made as the handover service, not as the outgoing admin."
            if (request.emergency_reason is EmergencyReason.COMPROMISED)
            else ""
        )
        return (
            f":warning: Emergency on-call handover {who}, effective now: the outgoing admin is {reason}."
            f"{acting} A context digest for {mention(incoming)} is built from PagerDuty, the tickets "
            "and this channel." + tail
        )
    kind = "Routine weekly on-call rotation" if request.variant is Variant.ROUTINE else "On-call handover"
    return f"{kind} started: {who}." + tail


def rescanned(progress: HandoverProgress, items: Sequence[IncidentHandover]) -> str:
    """The re-scan found incidents assigned to outgoing during the window: what each person owes."""
    outgoing = mention_email(progress, progress.request.outgoing)
    listed = _bounded(
        [f"• <{i.incident.html_url}|#{i.incident.number} {i.incident.title}>" for i in items], len(items)
    )
    owed = (
        f"{outgoing}: a status paragraph for each, then the incoming admin acknowledges it."
        if progress.request.variant is not Variant.EMERGENCY
        else f"{mention_email(progress, progress.request.incoming)}: acknowledge each."
    )
    head = (
        f"The re-scan before the summary found {_plural(len(items), 'more incident')} "
        f"assigned to {outgoing} during the handover:"
    )
    return "\n".join([head, *listed, owed])


def override_lapses(progress: HandoverProgress, reason: str) -> str:
    last = progress.extensions[-1] if progress.extensions else progress.override
    until = format_time(last.end) if last else "soon"
    return (
        f":warning: The PagerDuty override for {progress.request.incoming} ends at {until} and could not be "
        f"extended ({reason}): new incidents may page {progress.request.outgoing} again. "
        "Extend it in PagerDuty."
    )


def to_do(progress: HandoverProgress, pending: Sequence[PendingInput]) -> str:
    """After the inventory: what each person owes, in the announcement's thread."""
    listed = [(kind, getattr(progress, kind.field)) for kind in ITEM_KINDS]
    counts = [kind.counted(len(theirs(items))) for kind, items in listed if kind.shown(len(items))]
    left = sum(len(items) - len(theirs(items)) for _, items in listed)
    lines = [
        f"Found {_and(counts)}."
        + (f" {left} more listed, but not theirs to hand over: left alone (see the report)." if left else "")
    ]
    for owner in sorted({wait.owner for wait in pending}):
        mine = [wait for wait in pending if wait.owner == owner]
        lines.append(f"{mention_email(progress, owner)}: {_counted(mine)}")
    if progress.on_call is not None and not progress.on_call.on_call:
        lines.append(on_call_warning(progress))
    return "\n".join(lines)


def _and(parts: Sequence[str]) -> str:
    """`a, b and c`."""
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else "".join(parts)


def on_call_warning(progress: HandoverProgress) -> str:
    check = progress.on_call
    assert check is not None
    return (
        f":warning: {progress.request.incoming} is not on call on schedule {check.schedule_id} between "
        f"{format_clock(check.start)} and {format_clock(check.end)}: check PagerDuty's rotation."
    )


_NOUNS = {InputKind.SUMMARY_ACK: ":+1: on the summary", InputKind.MITIGATED: "mitigation call"}
"""The inputs no item owes; each kind names its own (`ItemKind.owes`)."""


def _owed_by(input_kind: InputKind) -> ItemKind | None:
    """The kind whose items wait for this input, if any."""
    return next((kind for kind in ITEM_KINDS if input_kind in kind.owes), None)


def _noun(input_kind: InputKind) -> str:
    kind = _owed_by(input_kind)
    return kind.owes[input_kind] if kind is not None else _NOUNS[input_kind]


def _counted(waits: Sequence[PendingInput]) -> str:
    counts: dict[InputKind, int] = {}
    for wait in waits:
        counts[wait.kind] = counts.get(wait.kind, 0) + 1
    return ", ".join(
        _plural(count, _noun(kind)) if kind is not InputKind.SUMMARY_ACK else _noun(kind)
        for kind, count in counts.items()
    )


def describe_wait(progress: HandoverProgress, wait: PendingInput) -> str:
    kind = _owed_by(wait.kind)
    if kind is not None and wait.item_id is not None:
        items = getattr(progress, kind.field)
        item = next((i for i in items if i.listed.id == wait.item_id), None)
        return f"{kind.owes[wait.kind]} {kind.about(item, wait.item_id)}"
    if wait.kind is InputKind.MITIGATED:
        return f"calling the outage on {wait.item_id} mitigated"
    return _noun(wait.kind)


def reminder(
    progress: HandoverProgress, owner: str, waits: Sequence[PendingInput], escalate: bool, now: datetime
) -> str:
    """A thread mention of the person who owes inputs, or (escalated) a message to the channel."""
    listed = _bounded([f"• {describe_wait(progress, wait)}" for wait in waits], len(waits))
    how = f"`starter.py status {progress.handover_id}` shows how to answer."
    since = format_duration(_round_minutes(max(now - wait.since for wait in waits)))
    if escalate:
        head = (
            f"<!here> The on-call handover {progress.request.outgoing} → {progress.request.incoming} "
            f"has waited {since} for {mention_email(progress, owner)}:"
        )
        return "\n".join([head, *listed, f"Can someone reach them? {how}"])
    head = f"{mention_email(progress, owner)}, a reminder: the handover waits on you ({since}) for:"
    return "\n".join([head, *listed, how])


def _round_minutes(span: timedelta) -> timedelta:
    """To the nearest minute, and at least one: a reminder may fall due a little early, in one
    message with others due with it (decisions.look_ahead), and never says "waited 0s"."""
    return timedelta(minutes=max(1, round(span.total_seconds() / 60)))


# --- step 5: the summary and its thread --------------------------------------------------------


def summary_text(
    outgoing: Admin, incoming: Admin, at: datetime, incidents: int, tickets: int, rollouts: int
) -> str:
    """Runbook step 5, word for word."""
    return (
        f"On-call: {mention(outgoing)} → {mention(incoming)} as of {format_time(at)}. "
        f"{_plural(incidents, 'incident')} reassigned, {_plural(tickets, 'ticket')} reassigned, "
        f"{_plural(rollouts, 'rollout')} in flight. Details in the thread."
    )


def summary_blocks(text: str, workflow_id: str) -> list[dict]:
    """The summary with its "Acknowledge" button (incoming presses it, or reacts with :+1:)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Acknowledge (incoming admin)"},
                    "action_id": ACKNOWLEDGE_SUMMARY_ACTION,
                    "value": workflow_id,
                }
            ],
        },
    ]


def _outcome_suffix(outcome: Outcome, detail: str | None) -> str:
    if outcome is Outcome.HANDED_OVER:
        return f" ({detail})" if detail else ""
    return f" — *{outcome.value.replace('_', ' ')}*: {detail or 'no reason given'}"


def details(progress: HandoverProgress) -> list[str]:
    """The summary's thread replies, one a kind: a line an item (with its outcome), or none."""
    listed = [(kind, getattr(progress, kind.field)) for kind in ITEM_KINDS]
    return [detail(kind, items) for kind, items in listed if kind.shown(len(items))]


def detail(kind: ItemKind, items: Sequence[ItemHandover]) -> str:
    lines = [item.line() + _outcome_suffix(item.outcome, item.detail) for item in items] or [kind.none]
    return "\n".join([f"*{kind.title}* ({len(items)})", *_bounded(lines, len(items))])


def in_replies(detail: str, limit: int = REPLY_CHARACTERS) -> list[str]:
    """A detail (its header line, then items: a line and the indented lines under it) as thread
    replies of at most `limit` characters, cut between items, each part saying which it is:
    "*Incidents* (300, part 2 of 4)". A section's heading (the digest's `*Tickets: comments*`)
    stays with its first item; only an item longer than a reply is cut, between its lines."""
    if len(detail) <= limit:
        return [detail]
    header, *lines = detail.split("\n")
    items: list[str] = []
    for line in lines:
        if items and (line.startswith(" ") or _is_heading(items[-1])):
            items[-1] += "\n" + line
        else:
            items.append(line)
    room = limit - len(header) - len(" (part 999 of 999)") - 1
    parts: list[list[str]] = [[]]
    size = 0
    for piece in (piece for item in items for piece in _fitted(item, room)):
        if parts[-1] and size + len(piece) + 1 > room:
            parts.append([])
            size = 0
        parts[-1].append(piece)
        size += len(piece) + 1
    return ["\n".join([_part_header(header, n, len(parts)), *part]) for n, part in enumerate(parts, 1)]


def _is_heading(item: str) -> bool:
    return "\n" not in item and len(item) > 2 and item.startswith("*") and item.endswith("*")


def _part_header(header: str, number: int, total: int) -> str:
    if header.endswith(")"):
        return f"{header[:-1]}, part {number} of {total})"
    return f"{header} (part {number} of {total})"


def _fitted(item: str, room: int) -> list[str]:
    """The item whole if it fits in a reply, else in pieces cut between its lines."""
    if len(item) <= room:
        return [item]
    pieces = [""]
    for line in item.split("\n"):
        line = _short(line, room) if len(line) > room else line
        if pieces[-1] and len(pieces[-1]) + 1 + len(line) > room:
            pieces.append(line)
        else:
            pieces[-1] = f"{pieces[-1]}\n{line}" if pieces[-1] else line
    return pieces


# --- emergency: the context digest and catch-up requests ----------------------------------------


def digest_text(progress: HandoverProgress, digest: ContextDigest) -> str:
    incoming = progress.incoming
    who = mention(incoming) if incoming else progress.request.incoming
    lines = [f"*Context digest for {who}* (built {format_time(digest.built_at)})"]
    if digest.incidents:
        lines.append("*Incidents: notes and history*")
        for context in digest.incidents[:LIST_LIMIT]:
            lines.append(f"• {context.incident_id} {context.title}")
            lines += [f"   {_at(e.at)} {e.who}: {_short(e.text)}" for e in context.entries]
        more = len(theirs(progress.incidents)) - len(digest.incidents)
        if more > 0:
            lines.append(f"… and {more} more incidents (see PagerDuty)")
    if digest.tickets:
        lines.append("*Tickets: comments*")
        for context in digest.tickets[:LIST_LIMIT]:
            lines.append(f"• {context.ticket_id} {context.subject}")
            lines += [f"   {_at(e.at)} {e.who}: {_short(e.text)}" for e in context.entries] or [
                "   (no comments)"
            ]
        more = len(theirs(progress.tickets)) - len(digest.tickets)
        if more > 0:
            lines.append(f"… and {more} more tickets (see the tracker)")
    lines.append(f"*{channel_of(progress)}, the last hour*")
    for thread in digest.channel[:LIST_LIMIT]:
        lines.append(f"• {thread.ts} <@{thread.who}>: {_short(thread.text)}")
        lines += [f"   ↳ {_at(r.at)} <@{r.who}>: {_short(r.text, 200)}" for r in thread.replies]
    if not digest.channel:
        lines.append("(quiet)")
    lines += [f":warning: not in this digest: {gap}" for gap in digest.gaps]
    lines.append(
        f"Unclear? `starter.py flag-thread {progress.handover_id} THREAD_TS --question ...` "
        "asks the channel for a team-wide catch-up."
    )
    return "\n".join(lines)


def _at(at: datetime | None) -> str:
    return format_clock(at) if at else "--:--"


def catch_up(progress: HandoverProgress, flag: UnclearThread) -> str:
    incoming = mention_email(progress, flag.flagged.by)
    return (
        f":raising_hand: Team-wide catch-up, please: {incoming} is taking over on-call in an emergency "
        f"and cannot reconstruct the thread {flag.thread_ts}. Question: {_sentence(flag.question)} "
        "Anyone who knows, answer in this thread."
    )


# --- the end ---------------------------------------------------------------------------------------


def audit_text(missing: Sequence[str], checked: int) -> str:
    if missing:
        return (
            ":warning: Audit check: platform_audit_log shows no platform.impersonation_ended for "
            f"{', '.join(missing)}. Check these sessions before revoking access."
        )
    return f"Audit check: platform.impersonation_ended is logged for all {_plural(checked, 'session')} ended."


def theirs(items: Sequence[H]) -> list[H]:
    """The items that are the outgoing admin's to hand over (not those a listing had no business
    returning, which are left alone)."""
    return [item for item in items if item.listed.left_alone is None]


def _moved(progress: HandoverProgress) -> str:
    """`2 of 3 incidents, 5 of 5 tickets, 0 of 3 rollouts`: what was handed over."""
    counts = []
    for kind in ITEM_KINDS:
        items = getattr(progress, kind.field)
        if kind.shown(len(items)):
            mine = theirs(items)
            handed = sum(i.outcome is Outcome.HANDED_OVER for i in mine)
            counts.append(f"{handed} of {len(mine)} {kind.plural}")
    return ", ".join(counts)


def cancelled_text(progress: HandoverProgress) -> str:
    cancel = progress.cancelled
    assert cancel is not None
    moved = _moved(progress)
    lines = [
        f":no_entry: On-call handover {progress.request.outgoing} → {progress.request.incoming} "
        f"was cancelled by {cancel.by}: {_sentence(cancel.reason)}",
        f"Handed over: {moved}.",
    ]
    untouched = [
        f"• {item.label}" for item in progress.all_items() if item.outcome is Outcome.NOT_HANDED_OVER
    ]
    if untouched:
        lines += [
            "Not handed over (still with the outgoing admin):",
            *_bounded(untouched, len(untouched)),
        ]
    if progress.override is not None:
        lines.append(
            f"The PagerDuty override {progress.override.id} (incoming primary until "
            f"{format_time(progress.override.end)}) is left in place; "
            "remove it in PagerDuty if it is not wanted."
        )
    return "\n".join(lines)


def failed_text(progress: HandoverProgress) -> str:
    moved = _moved(progress)
    return (
        f":x: On-call handover {progress.request.outgoing} → {progress.request.incoming} stopped: "
        f"{progress.error}. Handed over: {moved}. Everything else is still with the outgoing admin; "
        f"`starter.py report {progress.handover_id}` lists each item. Fix the cause and start a new handover."
    )


# --- the plan ------------------------------------------------------------------------------------


def plan_waits(request: HandoverRequest, owing: Mapping[str, int]) -> list[str]:
    """Every human input a handover will wait for, by person. `owing`: per kind (its field), how
    many of its items will wait for its inputs (each of them once: ItemKind.owes)."""
    waits = []
    if request.variant is Variant.MID_SHIFT:
        waits.append(
            f"{request.senior}: the outage called mitigated (or #{request.major_incident} resolving)"
        )

    def owed(giver: Giver) -> list[str]:
        return [
            _plural(owing.get(kind.field, 0), noun)
            for kind in ITEM_KINDS
            if kind.shown(owing.get(kind.field, 0))
            for input_kind, noun in kind.owes.items()
            if BY_KIND[input_kind].given_by is giver
        ]

    if request.variant is not Variant.EMERGENCY:
        waits.append(f"{request.outgoing}: {', '.join(owed(Giver.OUTGOING))}")
    waits.append(f"{request.incoming}: {', '.join([*owed(Giver.INCOMING), ':+1: on the summary'])}")
    return waits


_PLANNED_BY_HAND = {"incidents", "tickets", "rollouts"}
"""The runbook's kinds, whose plan lines are written out in `plan_text` (steps 2 to 4)."""


def plan_text(plan: HandoverPlan) -> str:
    """`starter.py plan`: what a handover would move, and what it would wait for."""
    request = plan.request
    audit = " with the offboarding audit" if request.offboarding else ""
    lines = [
        f"Plan: {request.variant.value} handover {plan.outgoing.name} ({plan.outgoing.email}) → "
        f"{plan.incoming.name} ({plan.incoming.email}){audit}",
        f"Writes as: {plan.acting_as}",
        f"Step 1: {plan.override}",
    ]
    if plan.on_call is not None:
        state = "is" if plan.on_call.on_call else "is NOT"
        lines.append(
            f"        {plan.incoming.email} {state} on call on {plan.on_call.schedule_id} in that window"
        )
    if plan.sessions_to_end_first:
        lines.append(f"First:  end every open impersonation session: {', '.join(plan.sessions_to_end_first)}")
    incidents = [i for i in plan.incidents if i.left_alone is None]
    tickets = [t for t in plan.tickets if t.ticket.left_alone is None]
    rollouts = [r for r in plan.rollouts if r.left_alone is None]
    lines.append(f"Step 2: reassign {_plural(len(incidents), 'incident')} with a status note")
    for i in incidents:
        shared = [a.name for a in i.co_assignees(plan.outgoing.pagerduty_id)]
        kept = f"; shared with {', '.join(shared)}, who {_stay(shared)} assigned" if shared else ""
        lines.append(f"        {i.id}  #{i.number} {i.title} ({i.status}, {i.service_name}{kept})")
    lines.append(f"Step 3: hand over {_plural(len(tickets), 'pinned ticket')}")
    for planned in tickets:
        sessions = f" (end {', '.join(planned.sessions_to_end)} first)" if planned.sessions_to_end else ""
        needs = (
            f" — waits for {request.outgoing} to name the engineering issue"
            if planned.action is TicketAction.LINK_ENGINEERING_ISSUE
            and planned.ticket.engineering_issue is None
            and request.variant is not Variant.EMERGENCY
            else ""
        )
        linked = f" ({planned.ticket.engineering_issue})" if planned.ticket.engineering_issue else ""
        lines.append(
            f"        {planned.ticket.id}  {planned.ticket.subject}: {planned.action.value}"
            f"{linked}{sessions}{needs}"
        )
    lines.append(f"Step 4: transfer {_plural(len(rollouts), 'rollout')} in flight")
    lines += [
        f"        {r.id}  {r.flag} ({r.state.value}, {r.ramp_percent:g}%, errors {error_rate(r.error_rate)})"
        for r in rollouts
    ]
    for kind in ITEM_KINDS:
        if kind.field in _PLANNED_BY_HAND:  # lines of its own, above
            continue
        listed = [x for x in getattr(plan, kind.field, []) if x.left_alone is None]
        if kind.shown(len(listed)):
            lines.append(f"Then:   hand over {_plural(len(listed), kind.noun)}")
            lines += [f"        {x.id}  {kind.model(**{kind.kind: x}).what}" for x in listed]
    left = [
        f"{kind.noun} {x.id}: {x.left_alone}"
        for kind in ITEM_KINDS
        for x in (p.ticket if isinstance(p, PlannedTicket) else p for p in getattr(plan, kind.field, []))
        if x.left_alone is not None
    ]
    if left:
        lines.append("Left alone (listed, but not the outgoing admin's to hand over):")
        lines += [f"        {what}" for what in left]
    lines.append(f"Step 5: post the summary in {channel_of(plan)} and wait for the :+1:")
    if request.offboarding:
        lines.append("Step 6: check platform_audit_log for every impersonation session ended")
    lines.append("Waits for: " + ("; ".join(plan.waits_for) or "nobody"))
    lines.append("Nothing was changed: this is a plan.")
    return "\n".join(lines)


def current_details(progress: HandoverProgress, waiting_on: Sequence[str]) -> str:
    """The Temporal UI's "current details" of a handover (Temporal markdown)."""
    request = progress.request
    lines = [
        f"**{progress.phase.value.capitalize()}** · {request.variant.value} · "
        f"{request.outgoing} → {request.incoming}",
        f"Waiting on: {', '.join(waiting_on)}" if waiting_on else "Waiting on: nobody",
    ]
    for kind in ITEM_KINDS:
        items = getattr(progress, kind.field)
        if items:
            noun = kind.noun
            outcomes = Counter(item.outcome.value for item in items)
            lines.append(
                f"{_plural(len(items), noun)}: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            )
    return "\n\n".join(lines)


# --- the autopilot (workflows/autopilot.py) -------------------------------------------------------


def autopilot_notice(
    schedule_id: str,
    change: Boundary,
    starts_at: datetime,
    *,
    problem: str | None,
    paused: SteerRecord | None,
    skip: SteerRecord | None,
) -> str:
    """Before a change of person: who hands to whom and when the handover starts, or why it
    cannot (while there is time to fix the schedule), or that it will not (paused, skipped)."""
    who = f"{change.outgoing} → {change.incoming}"
    head = f"on PagerDuty schedule {schedule_id}, the shift changes at {format_time(change.at)} ({who})"
    opening = head[0].upper() + head[1:]
    if paused is not None:
        return (
            f":double_vertical_bar: The autopilot is paused ({paused.line()}): {head}, and no handover "
            f"will start. `starter.py autopilot resume {schedule_id} --why …` to go on."
        )
    if skip is not None:
        return (
            f":fast_forward: {opening}. No handover will start for it: skipped ({skip.line()}). "
            f"Start one by hand if it is needed: `starter.py start {change.outgoing} {change.incoming} "
            "--variant routine`."
        )
    if problem is not None:
        return (
            f":warning: {opening}, but the routine handover cannot start: {problem}. "
            f"Fix it before {format_time(starts_at)} (a PagerDuty override to an admin who can take "
            "over, say), or the autopilot will not start it."
        )
    return (
        f":calendar: Routine on-call handover {who} starts at {format_time(starts_at)}, before the "
        f"shift change at {format_time(change.at)} on PagerDuty schedule {schedule_id}. "
        f"To skip it: `starter.py autopilot skip-next {schedule_id} --why …`."
    )


def autopilot_cannot_read(schedule_id: str, problem: str) -> str:
    """The schedule cannot be read (a token revoked, the schedule deleted): no handover starts."""
    return (
        f":warning: The autopilot cannot read PagerDuty schedule {schedule_id}: {problem}. No routine "
        "handover starts until it can; it reads the schedule again every few hours (fix the access, or "
        f"`starter.py autopilot pause {schedule_id} --why …`)."
    )


def autopilot_refused(change: Boundary, problem: str) -> str:
    """At the start: the handover that step 0 would refuse, not started."""
    return (
        f":no_entry: The routine handover {change.outgoing} → {change.incoming} for the shift change "
        f"at {format_time(change.at)} was not started: {problem}. Hand over by hand once it is "
        f"fixed: `starter.py start {change.outgoing} <incoming> --variant routine`."
    )
