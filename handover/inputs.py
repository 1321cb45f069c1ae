"""Every human input of a handover, declared once: its kind, its payload model, who gives it, its
check and its apply, and where people give it (the endpoint's route, the CLI's subcommand).

The workflow's Update, its validator and its Signal twin are made from each declaration
(`handover/handlers.py`, once per process); the endpoint, the CLI and the console send through it, and
`tests/handover/test_inputs.py` fails when any of them lacks one.

The checks and applies are plain functions of what the handover knows (and the workflow's
`now`): no I/O and no clock. A check raises the error the person reads (and changes nothing); an
apply checks again, records the input and says what happens next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from handover import decisions
from handover.errors import AlreadyDone, NotAllowed, NotReady, UnknownItem
from handover.models import (
    Admin,
    AllItemsInput,
    CancelInput,
    Cancellation,
    Done,
    EngineeringLinkInput,
    HandoverProgress,
    IncidentAckInput,
    IncidentHandover,
    IncidentsStatusInput,
    IncidentStatusInput,
    InputAccepted,
    InputKind,
    ItemHandover,
    MitigatedInput,
    Model,
    Outcome,
    Phase,
    RolloutAnnotation,
    RolloutAnnotationInput,
    RolloutHandover,
    RolloutOwnershipInput,
    StatusParagraph,
    Summary,
    SummaryAckInput,
    TicketAction,
    TicketHandover,
    UnclearThread,
    UnclearThreadInput,
    Variant,
    WrittenAnnotation,
    WrittenGroupStatus,
    WrittenLink,
    WrittenMitigation,
    WrittenQuestion,
    WrittenReason,
    WrittenStatus,
)
from handover.text import words

M = TypeVar("M", bound=Model)
T = TypeVar("T")


class Giver(StrEnum):
    """Who may give an input (the check enforces it; the endpoint and the console show it)."""

    OUTGOING = "the outgoing admin"
    INCOMING = "the incoming admin"
    EITHER_ADMIN = "the senior admin or either admin"
    REQUESTER_OR_EITHER = "the requester or either admin"


@dataclass(frozen=True)
class Declared(Generic[M]):
    """One human input. `route` is below `/handovers/{handover_id}/` (POST); `item` names the
    payload's field that says which item it is about (and the route's `{item}`)."""

    kind: InputKind
    model: type[M]
    given_by: Giver
    check: Callable[[HandoverProgress, M], Any]
    apply: Callable[[HandoverProgress, M, datetime], str] | None
    """Records the input (checking it again) and says what happens next. None for the one input
    that writes before it records (an unclear thread: the workflow posts, then records)."""
    route: str
    command: str
    item: str | None = None
    body: type[Model] | None = None
    """What a person writes (the endpoint's request body, the CLI's options); the rest of the
    payload is who they are (their token) and the item (the route)."""
    summary: str = ""
    """The endpoint's one-line description of the route."""
    in_console: bool = True
    """The console offers a form (or a button) for it."""
    items: str | None = None
    """The payload's field that lists the items, for an input about several (one status for many)."""

    @property
    def name(self) -> str:
        """The Update's and the Signal's name."""
        return self.kind.value

    @property
    def item_in_path(self) -> str | None:
        """The payload's field the route's `{item}` fills (for an unclear thread, it is written)."""
        return self.item if "{item}" in self.route else None

    @property
    def path(self) -> str:
        """The endpoint's route, e.g. `/handovers/{handover_id}/incidents/{incident_id}/status`."""
        return "/handovers/{handover_id}/" + self.route.replace("{item}", f"{{{self.item}}}")

    def item_of(self, given: M) -> str | None:
        return getattr(given, self.item) if self.item else None

    def items_of(self, given: M) -> list[str] | None:
        """The items the input is about; None for an input about all of them (acknowledge all)."""
        if self.items:
            return list(getattr(given, self.items))
        item = self.item_of(given)
        return [item] if item is not None else None

    def accepted(self, given: M, message: str) -> InputAccepted:
        return InputAccepted(kind=self.kind, item_id=self.item_of(given), message=message)


# --- shared checks -------------------------------------------------------------------------------


def check_open(progress: HandoverProgress) -> None:
    if progress.phase.ended or progress.cancelled is not None:
        state = "cancelled" if progress.cancelled is not None else progress.phase.value
        raise AlreadyDone(f"handover {progress.handover_id} has ended ({state}); it takes no more input")


def check_actor(progress: HandoverProgress, actor: str, expected: Admin | None, rule: str) -> None:
    check_open(progress)
    if expected is None:
        raise NotReady("the handover is still validating both admins; try again in a few seconds")
    if actor != expected.email:
        raise NotAllowed(f"{actor} cannot give this input: {rule} ({expected.email})")


def find(progress: HandoverProgress, kind: str, item_id: str) -> Any:
    """The handover's item of this kind (ITEM_KINDS: `incident`, `ticket`, `rollout`) by its id."""
    for item in dict(progress.items())[kind]:
        if item.listed.id == item_id:
            return item
    raise UnknownItem(f"{words(kind)} {item_id} is not part of handover {progress.handover_id}")


def once(item: ItemHandover, done: Done | str | None, already: Callable[[], str]) -> None:
    """An input given twice is refused with who gave it first (`already()`); so is one for an item
    that has its outcome."""
    if done is not None:
        raise AlreadyDone(already())
    if item.outcome is not Outcome.PENDING:
        raise AlreadyDone(f"{words(item.kind)} {item.listed.id} is finished already ({item.outcome.value})")


def ready_for_all(
    progress: HandoverProgress, kind: str, waiting: list[T], ready: list[T], why: str
) -> list[T]:
    """An input for every item at once: those ready for it, or why none is."""
    if progress.inventory_at is None:
        raise NotReady(f"the {kind}s are not listed yet; try again in a few seconds")
    if not waiting:
        raise AlreadyDone(f"every {kind} of this handover is {why}")
    return ready


# --- step 2: incidents ---------------------------------------------------------------------------


def check_status(progress: HandoverProgress, given: IncidentStatusInput) -> IncidentHandover:
    check_actor(progress, given.actor, progress.outgoing, "status paragraphs come from the outgoing admin")
    if not decisions.outgoing_can_answer(progress.request):
        raise NotAllowed("an emergency handover takes no status paragraphs; the context digest stands in")
    item = find(progress, "incident", given.incident_id)
    by = item.status_given
    once(
        item,
        by,
        lambda: f"the status for incident {given.incident_id} was given by {by.by} at {by.at:%H:%M UTC}",
    )
    return item


def apply_status(progress: HandoverProgress, given: IncidentStatusInput, now: datetime) -> str:
    item = check_status(progress, given)
    item.status = StatusParagraph(
        hypothesis=given.hypothesis, last_action=given.last_action, next_action=given.next_action
    )
    item.status_given, item.stage = Done(by=given.actor, at=now), "status received"
    return "status paragraph received; the note is posted and the incident reassigned"


GROUP_REFUSALS_SHOWN = 5
"""A grouped status's refusal names at most this many incidents, and counts the rest."""


def check_group_status(progress: HandoverProgress, given: IncidentsStatusInput) -> list[IncidentHandover]:
    """Every incident named must take a status now: one that cannot refuses the whole input (and
    changes nothing), naming it, so the outgoing admin picks again."""
    check_actor(progress, given.actor, progress.outgoing, "status paragraphs come from the outgoing admin")
    if not decisions.outgoing_can_answer(progress.request):
        raise NotAllowed("an emergency handover takes no status paragraphs; the context digest stands in")
    if progress.inventory_at is None:
        raise NotReady("the incidents are not listed yet; try again in a few seconds")
    ids = list(dict.fromkeys(given.incident_ids))
    known = {item.listed.id: item for item in progress.incidents}
    unknown = [incident_id for incident_id in ids if incident_id not in known]
    if unknown:
        raise UnknownItem(
            f"{_some(unknown)} {'is' if len(unknown) == 1 else 'are'} not part of handover "
            f"{progress.handover_id}: pick from its incidents"
        )
    done = [incident_id for incident_id in ids if known[incident_id].status_given is not None]
    if done:
        first = known[done[0]].status_given
        assert first is not None
        raise AlreadyDone(
            f"{_some(done)} {'has' if len(done) == 1 else 'have'} a status already (the first from "
            f"{first.by} at {first.at:%H:%M UTC}): leave {'it' if len(done) == 1 else 'them'} out"
        )
    finished = [incident_id for incident_id in ids if known[incident_id].outcome is not Outcome.PENDING]
    if finished:
        raise AlreadyDone(f"{_some(finished)} {'is' if len(finished) == 1 else 'are'} finished already")
    return [known[incident_id] for incident_id in ids]


def _some(ids: list[str]) -> str:
    """`incident P1`, `incidents P1, P2 and 3 more`."""
    shown = ", ".join(ids[:GROUP_REFUSALS_SHOWN])
    more = f" and {len(ids) - GROUP_REFUSALS_SHOWN} more" if len(ids) > GROUP_REFUSALS_SHOWN else ""
    return f"incident {shown}" if len(ids) == 1 else f"incidents {shown}{more}"


def apply_group_status(progress: HandoverProgress, given: IncidentsStatusInput, now: datetime) -> str:
    chosen = check_group_status(progress, given)
    status = StatusParagraph(
        hypothesis=given.hypothesis, last_action=given.last_action, next_action=given.next_action
    )
    for item in chosen:
        item.status = status
        via = f"one status for {len(chosen)} incidents" if len(chosen) > 1 else None
        item.status_given, item.stage = Done(by=given.actor, at=now, via=via), "status received"
    return (
        f"status paragraph received for {len(chosen)} incident{'s' if len(chosen) > 1 else ''}; "
        "each gets its note and is reassigned"
    )


def check_incident_ack(progress: HandoverProgress, given: IncidentAckInput) -> IncidentHandover:
    check_actor(progress, given.actor, progress.incoming, "the incoming admin acknowledges each reassignment")
    item = find(progress, "incident", given.incident_id)
    by = item.acknowledged
    once(item, by, lambda: f"incident {given.incident_id} was acknowledged by {by.by} already")
    if item.status_given is None and decisions.outgoing_can_answer(progress.request):
        raise NotReady(
            f"incident {given.incident_id} has no status paragraph yet; "
            "acknowledge it once the outgoing admin has written one"
        )
    return item


def apply_incident_ack(progress: HandoverProgress, given: IncidentAckInput, now: datetime) -> str:
    item = check_incident_ack(progress, given)
    item.acknowledged = Done(by=given.actor, at=now)
    if item.reassigned is not None:
        item.stage = "acknowledging"
    return "acknowledged; PagerDuty is updated"


def check_all_incidents_ack(progress: HandoverProgress, given: AllItemsInput) -> list[IncidentHandover]:
    """An alert storm's thousands of incidents in one input (one history event, not thousands)."""
    check_actor(progress, given.actor, progress.incoming, "the incoming admin acknowledges each reassignment")
    waiting = [i for i in progress.incidents if i.outcome is Outcome.PENDING and i.acknowledged is None]
    no_status_needed = not decisions.outgoing_can_answer(progress.request)
    ready = [i for i in waiting if i.status_given is not None or no_status_needed]
    if ready_for_all(progress, "incident", waiting, ready, "acknowledged or finished already"):
        return ready
    raise NotReady(
        f"none of the {len(waiting)} incidents has a status paragraph yet; "
        "acknowledge them once the outgoing admin has written them"
    )


def apply_all_incidents_ack(progress: HandoverProgress, given: AllItemsInput, now: datetime) -> str:
    ready = check_all_incidents_ack(progress, given)
    for item in ready:
        item.acknowledged = Done(by=given.actor, at=now, via="acknowledge all")
        if item.reassigned is not None:
            item.stage = "acknowledging"
    waiting = sum(i.outcome is Outcome.PENDING and i.acknowledged is None for i in progress.incidents)
    return f"{len(ready)} incidents acknowledged; PagerDuty is updated" + (
        f" ({waiting} still wait for their status paragraph)" if waiting else ""
    )


# --- step 3: tickets -----------------------------------------------------------------------------


def check_engineering_link(progress: HandoverProgress, given: EngineeringLinkInput) -> TicketHandover:
    check_actor(progress, given.actor, progress.outgoing, "the outgoing admin supplies engineering issues")
    item = find(progress, "ticket", given.ticket_id)
    if item.action is not TicketAction.LINK_ENGINEERING_ISSUE:
        raise NotAllowed(
            f"ticket {given.ticket_id} is not waiting on engineering; it needs no engineering issue"
        )
    linked = item.engineering_issue
    once(item, linked, lambda: f"ticket {given.ticket_id} is linked to {linked} already")
    return item


def apply_engineering_link(progress: HandoverProgress, given: EngineeringLinkInput, now: datetime) -> str:
    item = check_engineering_link(progress, given)
    item.engineering_issue = given.issue
    item.engineering_issue_given, item.stage = Done(by=given.actor, at=now), "engineering issue received"
    return "engineering issue received; the ticket is linked and reassigned"


# --- step 4: rollouts ----------------------------------------------------------------------------


def check_annotation(progress: HandoverProgress, given: RolloutAnnotationInput) -> RolloutHandover:
    check_actor(progress, given.actor, progress.outgoing, "the outgoing admin annotates rollouts")
    item = find(progress, "rollout", given.rollout_id)
    by = item.annotated
    once(item, by, lambda: f"rollout {given.rollout_id} was annotated by {by.by} already")
    return item


def apply_annotation(progress: HandoverProgress, given: RolloutAnnotationInput, now: datetime) -> str:
    item = check_annotation(progress, given)
    item.annotation = RolloutAnnotation(
        ramp_percent=given.ramp_percent, error_rate=given.error_rate, next_step=given.next_step
    )
    item.annotated, item.stage = Done(by=given.actor, at=now), "annotation received"
    return "annotation received; it is posted on the rollout"


def check_ownership(progress: HandoverProgress, given: RolloutOwnershipInput) -> RolloutHandover:
    check_actor(progress, given.actor, progress.incoming, "the incoming admin takes ownership of rollouts")
    item = find(progress, "rollout", given.rollout_id)
    by = item.owned
    once(item, by, lambda: f"{by.by} took ownership of rollout {given.rollout_id} already")
    if item.annotated is None:
        raise NotReady(
            f"rollout {given.rollout_id} has no annotation yet; "
            "take ownership once the outgoing admin has annotated it"
        )
    return item


def apply_ownership(progress: HandoverProgress, given: RolloutOwnershipInput, now: datetime) -> str:
    check_ownership(progress, given).owned = Done(by=given.actor, at=now)
    return "ownership taken; the rollout is transferred"


def check_all_ownership(progress: HandoverProgress, given: AllItemsInput) -> list[RolloutHandover]:
    check_actor(progress, given.actor, progress.incoming, "the incoming admin takes ownership of rollouts")
    waiting = [r for r in progress.rollouts if r.outcome is Outcome.PENDING and r.owned is None]
    ready = [r for r in waiting if r.annotated is not None]
    if ready_for_all(progress, "rollout", waiting, ready, "owned or finished already"):
        return ready
    raise NotReady(
        f"none of the {len(waiting)} rollouts is annotated yet; "
        "take ownership once the outgoing admin has annotated them"
    )


def apply_all_ownership(progress: HandoverProgress, given: AllItemsInput, now: datetime) -> str:
    ready = check_all_ownership(progress, given)
    for item in ready:
        item.owned = Done(by=given.actor, at=now, via="take all")
    waiting = sum(r.outcome is Outcome.PENDING and r.owned is None for r in progress.rollouts)
    return f"ownership of {len(ready)} rollouts taken; they are transferred" + (
        f" ({waiting} still wait for their annotation)" if waiting else ""
    )


# --- step 5: the summary -------------------------------------------------------------------------


def check_summary_ack(progress: HandoverProgress, given: SummaryAckInput) -> Summary:
    check_actor(progress, given.actor, progress.incoming, "the incoming admin acknowledges the summary")
    summary = progress.summary
    if summary is None:
        raise NotReady(
            "the summary is not posted yet; "
            "it is posted once every incident, ticket and rollout is handed over"
        )
    if summary.acknowledged is not None:
        raise AlreadyDone(f"the summary was acknowledged by {summary.acknowledged.by} already")
    return summary


def apply_summary_ack(progress: HandoverProgress, given: SummaryAckInput, now: datetime) -> str:
    check_summary_ack(progress, given).acknowledged = Done(by=given.actor, at=now)
    return "summary acknowledged"


# --- mid-shift outage, emergency, cancel ---------------------------------------------------------


def check_mitigated(progress: HandoverProgress, given: MitigatedInput) -> None:
    if progress.request.variant is not Variant.MID_SHIFT:
        raise NotAllowed("only a mid-shift handover waits for an outage to be mitigated")
    check_open(progress)
    if given.actor not in decisions.mitigation_allowed_from(progress.request):
        raise NotAllowed(
            f"{given.actor} cannot call the outage mitigated: the senior admin or either admin can"
        )
    if progress.mitigated is not None:
        raise AlreadyDone(f"the outage was called mitigated by {progress.mitigated.by} already")
    if progress.phase is not Phase.OUTAGE:
        raise NotReady("the handover is still validating both admins; try again in a few seconds")


def apply_mitigated(progress: HandoverProgress, given: MitigatedInput, now: datetime) -> str:
    check_mitigated(progress, given)
    progress.mitigated, progress.mitigation_note = Done(by=given.actor, at=now), given.note
    return "outage mitigated; the formal handover starts"


def check_unclear_thread(progress: HandoverProgress, given: UnclearThreadInput) -> None:
    check_actor(progress, given.actor, progress.incoming, "the incoming admin flags unclear threads")
    for flag in progress.unclear_threads:
        if flag.thread_ts == given.thread_ts:
            raise AlreadyDone(f"thread {given.thread_ts} was flagged by {flag.flagged.by} already")


def record_unclear_thread(progress: HandoverProgress, flag: UnclearThread) -> str:
    """Once the catch-up is posted (the workflow posts it first: a failed post leaves nothing
    behind to block a retry)."""
    if not any(known.thread_ts == flag.thread_ts for known in progress.unclear_threads):
        progress.unclear_threads.append(flag)  # (a twin of this input may have won the race)
    return "posted to the channel for a catch-up"


def check_cancel(progress: HandoverProgress, given: CancelInput) -> None:
    check_open(progress)
    if given.actor.strip().lower() not in decisions.cancel_allowed_from(progress.request):
        raise NotAllowed(f"{given.actor} cannot cancel this handover: the requester or either admin can")
    if progress.cancelled is not None:
        raise AlreadyDone(f"the handover was cancelled by {progress.cancelled.by} already")


def apply_cancel(progress: HandoverProgress, given: CancelInput, now: datetime) -> str:
    check_cancel(progress, given)
    progress.cancelled = Cancellation(by=given.actor, at=now, reason=given.reason)
    return "cancelling: work in flight finishes, nothing else is touched; the report follows"


# --- the declarations ----------------------------------------------------------------------------

# fmt: off
STATUS = Declared(
    InputKind.STATUS, IncidentStatusInput, Giver.OUTGOING, check_status, apply_status,
    route="incidents/{item}/status", command="submit-status", item="incident_id",
    body=WrittenStatus, summary="Outgoing: status paragraph",
)
GROUP_STATUS = Declared(
    InputKind.GROUP_STATUS, IncidentsStatusInput, Giver.OUTGOING, check_group_status, apply_group_status,
    route="incidents/status", command="submit-status-for",
    body=WrittenGroupStatus, summary="Outgoing: one status paragraph for several incidents (shared cause)",
    items="incident_ids",
)
INCIDENT_ACK = Declared(
    InputKind.INCIDENT_ACK, IncidentAckInput, Giver.INCOMING, check_incident_ack, apply_incident_ack,
    route="incidents/{item}/ack", command="ack-incident", item="incident_id",
    summary="Incoming: acknowledge",
)
ALL_INCIDENTS_ACK = Declared(
    InputKind.ALL_INCIDENTS_ACK, AllItemsInput, Giver.INCOMING,
    check_all_incidents_ack, apply_all_incidents_ack, route="incidents/ack-all", command="ack-all",
    summary="Incoming: acknowledge every incident ready for it (an alert storm, in one input)",
)
ENGINEERING_LINK = Declared(
    InputKind.ENGINEERING_LINK, EngineeringLinkInput, Giver.OUTGOING,
    check_engineering_link, apply_engineering_link,
    route="tickets/{item}/engineering-link", command="link-issue", item="ticket_id",
    body=WrittenLink, summary="Outgoing: engineering issue",
)
ROLLOUT_ANNOTATION = Declared(
    InputKind.ROLLOUT_ANNOTATION, RolloutAnnotationInput, Giver.OUTGOING, check_annotation, apply_annotation,
    route="rollouts/{item}/annotation", command="annotate", item="rollout_id",
    body=WrittenAnnotation, summary="Outgoing: annotation",
)
ROLLOUT_OWNERSHIP = Declared(
    InputKind.ROLLOUT_OWNERSHIP, RolloutOwnershipInput, Giver.INCOMING, check_ownership, apply_ownership,
    route="rollouts/{item}/ownership", command="own-rollout", item="rollout_id",
    summary="Incoming: ownership",
)
ALL_ROLLOUTS_OWNERSHIP = Declared(
    InputKind.ALL_ROLLOUTS_OWNERSHIP, AllItemsInput, Giver.INCOMING, check_all_ownership, apply_all_ownership,
    route="rollouts/ownership-all", command="own-all",
    summary="Incoming: take ownership of every annotated rollout, in one input",
)
SUMMARY_ACK = Declared(
    InputKind.SUMMARY_ACK, SummaryAckInput, Giver.INCOMING, check_summary_ack, apply_summary_ack,
    route="summary/ack", command="ack-summary",
    summary="Incoming: the summary's :+1:",
)
MITIGATED = Declared(
    InputKind.MITIGATED, MitigatedInput, Giver.EITHER_ADMIN, check_mitigated, apply_mitigated,
    route="mitigated", command="mitigated",
    body=WrittenMitigation, summary="Mid-shift: the outage is mitigated",
)
UNCLEAR_THREAD = Declared(
    InputKind.UNCLEAR_THREAD, UnclearThreadInput, Giver.INCOMING, check_unclear_thread, None,
    route="unclear-threads", command="flag-thread", item="thread_ts",
    in_console=False,  # the digest's threads are in Slack: flagged from the CLI or the API
    body=WrittenQuestion, summary="Incoming: ask for a catch-up",
)
CANCEL = Declared(
    InputKind.CANCEL, CancelInput, Giver.REQUESTER_OR_EITHER, check_cancel, apply_cancel,
    route="cancel", command="cancel",
    body=WrittenReason, summary="Requester or either admin: cancel",
)
# fmt: on

INPUTS: tuple[Declared[Any], ...] = (
    STATUS,
    GROUP_STATUS,
    INCIDENT_ACK,
    ALL_INCIDENTS_ACK,
    ENGINEERING_LINK,
    ROLLOUT_ANNOTATION,
    ROLLOUT_OWNERSHIP,
    ALL_ROLLOUTS_OWNERSHIP,
    SUMMARY_ACK,
    MITIGATED,
    UNCLEAR_THREAD,
    CANCEL,
)
BY_KIND: dict[InputKind, Declared[Any]] = {declared.kind: declared for declared in INPUTS}
