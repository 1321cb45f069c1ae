"""The handover's data: what is asked, what is found, what humans say, what is reported.

One small typed model per workflow input, human input and result. The workflow keeps its whole
state in a `HandoverProgress`; the `progress` query returns it and the result is a
`HandoverReport` made from it, so what an admin watches and what the offboarding pipeline reads
are the same records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from handover.text import by_at, cell, error_rate, format_time, plural, stay, words

PLANNED_MINIMUM_OVERLAP = timedelta(hours=2)
MAXIMUM_OVERLAP = timedelta(days=7)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not an email address")
    return value


Email = Annotated[str, AfterValidator(_email)]
"""An admin is named by email everywhere: PagerDuty, Slack and the platform all resolve it."""


def _written(ask: str, words: int = 1) -> Callable[[str], str]:
    """Text a person writes, folded (surrounding and repeated whitespace), with a refusal that says
    what was given and what to write instead (`ask`)."""

    def check(value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError(f"it is blank: {ask}")
        if len(value.split()) < words:
            raise ValueError(f"{value!r} is one word: {ask}")
        if len(value) < 3:
            raise ValueError(f"{value!r} is too short: {ask}")
        return value

    return check


Paragraph = Annotated[str, Field(max_length=2000), AfterValidator(_written("write a few words"))]
"""Text a person writes: folded; at least 3 characters (a cancel reason, a question)."""


def _in_words(ask: str) -> Any:
    """A status part or a rollout's next step as a person gives it: at least two words ("dns" is
    no hypothesis)."""
    return Annotated[str, Field(max_length=2000), AfterValidator(_written(ask, words=2))]


def _engineering_issue(value: str) -> str:
    value = value.strip()
    spaces = sum(character.isspace() for character in value)
    if spaces:
        raise ValueError(
            "an engineering issue is a key like ENG-1234 or a URL, without spaces "
            f"({value!r} has {'one' if spaces == 1 else spaces})"
        )
    if len(value) < 2:
        raise ValueError(f"an engineering issue is a key like ENG-1234 or a URL ({value!r} is too short)")
    return value


EngineeringIssue = Annotated[str, Field(max_length=500), AfterValidator(_engineering_issue)]
"""A URL or a key such as ENG-1234."""

_SLACK_TS = re.compile(r"^\d{9,11}\.\d{6}$")


def _slack_ts(value: str) -> str:
    value = value.strip()
    if not _SLACK_TS.match(value):
        raise ValueError(
            f"{value[:40]!r} is not a Slack thread: name it by its timestamp, like 1764342000.000100 "
            "(`starter.py digest` lists the channel's threads)"
        )
    return value


SlackTs = Annotated[str, AfterValidator(_slack_ts)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def workflow_id_for(outgoing: str) -> str:
    """One live handover per outgoing admin: the workflow id is derived from their email."""
    return f"handover-{_email(outgoing)}"


# --- the request ---------------------------------------------------------------------------


class Variant(StrEnum):
    """The runbook's variations: branches of the one workflow, chosen at start."""

    PLANNED = "planned"
    """A planned rotation change: override for at least 2 h, every status paragraph."""
    ROUTINE = "routine"
    """Routine weekly rotation: PagerDuty's auto-rotation gives the overlap; no override."""
    EMERGENCY = "emergency"
    """Outgoing incapacitated or compromised: override at once, no status paragraphs."""
    MID_SHIFT = "mid-shift"
    """Both on during an outage: the senior leads; the formal handover follows mitigation."""


class EmergencyReason(StrEnum):
    INCAPACITATED = "incapacitated"
    COMPROMISED = "compromised"


class ReminderPolicy(Model):
    """When a pending human input is chased: a thread mention, then the channel, then again."""

    remind_after: timedelta = timedelta(minutes=30)
    escalate_after: timedelta = timedelta(hours=2)
    repeat_every: timedelta = timedelta(hours=4)
    max_escalations: int = Field(default=3, ge=1, le=50)
    """After this many escalations of one input the channel is left alone (a days-long outage)."""

    @model_validator(mode="after")
    def _check(self) -> ReminderPolicy:
        if min(self.remind_after, self.escalate_after, self.repeat_every) < timedelta(minutes=1):
            raise ValueError("reminder intervals must be at least one minute")
        if self.escalate_after <= self.remind_after:
            raise ValueError("escalation must come after the first reminder")
        return self


class HandoverRequest(Model):
    """What the requester (an admin, or the offboarding pipeline) asks for."""

    outgoing: Email
    incoming: Email
    variant: Variant = Variant.PLANNED
    offboarding: bool = False
    reason: str | None = Field(default=None, max_length=500)
    """Why; for an emergency it starts with `incapacitated` or `compromised`."""
    requested_by: str = Field(min_length=1, max_length=254)
    overlap: timedelta = PLANNED_MINIMUM_OVERLAP
    senior: Email | None = None
    """Mid-shift outage: the senior admin who leads (one of the two); the other shadows."""
    major_incident: str | None = Field(default=None, min_length=1, max_length=64)
    """Mid-shift outage: the PagerDuty incident whose mitigation the formal handover waits for."""
    mitigation_poll: timedelta = Field(default=timedelta(minutes=1), ge=timedelta(seconds=1))
    """Mid-shift outage: the pause between two watches of the major incident."""
    reminders: ReminderPolicy = ReminderPolicy()
    demo: bool = False
    """Demo mode (the demo scenario only): allows an overlap under the planned minimum."""

    @property
    def emergency_reason(self) -> EmergencyReason | None:
        if self.variant is not Variant.EMERGENCY or not self.reason:
            return None
        word = self.reason.strip().split(maxsplit=1)[0].rstrip(":,.;").lower()
        return EmergencyReason(word) if word in set(EmergencyReason) else None

    @model_validator(mode="after")
    def _check(self) -> HandoverRequest:
        if self.outgoing == self.incoming:
            raise ValueError("outgoing and incoming are the same admin; hand over to someone else")
        if self.overlap <= timedelta(0) or self.overlap > MAXIMUM_OVERLAP:
            raise ValueError("overlap must be more than 0 and at most 7 days")
        if (
            self.variant in (Variant.PLANNED, Variant.MID_SHIFT)
            and not self.demo
            and self.overlap < PLANNED_MINIMUM_OVERLAP
        ):
            raise ValueError(
                f"a {self.variant.value} handover needs at least 2 hours of overlap; pass --demo "
                '(HTTP: "demo": true) to allow a shorter one on the demo scenario'
            )
        if self.variant is Variant.EMERGENCY and self.emergency_reason is None:
            raise ValueError("an emergency handover needs a reason: incapacitated or compromised")
        if self.variant is Variant.MID_SHIFT:
            if self.senior is None or self.major_incident is None:
                raise ValueError(
                    "a mid-shift handover names the senior admin who leads and the major incident"
                )
            if self.senior not in (self.outgoing, self.incoming):
                raise ValueError("the senior admin who leads must be the outgoing or the incoming admin")
        elif self.senior is not None or self.major_incident is not None:
            raise ValueError("a senior admin and a major incident are named for a mid-shift handover only")
        return self


class Admin(Model):
    """An admin resolved in every system the handover touches."""

    email: str
    name: str
    pagerduty_id: str
    slack_id: str | None = None


class AdminPair(Model):
    outgoing: Admin
    incoming: Admin


# --- what is found in the systems ----------------------------------------------------------


class Assignee(Model):
    """A PagerDuty user an incident is assigned to."""

    id: str
    name: str


class Incident(Model):
    id: str
    number: int
    title: str
    status: str
    urgency: str
    service_id: str
    service_name: str
    html_url: str
    created_at: datetime
    assignees: list[Assignee] = []
    """Everyone the incident is assigned to when listed: outgoing, and any co-assignees, who keep it."""
    left_alone: str | None = None
    """Set by the listing when PagerDuty listed an incident that is not the outgoing admin's
    (not assigned to them, not open, not on a platform-ops service): why it is left alone."""

    def co_assignees(self, outgoing_id: str) -> list[Assignee]:
        """The others who share the incident with the outgoing admin: they stay assigned."""
        return [a for a in self.assignees if a.id != outgoing_id]


class TicketState(StrEnum):
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    WAITING_ON_ENGINEERING = "waiting_on_engineering"
    ACTIVE = "active"
    OPEN = "open"
    SOLVED = "solved"


class Ticket(Model):
    id: str
    subject: str
    customer: str
    state: TicketState
    assignee: str
    pinned: bool
    labels: list[str] = []
    engineering_issue: str | None = None
    left_alone: str | None = None
    """Set by the listing when the tracker listed a ticket that is not the outgoing admin's to
    hand over (another assignee, not pinned, solved): why it is left alone."""


class ImpersonationSession(Model):
    """A session is listed by id only: its token is never read (tokens are per human)."""

    id: str
    admin: str
    ticket_id: str | None
    state: str
    started_at: datetime


class RolloutState(StrEnum):
    """The console's states; a handover moves the rollouts ramping or paused (in flight)."""

    DRAFT = "draft"
    RAMPING = "ramping"
    PAUSED = "paused"
    COMPLETE = "complete"
    ROLLED_BACK = "rolled_back"


class Rollout(Model):
    id: str
    flag: str
    state: RolloutState
    ramp_percent: float
    error_rate: float | None
    """Last observed error rate in percent; None when the console has no figure yet (unknown)."""
    owner: str
    left_alone: str | None = None
    """Set by the listing when the console listed a rollout that is not the outgoing admin's in
    flight (owned by someone else, not ramping or paused): why it is left alone."""


class Override(Model):
    id: str
    user_id: str
    start: datetime
    end: datetime


# --- human inputs (each is an Update with a validator, and a Signal with the same payload) -----


class InputKind(StrEnum):
    """The name of every human input; also the name of its Update and its Signal."""

    STATUS = "submit_status"
    GROUP_STATUS = "submit_status_for_incidents"
    """Outgoing, in one input: one status paragraph for incidents that share a cause (an alert storm)."""
    INCIDENT_ACK = "acknowledge_incident"
    ENGINEERING_LINK = "link_engineering_issue"
    ROLLOUT_ANNOTATION = "annotate_rollout"
    ROLLOUT_OWNERSHIP = "take_rollout_ownership"
    SUMMARY_ACK = "acknowledge_summary"
    ALL_INCIDENTS_ACK = "acknowledge_all_incidents"
    """Incoming, in one input: every incident ready for an acknowledgement (an alert storm)."""
    ALL_ROLLOUTS_OWNERSHIP = "take_all_rollouts"
    """Incoming, in one input: ownership of every annotated rollout."""
    MITIGATED = "declare_mitigated"
    UNCLEAR_THREAD = "flag_unclear_thread"
    CANCEL = "cancel"


class StatusParagraph(Model):
    """The runbook's one-paragraph status: current hypothesis, last action, next action."""

    hypothesis: Paragraph
    last_action: Paragraph
    next_action: Paragraph


class IncidentStatusInput(StatusParagraph):
    actor: Email
    incident_id: str = Field(min_length=1, max_length=64)


GROUP_LIMIT = 10_000
"""Incidents one status paragraph may be given for at once (a storm's worth; one Update of ids)."""
IncidentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class IncidentsStatusInput(StatusParagraph):
    """One status paragraph for incidents that share a cause: recorded per incident, and each still
    gets its own note and reassignment."""

    actor: Email
    incident_ids: list[IncidentId] = Field(min_length=1, max_length=GROUP_LIMIT)


class IncidentAckInput(Model):
    actor: Email
    incident_id: str = Field(min_length=1, max_length=64)


class EngineeringLinkInput(Model):
    actor: Email
    ticket_id: str = Field(min_length=1, max_length=64)
    issue: EngineeringIssue


class RolloutAnnotation(Model):
    ramp_percent: float = Field(ge=0, le=100)
    error_rate: float | None = Field(ge=0, le=100)
    """Last observed error rate, in percent; None when it is not known (never a made-up 0)."""
    next_step: Paragraph
    """The next planned ramp step, e.g. "25% on Tuesday if errors stay under 0.5%"."""


class RolloutAnnotationInput(RolloutAnnotation):
    actor: Email
    rollout_id: str = Field(min_length=1, max_length=64)


class RolloutOwnershipInput(Model):
    actor: Email
    rollout_id: str = Field(min_length=1, max_length=64)


class SummaryAckInput(Model):
    actor: Email


class AllItemsInput(Model):
    """Incoming, for every item ready for this input at once; recorded per item."""

    actor: Email


class MitigatedInput(Model):
    """Mid-shift: the outage is mitigated; the formal handover can start."""

    actor: Email
    note: str | None = Field(default=None, max_length=2000)


class UnclearThreadInput(Model):
    """Incoming flags a Slack thread nobody could explain, for a team-wide catch-up."""

    actor: Email
    thread_ts: SlackTs
    question: Paragraph


class CancelInput(Model):
    actor: str = Field(min_length=1, max_length=254)
    """The requester, or either admin."""
    reason: Paragraph


class WrittenStatus(StatusParagraph):
    """A status paragraph as a person gives it (starter.py, the endpoint, the console): each part
    in a few words. The `StatusParagraph` a handover keeps, and the inputs Temporal carries, keep
    the looser rule, so a handover that took a shorter one before still decodes and replays."""

    hypothesis: _in_words("write what you think is happening, in a few words")
    last_action: _in_words("write what was done last, in a few words")
    next_action: _in_words("write what is to be done next, in a few words")


class WrittenGroupStatus(WrittenStatus):
    """One status paragraph for a chosen set of incidents, as a person gives it."""

    incident_ids: list[IncidentId] = Field(
        min_length=1, max_length=GROUP_LIMIT, description="The incidents it is for (their PagerDuty ids)"
    )


class WrittenAnnotation(RolloutAnnotation):
    """A rollout's annotation as a person gives it: the next step in a few words (see above)."""

    next_step: _in_words("write the next planned ramp step, e.g. '25% on Tuesday if errors stay under 0.5%'")


class WrittenLink(Model):
    """The engineering issue for a ticket, as a person gives it."""

    issue: EngineeringIssue = Field(description="URL or key, e.g. ENG-1234")


class WrittenMitigation(Model):
    note: str | None = Field(default=None, max_length=2000)


class WrittenQuestion(Model):
    thread_ts: SlackTs = Field(description="The Slack thread's timestamp")
    question: Paragraph


class WrittenReason(Model):
    reason: Paragraph


class SlackReactionEvent(Model):
    """A reaction someone added in Slack (Events API `reaction_added`), relayed by the endpoint."""

    user_id: str
    channel: str
    ts: str
    reaction: str


class SlackActionEvent(Model):
    """A Block Kit button pressed in Slack (interactivity `block_actions`)."""

    user_id: str
    action_id: str
    channel: str = ""
    message_ts: str = ""
    """The message the button is on: only the current summary's button counts."""


class PagerDutyEvent(Model):
    """A PagerDuty webhook (v3) event about an incident, relayed by the endpoint."""

    event_type: str
    incident_id: str
    agent_id: str | None = None


HumanInput = (
    IncidentStatusInput
    | IncidentAckInput
    | EngineeringLinkInput
    | RolloutAnnotationInput
    | RolloutOwnershipInput
    | SummaryAckInput
    | AllItemsInput
    | MitigatedInput
    | UnclearThreadInput
    | CancelInput
)


class InputAccepted(Model):
    """What an accepted Update answers."""

    kind: InputKind
    item_id: str | None
    message: str


class IncidentGroup(Model):
    """Incidents waiting for a status paragraph that look like one cause to PagerDuty: one service,
    and one title apart from its numbers. Suggested for one status paragraph (GROUP_STATUS)."""

    label: str
    """e.g. `Disk full on db-# (checkout-api)`."""
    incident_ids: list[str]


class PendingInput(Model):
    kind: InputKind
    owner: str
    item_id: str | None
    since: datetime


class RejectedInput(Model):
    """A Signal that failed validation: recorded, never applied."""

    at: datetime
    kind: InputKind
    actor: str
    item_id: str | None
    reason: str


# --- per-item state and outcome ------------------------------------------------------------


class Outcome(StrEnum):
    PENDING = "pending"
    HANDED_OVER = "handed_over"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_HANDED_OVER = "not_handed_over"
    """The handover was cancelled before this item moved; it was left untouched."""


class Done(Model):
    """Who did something, and when."""

    by: str
    at: datetime
    via: str | None = None
    """How, when it was not the item's own input: e.g. "acknowledge all"."""


class ItemResult(Model):
    """What an activity did to one item of a batch."""

    item_id: str
    outcome: Outcome
    detail: str | None = None
    ref: str | None = None
    """The id of what was written for the item: the note, the annotation."""
    sessions_ended: list[str] = []
    kept: list[str] = []
    """Incidents: the co-assignees who stay assigned beside incoming (names)."""


Owed = tuple[InputKind, str, str | None, datetime]
"""An input an item waits for: its kind, who owes it (email), the item's id, since when."""


@dataclass(frozen=True)
class Owing:
    """What an item needs to say what it is owed: who the two admins are, when the inventory
    listed it, and whether the outgoing admin can answer (not in an emergency)."""

    outgoing: str
    incoming: str
    listed: datetime
    from_outgoing: bool


class ItemHandover(Model):
    """What every item of a handover carries (incidents, tickets and rollouts; ITEM_KINDS): where
    it stands, how it ended, what it is owed and how it reads. A kind of item declares these
    once, here, and the counting, the reminders, the messages, the report and the status work
    every kind alike."""

    kind: ClassVar[str]
    """Its row in ITEM_KINDS, and the field naming what was listed: `incident`, `ticket`, `rollout`."""
    stage: str = "queued"
    outcome: Outcome = Outcome.PENDING
    detail: str | None = None

    @property
    def listed(self) -> Any:
        """What the listing returned for the item (its field is named after the kind): an
        `Incident`, a `Ticket`, a `Rollout`; each has an `id` and a `left_alone`."""
        return getattr(self, self.kind)

    def owed(self, owing: Owing) -> Iterator[Owed]:
        """The inputs this pending item waits for, in the order they are given."""
        return iter(())

    def cut_short(self) -> None:
        """A cancel or a failure: what the item got to before the handover stopped."""

    @property
    def what(self) -> str:
        """The item in a row of the status and the console: `#4012 checkout latency`."""
        return self.listed.id

    @property
    def label(self) -> str:
        """The item in a sentence: `incident #4012 checkout latency`."""
        return f"{words(self.kind)} {self.listed.id}"

    def line(self) -> str:
        """Its line in the summary's thread (the outcome follows it)."""
        return f"• {self.what}"

    @property
    def outcome_text(self) -> str:
        """`handed over`, `skipped: solved: nothing to hand over`: the report's words."""
        return words(self.outcome.value) + (f": {self.detail}" if self.detail else "")

    def cells(self, outgoing: Admin | None) -> list[str]:
        """Its row in the report, under its kind's columns (ITEM_KINDS): Markdown cells (`cell`)."""
        return [cell(self.what), cell(self.outcome_text)]


def done_text(done: Done | None) -> str:
    """Who did it, and when, in the report (`—` if nobody has)."""
    return by_at(done.by, done.at) if done else "—"


class IncidentHandover(ItemHandover):
    kind = "incident"
    incident: Incident
    stage: str = "waiting for status paragraph"
    status: StatusParagraph | None = None
    status_given: Done | None = None
    note_id: str | None = None
    reassigned: Done | None = None
    acknowledged: Done | None = None
    rescanned: bool = False
    """Found by the re-scan before the summary: assigned to outgoing during the window."""
    found_at: datetime | None = None
    """When the re-scan found it: its status paragraph is owed from then, not from the inventory."""
    kept: list[str] = []
    """Co-assignees who share the incident and stay assigned beside incoming (names)."""
    draft: str | None = None
    """PagerDuty's latest note on the incident when it was listed: the status form's draft of the
    last action, which the outgoing admin confirms or changes. None: no note, or not read yet."""

    def owed(self, owing: Owing) -> Iterator[Owed]:
        found = self.found_at or owing.listed  # (a re-scanned incident is owed from when it was found)
        if self.status_given is None and owing.from_outgoing:
            yield InputKind.STATUS, owing.outgoing, self.incident.id, found
        elif self.acknowledged is None:
            since = self.status_given.at if self.status_given else found
            yield InputKind.INCIDENT_ACK, owing.incoming, self.incident.id, since

    def cut_short(self) -> None:
        if self.reassigned is not None:
            self.outcome = Outcome.HANDED_OVER
            self.detail = "reassigned with its note; not acknowledged"

    def shared_with(self, outgoing: Admin | None) -> list[str]:
        """Who shares the incident with the outgoing admin and stays assigned beside incoming: as
        PagerDuty had it when reassigned, else as listed."""
        if self.kept or self.reassigned is not None:
            return list(self.kept)
        return [a.name for a in self.incident.co_assignees(outgoing.pagerduty_id if outgoing else "")]

    @property
    def what(self) -> str:
        return f"#{self.incident.number} {self.incident.title}"

    @property
    def label(self) -> str:
        return f"incident {self.what}"

    def line(self) -> str:
        incident = self.incident
        line = f"• <{incident.html_url}|#{incident.number} {incident.title}>"
        if self.rescanned:
            line += " _(picked up by the re-scan)_"
        if self.kept:
            line += f" _(shared: {', '.join(self.kept)} {stay(self.kept)} assigned)_"
        if self.status is not None:
            line += (
                f"\n   hypothesis: {self.status.hypothesis}"
                f"\n   last action: {self.status.last_action}"
                f"\n   next action: {self.status.next_action}"
            )
        if self.acknowledged is not None:
            line += f"\n   acknowledged by {by_at(self.acknowledged.by, self.acknowledged.at)}"
        return line

    def cells(self, outgoing: Admin | None) -> list[str]:
        status = (
            f"Hypothesis: {self.status.hypothesis} Last: {self.status.last_action} "
            f"Next: {self.status.next_action}"
            if self.status
            else None
        )
        return [
            f"#{self.incident.number} {cell(self.incident.title)} ({self.incident.id})",
            cell(self.outcome_text),
            cell(status),
            cell(self.note_id),
            done_text(self.reassigned),
            done_text(self.acknowledged),
            cell(", ".join(self.shared_with(outgoing))),
        ]


class TicketAction(StrEnum):
    LABEL_WAITING_ON_CUSTOMER = "reassign + label waiting_on_customer"
    LINK_ENGINEERING_ISSUE = "reassign + link engineering issue"
    END_IMPERSONATION_FIRST = "end impersonation, then reassign"
    REASSIGN = "reassign"


class TicketHandover(ItemHandover):
    kind = "ticket"
    ticket: Ticket
    action: TicketAction
    stage: str = "queued"
    sessions_to_end: list[str] = []
    sessions_ended: list[str] = []
    engineering_issue: str | None = None
    engineering_issue_given: Done | None = None
    reassigned: Done | None = None

    def owed(self, owing: Owing) -> Iterator[Owed]:
        if (
            owing.from_outgoing
            and self.action is TicketAction.LINK_ENGINEERING_ISSUE
            and self.engineering_issue is None
        ):
            yield InputKind.ENGINEERING_LINK, owing.outgoing, self.ticket.id, owing.listed

    @property
    def action_taken(self) -> str:
        """What handing the ticket over takes; nothing for one the listing had no business returning."""
        return "left alone" if self.ticket.left_alone is not None else self.action.value

    @property
    def what(self) -> str:
        return f"{self.ticket.subject} [{self.action_taken}]"

    @property
    def label(self) -> str:
        return f"ticket {self.ticket.id} {self.ticket.subject}"

    def line(self) -> str:
        ticket = self.ticket
        line = f"• {ticket.id} {ticket.subject} ({ticket.customer}) — {self.action_taken}"
        if self.engineering_issue:
            line += f", engineering issue {self.engineering_issue}"
        if self.sessions_ended:
            line += f", impersonation ended: {', '.join(self.sessions_ended)}"
        return line

    def cells(self, outgoing: Admin | None) -> list[str]:
        return [
            f"{self.ticket.id} {cell(self.ticket.subject)}",
            self.action_taken,
            cell(self.outcome_text),
            cell(", ".join(self.sessions_ended)),
            cell(self.engineering_issue),
            done_text(self.reassigned),
        ]


class RolloutHandover(ItemHandover):
    kind = "rollout"
    rollout: Rollout
    stage: str = "waiting for annotation"
    annotation: RolloutAnnotation | None = None
    annotated: Done | None = None
    annotation_id: str | None = None
    owned: Done | None = None

    def owed(self, owing: Owing) -> Iterator[Owed]:
        if self.annotated is None:
            if owing.from_outgoing:
                yield InputKind.ROLLOUT_ANNOTATION, owing.outgoing, self.rollout.id, owing.listed
        elif self.owned is None:
            yield InputKind.ROLLOUT_OWNERSHIP, owing.incoming, self.rollout.id, self.annotated.at

    def cut_short(self) -> None:
        if self.annotation_id is not None:
            self.outcome = Outcome.NOT_HANDED_OVER
            self.detail = "annotated, but ownership was not transferred"
            self.stage = "annotated, not transferred"

    @property
    def what(self) -> str:
        return f"{self.rollout.flag} ({self.rollout.state.value})"

    @property
    def label(self) -> str:
        return f"rollout {self.rollout.flag}"

    def line(self) -> str:
        line = f"• {self.what}"
        if self.annotation is not None:
            line += (
                f" — at {self.annotation.ramp_percent:g}%, error rate "
                f"{error_rate(self.annotation.error_rate)}, next: {self.annotation.next_step}"
            )
        if self.owned is not None:
            line += f"; owned by {self.owned.by}"
        return line

    def cells(self, outgoing: Admin | None) -> list[str]:
        annotation = (
            f"{self.annotation.ramp_percent:g}% ramp, error rate {error_rate(self.annotation.error_rate)}, "
            f"next: {self.annotation.next_step}"
            if self.annotation
            else None
        )
        return [
            f"{self.rollout.flag} ({self.rollout.id}, {self.rollout.state.value})",
            cell(self.outcome_text),
            cell(annotation),
            done_text(self.annotated),
            done_text(self.owned),
        ]


class Summary(Model):
    channel: str
    ts: str
    text: str
    posted_at: datetime
    acknowledged: Done | None = None


class OnCallCheck(Model):
    """Routine rotation: is incoming on call on the schedule during the overlap?"""

    schedule_id: str
    on_call: bool
    start: datetime
    end: datetime


class DigestEntry(Model):
    at: datetime | None = None
    who: str
    text: str


class IncidentContext(Model):
    incident_id: str
    title: str
    entries: list[DigestEntry]


class IncidentDraft(Model):
    """An incident's newest note in PagerDuty (None: it has none): its status form's draft."""

    incident_id: str
    note: str | None = None


class TicketContext(Model):
    ticket_id: str
    subject: str
    entries: list[DigestEntry]


class ChannelThread(Model):
    ts: str
    who: str
    text: str
    replies: list[DigestEntry] = []


class ContextDigest(Model):
    """Emergency: what incoming reads instead of status paragraphs."""

    built_at: datetime
    incidents: list[IncidentContext] = []
    tickets: list[TicketContext] = []
    channel: list[ChannelThread] = []
    """The last hour of the platform-ops channel, with thread replies."""
    gaps: list[str] = []
    """Parts that could not be read; the digest is built from the rest."""


class UnclearThread(Model):
    thread_ts: str
    question: str
    flagged: Done
    posted_ts: str | None = None


class ReminderMark(Model):
    """What was sent for one pending input."""

    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    escalations: int = 0


class Cancellation(Model):
    by: str
    at: datetime
    reason: str


class AuditResult(Model):
    checked_sessions: list[str]
    missing_sessions: list[str]
    checked_at: datetime

    @property
    def complete(self) -> bool:
        return not self.missing_sessions


class Phase(StrEnum):
    VALIDATING = "validating"
    OUTAGE = "waiting for the outage to be mitigated"
    FREEZING = "freezing assignments"
    HANDING_OVER = "handing over"
    SUMMARY = "waiting for summary acknowledgement"
    AUDITING = "auditing"
    OVERLAP = "waiting for overlap to end"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (Phase.COMPLETED, Phase.CANCELLED, Phase.FAILED)


@dataclass(frozen=True)
class ItemKind:
    """One kind of item a handover moves, declared once: its model (which says what each item is
    owed and how it reads), its list in the progress, how the messages and the report name the
    kind, and the read-only activity that lists what the outgoing admin owns of it."""

    model: type[ItemHandover]
    field: str
    """Its list in `HandoverProgress` (and in the report's JSON): `incidents`."""
    title: str
    """Its section of the report and its reply in the summary's thread: `Pinned tickets`."""
    counted: Callable[[int], str]
    """How the to-do counts what was found: `3 open incidents`, `1 rollout in flight`."""
    none: str
    """The summary's thread reply when there were none."""
    columns: tuple[str, ...]
    """The report's table: the headings of `model.cells`."""
    owes: dict[InputKind, str]
    """The inputs its items wait for, each with its noun in the reminders and the to-do."""
    about: Callable[[Any, str], str]
    """A reminder's words for one item (or its id, if the item is not found): `for ticket T-1`."""
    listing: str
    """The activity listing outgoing's (workflows/lookups.py): `list_rollouts_in_flight`."""
    listed_by: str = "email"
    """The outgoing admin's field it is given: `email`, or `pagerduty_id`."""
    patch: str | None = None
    """For a kind added while handovers run: the `workflow.patched` id that guards its listing."""

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def noun(self) -> str:
        """The kind in words: `change request`."""
        return words(self.kind)

    @property
    def plural(self) -> str:
        """Its items in words: `change requests` (its field)."""
        return words(self.field)

    def shown(self, count: int) -> bool:
        """Whether the messages, the report and the plan speak of this kind: the runbook's always
        ("0 pinned tickets"), a kind added later only when there are some (a handover started
        before it never lists any, and says nothing new)."""
        return self.patch is None or count > 0


def _about_incident(item: IncidentHandover | None, item_id: str) -> str:
    return f"for incident {item.what if item else item_id}"


ITEM_KINDS: tuple[ItemKind, ...] = (
    ItemKind(
        IncidentHandover,
        "incidents",
        title="Incidents",
        counted=lambda n: plural(n, "open incident"),
        none="No open incidents on the platform-ops services.",
        columns=(
            "Incident",
            "Outcome",
            "Status paragraph",
            "Note",
            "Reassigned",
            "Acknowledged",
            "Shared with (kept)",
        ),
        owes={InputKind.STATUS: "status paragraph", InputKind.INCIDENT_ACK: "incident acknowledgement"},
        about=_about_incident,
        listing="list_open_incidents",
        listed_by="pagerduty_id",
    ),
    ItemKind(
        TicketHandover,
        "tickets",
        title="Pinned tickets",
        counted=lambda n: plural(n, "pinned ticket"),
        none="No pinned tickets.",
        columns=("Ticket", "Action", "Outcome", "Sessions ended", "Engineering issue", "Reassigned"),
        owes={InputKind.ENGINEERING_LINK: "engineering issue"},
        about=lambda item, item_id: f"for ticket {item_id}",
        listing="list_pinned_tickets",
    ),
    ItemKind(
        RolloutHandover,
        "rollouts",
        title="Rollouts in flight",
        counted=lambda n: plural(n, "rollout") + " in flight",
        none="No rollouts ramping or paused.",
        columns=("Rollout", "Outcome", "Annotation", "Annotated", "Owned by incoming"),
        owes={
            InputKind.ROLLOUT_ANNOTATION: "rollout annotation",
            InputKind.ROLLOUT_OWNERSHIP: "rollout ownership",
        },
        about=lambda item, item_id: f"of {item.rollout.flag if item else item_id}",
        listing="list_rollouts_in_flight",
    ),
)
"""The kinds of item a handover moves, in the runbook's order. Adding one: docs/architecture.md."""


class HandoverProgress(Model):
    """Everything the workflow knows; returned by the `progress` query."""

    handover_id: str
    run_id: str = ""
    request: HandoverRequest
    phase: Phase = Phase.VALIDATING
    started_at: datetime
    outgoing: Admin | None = None
    incoming: Admin | None = None
    acting_as: str | None = None
    """Whose name PagerDuty and the platform record for the handover's writes: the outgoing
    admin, or the service's own identity when outgoing is compromised."""
    thread_ts: str | None = None
    """The handover's announcement in the channel; reminders go in its thread."""
    channel: str | None = None
    """The team's platform-ops channel by name (`#kestrel-oncall`), as step 0 found it."""
    # mid-shift outage
    lead: str | None = None
    shadow: str | None = None
    major_incident: Incident | None = None
    mitigated: Done | None = None
    mitigation_note: str | None = None
    # step 1
    override: Override | None = None
    extensions: list[Override] = []
    """Overrides that continue the first one while people are still handing over."""
    on_call: OnCallCheck | None = None
    overlap_ends_at: datetime | None = None
    sessions_ended_first: list[str] = []
    """Compromised: every open impersonation session of outgoing, ended before anything moved."""
    # steps 2-4
    inventory_at: datetime | None = None
    """When incidents, tickets and rollouts were listed: outgoing's inputs are owed from then."""
    incidents: list[IncidentHandover] = []
    tickets: list[TicketHandover] = []
    rollouts: list[RolloutHandover] = []
    digest: ContextDigest | None = None
    unclear_threads: list[UnclearThread] = []
    # steps 5-6
    summary: Summary | None = None
    audit: AuditResult | None = None
    # people
    pending: list[PendingInput] = []
    status_groups: list[IncidentGroup] = []
    """Filled by the progress query: the groups suggested for one status paragraph each."""
    reminders: dict[str, ReminderMark] = {}
    """Per pending input (`kind:item`): when it was reminded and escalated."""
    rejected: list[RejectedInput] = []
    cancelled: Cancellation | None = None
    error: str | None = None

    def items(self) -> list[tuple[str, list[ItemHandover]]]:
        """Every item, by kind, in ITEM_KINDS' order: `[("incident", [...]), ("ticket", ...), ...]`."""
        return [(kind.kind, getattr(self, kind.field)) for kind in ITEM_KINDS]

    def all_items(self) -> list[ItemHandover]:
        return [item for _, items in self.items() for item in items]

    @property
    def key(self) -> str:
        """This run of the handover: idempotency keys and message markers use it, so a later
        handover of the same admin (same workflow id) never mistakes an earlier one's writes."""
        return f"{self.handover_id}#{self.run_id[:8]}" if self.run_id else self.handover_id


class PlannedTicket(Model):
    ticket: Ticket
    action: TicketAction
    sessions_to_end: list[str] = []


class HandoverPlan(Model):
    """What a handover would move, read with no side effect (`starter.py plan`)."""

    request: HandoverRequest
    outgoing: Admin
    incoming: Admin
    acting_as: str
    channel: str | None = None
    """The team's platform-ops channel by name, as step 0 found it."""
    override: str
    on_call: OnCallCheck | None = None
    sessions_to_end_first: list[str] = []
    incidents: list[Incident] = []
    tickets: list[PlannedTicket] = []
    rollouts: list[Rollout] = []
    waits_for: list[str] = []
    """The human inputs the handover will wait for."""


class HandoverReport(HandoverProgress):
    """The result: what the offboarding pipeline reads before it revokes access."""

    completed_at: datetime

    @property
    def counts(self) -> dict[str, int]:
        """What was handed over, by kind: `{"incidents": 2, "tickets": 5, "rollouts": 3}`."""
        return {
            kind.field: sum(item.outcome is Outcome.HANDED_OVER for item in getattr(self, kind.field))
            for kind in ITEM_KINDS
        }


# --- the autopilot: a schedule's routine handovers, started at each shift change ------------------


class Boundary(Model):
    """A change of person on the schedule."""

    at: datetime
    outgoing: str | None
    """The email of who is on call until then; None if nobody was."""
    incoming: str


class BoundaryRecord(Model):
    boundary: Boundary
    at: datetime
    """When the autopilot acted on it."""
    handover_id: str | None = None
    started: bool = False
    detail: str
    """What happened: started, or why not (someone started it by hand, a handover in the way)."""


class Steer(Model):
    """A person steering the autopilot (pause, resume, skip-next): who and why, both recorded."""

    by: str = Field(min_length=1, max_length=254)
    """Who: an email, or the endpoint token's name (`service:…`); the CLI's `--as`."""
    why: str = Field(min_length=1, max_length=500)
    """Why, in a sentence: shown in the status and the channel."""

    @model_validator(mode="after")
    def _said(self) -> Steer:
        if not self.why.strip():
            raise ValueError("why: say why in a few words (it is recorded and shown in the channel)")
        return self


class SteerAction(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    SKIP_NEXT = "skip-next"


class SteerRecord(Model):
    action: SteerAction
    by: str
    why: str
    at: datetime
    change_at: datetime | None = None
    """skip-next: the change that was next when it was asked (the next one handled is skipped)."""

    def line(self) -> str:
        return f"{self.action.value} by {self.by} at {format_time(self.at)}: {self.why}"


def autopilot_id(schedule_id: str) -> str:
    """One autopilot per schedule: a second for the same schedule cannot run beside it."""
    return f"autopilot-{schedule_id}"


class AutopilotRequest(Model):
    """Run the routine handover of one PagerDuty schedule at each change of person: `lead` before
    it, from whoever is on call to whoever is next (docs/autopilot.md)."""

    schedule_id: str = Field(pattern=r"^[A-Za-z0-9]{1,32}$")
    requested_by: str = Field(min_length=1, max_length=254)
    lead: timedelta = Field(default=timedelta(hours=2), ge=timedelta(seconds=10), le=timedelta(days=2))
    """How long before the shift change the handover starts (seconds are for trying it on a
    sandbox schedule whose turns last a minute)."""
    notice: timedelta = Field(default=timedelta(days=1), ge=timedelta(0), le=timedelta(days=7))
    """How long before the handover starts the channel hears who hands to whom, and whether the
    next person can be handed to (so there is time to fix the schedule)."""
    recheck: timedelta = Field(default=timedelta(hours=6), ge=timedelta(minutes=1))
    """While it waits, how often it reads the schedule again (an override or a swap moves the change)."""
    horizon: timedelta = Field(default=timedelta(days=35), ge=timedelta(days=1), le=timedelta(days=45))
    """How far ahead it looks for the next change of person."""
    handled_until: datetime | None = None
    """Carried over when it continues as new: changes at or before this are done."""
    history: list[BoundaryRecord] = []
    """The last changes it handled, newest last (carried over, at most `KEPT`)."""
    paused: SteerRecord | None = None
    """Carried over: paused by whom and why (no handover starts until resumed)."""
    skip: SteerRecord | None = None
    """Carried over: the next change is skipped (asked by whom and why)."""
    steers: list[SteerRecord] = []
    """Carried over: who steered it and why, newest last (at most `KEPT`)."""
    noticed: str | None = None
    """Carried over: the last change the channel was told of (its notice's key)."""
    handover_task_queue: str | None = None
    """The task queue its handovers run on (None: its own, whose worker runs them too)."""
    trouble: str | None = None
    """Carried over: why the schedule cannot be read now (the channel was told once)."""
    watching_since: datetime | None = None
    """Set by its first run: when it began to follow the schedule (a handover done by hand since
    counts for the first change)."""


class AutopilotStatus(Model):
    schedule_id: str
    read_at: datetime | None = None
    """When it last read the schedule (None: not yet; then `next` says nothing)."""
    next: Boundary | None = None
    starts_at: datetime | None = None
    """When the next handover will start (`lead` before the change)."""
    lead: timedelta = timedelta(hours=2)
    paused: SteerRecord | None = None
    skip: SteerRecord | None = None
    history: list[BoundaryRecord] = []
    steers: list[SteerRecord] = []
    trouble: str | None = None
    """Why the schedule cannot be read now: no handover starts until it can."""

    def summary(self) -> str:
        """One line: what happens next (the Temporal UI's current details, `autopilot status`)."""
        if self.trouble is not None:
            return f"cannot read the schedule: {self.trouble} (reads it again every recheck)"
        if self.paused is not None:
            return f"paused by {self.paused.by}: {self.paused.why} (`starter.py autopilot resume`)"
        if self.read_at is None:
            return "reading the schedule"
        if self.next is None:
            return "no change of person on the schedule in the next weeks"
        change = self.next
        who = f"{change.outgoing or 'nobody'} → {change.incoming}"
        if self.skip is not None:
            return f"skipping the change at {format_time(change.at)} ({who}): asked by {self.skip.by}"
        return f"{who} at {format_time(change.at)}; the handover starts at {format_time(self.starts_at)}"


class ScheduledStart(Model):
    """Start one boundary's routine handover, once: the key is the schedule and the boundary."""

    schedule_id: str
    boundary: Boundary
    overlap: timedelta
    requested_by: str
    task_queue: str
    """The autopilot's own: its worker runs the handover too."""
    since: datetime | None = None
    """The change before this one (or when the autopilot was turned on): a handover of the
    outgoing admin that a person started since, and that completed, was this change's."""

    @property
    def key(self) -> str:
        return f"autopilot:{self.schedule_id}@{self.boundary.at.isoformat()}"


class StartedHandover(Model):
    handover_id: str | None
    started: bool
    detail: str
    blocked: bool = False
    """Not started for a reason the channel should hear (another handover in the way, a request
    refused); a handover a person started first for the admin is not one."""
