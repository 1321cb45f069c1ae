"""The handover's data: what is asked, what is found, what humans say, what is reported.

One small typed model per workflow input, human input and result. The workflow keeps its whole
state in a `HandoverProgress`; the `progress` query returns it and the result is a
`HandoverReport` made from it, so what an admin watches and what the offboarding pipeline reads
are the same records.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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

Paragraph = Annotated[str, Field(min_length=3, max_length=2000)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def workflow_id_for(outgoing: str) -> str:
    """One live handover per outgoing admin: the workflow id is derived from their email."""
    return f"handover-{_email(outgoing)}"


# --- the request ---------------------------------------------------------------------------


class Variant(StrEnum):
    PLANNED = "planned"


class HandoverRequest(Model):
    """What the requester (an admin, or the offboarding pipeline) asks for."""

    outgoing: Email
    incoming: Email
    variant: Variant = Variant.PLANNED
    offboarding: bool = False
    reason: str | None = Field(default=None, max_length=500)
    requested_by: str = Field(min_length=1, max_length=254)
    overlap: timedelta = PLANNED_MINIMUM_OVERLAP
    demo: bool = False
    """Demo mode (the demo scenario only): allows an overlap under the planned minimum."""

    @model_validator(mode="after")
    def _check(self) -> HandoverRequest:
        if self.outgoing == self.incoming:
            raise ValueError("outgoing and incoming are the same admin; hand over to someone else")
        if self.overlap <= timedelta(0) or self.overlap > MAXIMUM_OVERLAP:
            raise ValueError(f"overlap must be more than 0 and at most {MAXIMUM_OVERLAP}")
        if self.variant is Variant.PLANNED and not self.demo and self.overlap < PLANNED_MINIMUM_OVERLAP:
            raise ValueError(
                "a planned handover needs at least 2 hours of overlap "
                "(shorter overlaps are for the demo only)"
            )
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


class TicketState(StrEnum):
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    WAITING_ON_ENGINEERING = "waiting_on_engineering"
    ACTIVE = "active"
    OPEN = "open"


class Ticket(Model):
    id: str
    subject: str
    customer: str
    state: TicketState
    assignee: str
    pinned: bool
    labels: list[str] = []
    engineering_issue: str | None = None


class ImpersonationSession(Model):
    """A session is listed by id only: its token is never read (tokens are per human)."""

    id: str
    admin: str
    ticket_id: str | None
    state: str
    started_at: datetime


class RolloutState(StrEnum):
    RAMPING = "ramping"
    PAUSED = "paused"


class Rollout(Model):
    id: str
    flag: str
    state: RolloutState
    ramp_percent: float
    error_rate: float | None
    owner: str


class Override(Model):
    id: str
    user_id: str
    start: datetime
    end: datetime


# --- human inputs (each is an Update with a validator, and a Signal with the same payload) -----


class InputKind(StrEnum):
    """The name of every human input; also the name of its Update and its Signal."""

    STATUS = "submit_status"
    INCIDENT_ACK = "acknowledge_incident"
    ENGINEERING_LINK = "link_engineering_issue"
    ROLLOUT_ANNOTATION = "annotate_rollout"
    ROLLOUT_OWNERSHIP = "take_rollout_ownership"
    SUMMARY_ACK = "acknowledge_summary"


class StatusParagraph(Model):
    """The runbook's one-paragraph status: current hypothesis, last action, next action."""

    hypothesis: Paragraph
    last_action: Paragraph
    next_action: Paragraph


class IncidentStatusInput(StatusParagraph):
    actor: Email
    incident_id: str = Field(min_length=1, max_length=64)


class IncidentAckInput(Model):
    actor: Email
    incident_id: str = Field(min_length=1, max_length=64)


class EngineeringLinkInput(Model):
    actor: Email
    ticket_id: str = Field(min_length=1, max_length=64)
    issue: str = Field(min_length=2, max_length=500, pattern=r"^\S+$")
    """The engineering issue: a URL or a key such as ENG-1234."""


class RolloutAnnotation(Model):
    ramp_percent: float = Field(ge=0, le=100)
    error_rate: float = Field(ge=0, le=100)
    """Last observed error rate, in percent."""
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


HumanInput = (
    IncidentStatusInput
    | IncidentAckInput
    | EngineeringLinkInput
    | RolloutAnnotationInput
    | RolloutOwnershipInput
    | SummaryAckInput
)


class InputAccepted(Model):
    """What an accepted Update answers."""

    kind: InputKind
    item_id: str | None
    message: str


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


class Done(Model):
    """Who did something, and when."""

    by: str
    at: datetime


class ItemResult(Model):
    """What an activity did to one item of a batch."""

    item_id: str
    outcome: Outcome
    detail: str | None = None
    ref: str | None = None
    """The id of what was written for the item: the note, the annotation."""
    sessions_ended: list[str] = []


class IncidentHandover(Model):
    incident: Incident
    stage: str = "waiting for status paragraph"
    status: StatusParagraph | None = None
    status_given: Done | None = None
    note_id: str | None = None
    reassigned: Done | None = None
    acknowledged: Done | None = None
    outcome: Outcome = Outcome.PENDING
    detail: str | None = None


class TicketAction(StrEnum):
    LABEL_WAITING_ON_CUSTOMER = "reassign + label waiting_on_customer"
    LINK_ENGINEERING_ISSUE = "reassign + link engineering issue"
    END_IMPERSONATION_FIRST = "end impersonation, then reassign"
    REASSIGN = "reassign"


class TicketHandover(Model):
    ticket: Ticket
    action: TicketAction
    stage: str = "queued"
    sessions_to_end: list[str] = []
    sessions_ended: list[str] = []
    engineering_issue: str | None = None
    engineering_issue_given: Done | None = None
    reassigned: Done | None = None
    outcome: Outcome = Outcome.PENDING
    detail: str | None = None


class RolloutHandover(Model):
    rollout: Rollout
    stage: str = "waiting for annotation"
    annotation: RolloutAnnotation | None = None
    annotated: Done | None = None
    annotation_id: str | None = None
    owned: Done | None = None
    outcome: Outcome = Outcome.PENDING
    detail: str | None = None


class Summary(Model):
    channel: str
    ts: str
    text: str
    posted_at: datetime
    acknowledged: Done | None = None


class AuditResult(Model):
    checked_sessions: list[str]
    missing_sessions: list[str]
    checked_at: datetime

    @property
    def complete(self) -> bool:
        return not self.missing_sessions


class Phase(StrEnum):
    VALIDATING = "validating"
    FREEZING = "freezing assignments"
    HANDING_OVER = "handing over"
    SUMMARY = "waiting for summary acknowledgement"
    AUDITING = "auditing"
    OVERLAP = "waiting for overlap to end"
    COMPLETED = "completed"
    FAILED = "failed"


class HandoverProgress(Model):
    """Everything the workflow knows; returned by the `progress` query."""

    handover_id: str
    request: HandoverRequest
    phase: Phase = Phase.VALIDATING
    started_at: datetime
    outgoing: Admin | None = None
    incoming: Admin | None = None
    override: Override | None = None
    overlap_ends_at: datetime | None = None
    incidents: list[IncidentHandover] = []
    tickets: list[TicketHandover] = []
    rollouts: list[RolloutHandover] = []
    summary: Summary | None = None
    audit: AuditResult | None = None
    pending: list[PendingInput] = []
    rejected: list[RejectedInput] = []
    error: str | None = None


class HandoverReport(HandoverProgress):
    """The result: what the offboarding pipeline reads before it revokes access."""

    completed_at: datetime

    @property
    def counts(self) -> dict[str, int]:
        return {
            "incidents": sum(i.outcome is Outcome.HANDED_OVER for i in self.incidents),
            "tickets": sum(t.outcome is Outcome.HANDED_OVER for t in self.tickets),
            "rollouts": sum(r.outcome is Outcome.HANDED_OVER for r in self.rollouts),
        }
