"""The two admins of a handover, played: what each gives for an input the handover waits on
(`answer`), and the rounds in which they give it (`play`), at a desk: the service's own calls on
a Temporal client, as the CLI makes them (`TemporalDesk`, or `RestartingDesk` where Temporal and
the worker may be restarted meanwhile), or the endpoint with each admin's own token, as the
console sends them (`EndpointDesk`, `make demo`).

The outgoing admin writes status paragraphs, names engineering issues and annotates rollouts;
the incoming admin acknowledges each incident, takes ownership of each rollout and thumbs up the
summary. Used by `make demo` (devstack/demo.py), the tests (tests/humans.py), the reliability
suite and scripts/record_histories.py; never by the service itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import httpx
from google.protobuf.empty_pb2 import Empty
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError

from handover import inputs, service
from handover.errors import HandoverError, NoWorker
from handover.models import (
    ITEM_KINDS,
    EngineeringLinkInput,
    HandoverProgress,
    HandoverReport,
    HumanInput,
    IncidentAckInput,
    IncidentStatusInput,
    InputKind,
    PendingInput,
    Phase,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SummaryAckInput,
)

OUTGOING = "alice@novalien.com"
INCOMING = "bob@novalien.com"
"""The demo scenario's two admins: Alice hands over to Bob."""


class Role(Enum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


BOTH = frozenset(Role)
GIVERS = {Role.OUTGOING: inputs.Giver.OUTGOING, Role.INCOMING: inputs.Giver.INCOMING}
KINDS = {
    role: tuple(
        owed for kind in ITEM_KINDS for owed in kind.owes if inputs.BY_KIND[owed].given_by is GIVERS[role]
    )
    + ((InputKind.SUMMARY_ACK,) if role is Role.INCOMING else ())
    for role in Role
}
"""What each admin gives. The rest (a mitigation, a catch-up question, a cancel, the bulk inputs)
the callers give themselves when their story needs it."""


# --- what they say ----------------------------------------------------------------------------


class Words(Enum):
    """What the outgoing admin writes."""

    NAMED = "named"
    """Every text names its item: easy to find again in a summary, a note or a log (the tests and
    the recordings)."""
    DEMO = "demo"
    """What Alice would write about the demo scenario's incidents (`make demo`)."""


DEMO_PARAGRAPHS = {
    "Q1DISK7": (
        "WAL archiving stalled after the key rotation: archive_command gets 403 from the backup bucket.",
        "Moved 40 GB of old WAL to /mnt/scratch; disk is back to 81%.",
        "Get the new bucket key into the archive_command secret, then confirm WAL drains.",
    ),
    "Q2API5X": (
        "Session cache misses after the 14:00 deploy push p99 on /v1/sessions past 2 s.",
        "Paused the platform-api.session-cache rollout at 10% and scaled the API pool to 12.",
        "Watch p99 for 30 minutes; if it stays above 1 s, roll the cache flag back to 0%.",
    ),
    "Q3CERT9": (
        "cert-manager cannot renew vms-edge.novalien.com: the DNS-01 solver lost its API token.",
        "Re-issued the solver token and triggered a renewal; the order is pending.",
        "Confirm the new certificate is served by all five edge proxies before Friday.",
    ),
}
"""Hypothesis, last action, next action: Alice's status of each of the demo's incidents."""
DEMO_PARAGRAPH = (
    "Cause not confirmed yet; see the incident timeline.",
    "Collected logs and paged the owning team.",
    "Follow up with the owning team at the next check-in.",
)
"""Her status of any other incident."""
ENGINEERING_ISSUE = "ENG-4242"


def status_for(incident_id: str, actor: str = OUTGOING, words: Words = Words.NAMED) -> IncidentStatusInput:
    """The outgoing admin's status paragraph of one incident."""
    if words is Words.DEMO:
        hypothesis, last_action, next_action = DEMO_PARAGRAPHS.get(incident_id, DEMO_PARAGRAPH)
    else:
        hypothesis = f"hypothesis for {incident_id}: pool exhaustion after deploy"
        last_action = f"last action on {incident_id}: rolled back the deploy"
        next_action = f"next action on {incident_id}: watch p99 for 30 minutes"
    return IncidentStatusInput(
        actor=actor,
        incident_id=incident_id,
        hypothesis=hypothesis,
        last_action=last_action,
        next_action=next_action,
    )


def answer(
    kind: InputKind, item_id: str, progress: HandoverProgress, words: Words = Words.NAMED
) -> HumanInput | None:
    """What the admin who owes it gives for one pending input (None: not one of theirs, `KINDS`).
    A rollout's annotation repeats the console's figures, an unknown error rate as unknown."""
    outgoing, incoming = progress.request.outgoing, progress.request.incoming
    if kind is InputKind.STATUS:
        return status_for(item_id, outgoing, words)
    if kind is InputKind.ENGINEERING_LINK:
        return EngineeringLinkInput(actor=outgoing, ticket_id=item_id, issue=ENGINEERING_ISSUE)
    if kind is InputKind.ROLLOUT_ANNOTATION:
        rollout = next(r.rollout for r in progress.rollouts if r.rollout.id == item_id)
        next_step = (
            "Hold at this step for 24h; ramp +15% if the error rate stays under 0.5%."
            if words is Words.DEMO
            else f"next ramp step for {rollout.flag}: +15% tomorrow"
        )
        return RolloutAnnotationInput(
            actor=outgoing,
            rollout_id=item_id,
            ramp_percent=rollout.ramp_percent,
            error_rate=rollout.error_rate,
            next_step=next_step,
        )
    if kind is InputKind.INCIDENT_ACK:
        return IncidentAckInput(actor=incoming, incident_id=item_id)
    if kind is InputKind.ROLLOUT_OWNERSHIP:
        return RolloutOwnershipInput(actor=incoming, rollout_id=item_id)
    if kind is InputKind.SUMMARY_ACK:
        return SummaryAckInput(actor=incoming)
    if kind in KINDS[Role.OUTGOING] or kind in KINDS[Role.INCOMING]:
        return plain_answer(inputs.BY_KIND[kind], item_id, progress)
    return None


def plain_answer(declared: inputs.Declared, item_id: str, progress: HandoverProgress) -> HumanInput:
    """An input of an item kind added later, with no words of its own above: each text its body
    asks for names its item (`note for CR-7`). A body that wants more than text needs words here."""
    request = progress.request
    actor = request.outgoing if declared.given_by is inputs.Giver.OUTGOING else request.incoming
    fields = declared.body.model_fields if declared.body else {}
    texts = {name: f"{name.replace('_', ' ')} for {item_id}" for name in fields}
    return declared.model(actor=actor, **({declared.item: item_id} if declared.item else {}), **texts)


# --- when they say it -------------------------------------------------------------------------


class Desk(Protocol):
    """Where the people read one handover's progress and give their inputs."""

    workflow_id: str

    async def progress(self) -> HandoverProgress | None:
        """The progress (a `HandoverReport` once it has ended), or None: not answering right now."""

    async def give(self, wait: PendingInput, given: HumanInput) -> bool:
        """Whether the handover took it (or had it already); False: try again next round."""


@dataclass
class Given:
    """What the people gave and the handover took (an Update accepted, or its Signal stored):
    never given twice, even while a worker has yet to take a stored Signal."""

    inputs: set[tuple[InputKind, str]] = field(default_factory=set)
    hold: set[InputKind] = field(default_factory=set)
    """Kinds the people do not give for now (the caller gives them another way)."""


class Stalled(AssertionError):
    """The handover did not get where the people were waiting for it to get in time, or ended first."""


NOT_ANSWERING_PAUSE = 0.5
"""Seconds before reading again when the desk does not answer (Temporal or the worker restarting)."""


def handing_over(current: HandoverProgress) -> bool:
    """The handover has listed what the outgoing admin owns and is handing it over."""
    return current.phase is Phase.HANDING_OVER and current.inventory_at is not None


def summary_acknowledged(current: HandoverProgress) -> bool:
    return current.summary is not None and current.summary.acknowledged is not None


async def play(
    desk: Desk,
    roles: Collection[Role] = BOTH,
    *,
    ready: Callable[[HandoverProgress], bool] = lambda current: True,
    until: Callable[[HandoverProgress], bool] | None = None,
    skip: Collection[str] = (),
    given: Given | None = None,
    words: Words = Words.NAMED,
    timeout: float = 120,
    pause: float = 0.2,
) -> HandoverProgress:
    """Rounds, `pause` seconds apart, until `until(progress)`; returns the last progress read.
    Each round reads the progress and, once `ready(progress)`, gives what the handover waits for
    from `roles`, in the order it lists them, except the items in `skip` and the kinds `given.hold`.

    `until` by default: for the outgoing admin alone, when ready and they owe nothing more (one
    round, unless the desk refused something); otherwise, the summary acknowledged. A handover
    that ends first, or a timeout, raises `Stalled`."""
    given = given if given is not None else Given()
    kinds = {kind for role in roles for kind in KINDS[role]}

    def owed(current: HandoverProgress) -> list[PendingInput]:
        return [
            wait
            for wait in current.pending
            if wait.kind in kinds
            and wait.kind not in given.hold
            and wait.item_id not in skip
            and (wait.kind, wait.item_id or "") not in given.inputs
        ]

    if until is None:
        if set(roles) == {Role.OUTGOING}:
            until = lambda current: ready(current) and not owed(current)  # noqa: E731
        else:
            until = summary_acknowledged
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await desk.progress()
        if current is not None and until(current):
            return current
        if isinstance(current, HandoverReport):
            raise Stalled(f"{desk.workflow_id} ended ({current.phase.value}) first: {current.error}")
        if loop.time() > deadline:
            where = "not answering"
            if current is not None:
                pending = [f"{w.kind.value} {w.item_id}" for w in current.pending]
                where = f"phase {current.phase.value!r}, pending {pending}"
            raise Stalled(f"{desk.workflow_id} did not get there within {timeout:.0f} s: {where}")
        if current is None:
            await asyncio.sleep(NOT_ANSWERING_PAUSE)
            continue
        if ready(current):
            for wait in owed(current):
                given_input = answer(wait.kind, wait.item_id or "", current, words)
                if given_input is not None and await desk.give(wait, given_input):
                    given.inputs.add((wait.kind, wait.item_id or ""))
            if until(current):
                return current  # (the outgoing admin alone: everything they owed, given)
        await asyncio.sleep(pause)


# --- the desks --------------------------------------------------------------------------------


class TemporalDesk:
    """`handover.service`'s calls on one Temporal client, as the CLI makes them: a refusal raises."""

    def __init__(self, client: Client, workflow_id: str) -> None:
        self.client = client
        self.workflow_id = workflow_id

    async def progress(self) -> HandoverProgress | None:
        return await service.progress(self.client, self.workflow_id)

    async def give(self, wait: PendingInput, given: HumanInput) -> bool:
        if wait.kind is InputKind.SUMMARY_ACK:
            await until_the_watch_is_not_just_taken(self.client, self.workflow_id)
        await service.send(self.client, self.workflow_id, wait.kind, given)
        return True


class RestartingDesk(TemporalDesk):
    """The same calls on whatever client `client_of()` gives now, while Temporal may be restarted
    and workers killed: a worker that is down only delays things (progress is read again, inputs
    go as Signals); an input refused for now (not due yet, or a call cut off) is given again."""

    def __init__(self, client_of: Callable[[], Awaitable[Client]], workflow_id: str) -> None:
        self.client_of = client_of
        self.workflow_id = workflow_id

    async def progress(self) -> HandoverProgress | None:
        try:
            self.client = await self.client_of()
            return await service.progress(self.client, self.workflow_id)
        except (NoWorker, RPCError, RuntimeError):
            return None  # no worker or no Temporal right now

    async def give(self, wait: PendingInput, given: HumanInput) -> bool:
        try:
            await service.send(self.client, self.workflow_id, wait.kind, given)
        except HandoverError as error:
            return "already" in str(error)
        except RPCError:
            return False
        return True


class Refused(Exception):
    """The endpoint refused an input."""


class EndpointDesk:
    """The endpoint, each admin with their own bearer token, as the console sends it; prints
    each POST and its answer. A refusal raises `Refused`."""

    def __init__(self, base_url: str, workflow_id: str, tokens: dict[str, str]) -> None:
        self.workflow_id = workflow_id
        self.http = {
            who: httpx.AsyncClient(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            for who, token in tokens.items()
        }

    async def progress(self) -> HandoverProgress | None:
        reader = next(iter(self.http.values()))  # (either admin may read it)
        answered = await reader.get(f"/handovers/{self.workflow_id}")
        return HandoverProgress.model_validate(answered.raise_for_status().json())

    async def give(self, wait: PendingInput, given: HumanInput) -> bool:
        # The console's route and body for the input, from its declaration (handover/inputs.py):
        # the body is what a person writes; who gives it is the token's, the item the route's.
        declared = inputs.BY_KIND[wait.kind]
        path = declared.path.format(handover_id=self.workflow_id, **{str(declared.item): wait.item_id})
        body = given.model_dump(mode="json", include=set(declared.body.model_fields)) if declared.body else {}
        answered = await self.http[given.actor].post(path, json=body or None)
        said = answered.json().get("message") or answered.json()
        print(f"\n{given.actor}: POST {path}\n  -> {answered.status_code} {said}")
        if answered.status_code >= 300 and answered.status_code != 202:
            raise Refused(f"the endpoint refused {path}: {answered.json().get('detail')}")
        return True

    async def aclose(self) -> None:
        for http in self.http.values():
            await http.aclose()


# --- the time-skipping server's watch ---------------------------------------------------------


WATCH = "wait_for_thumbs_up"


async def until_the_watch_is_not_just_taken(client: Client, workflow_id: str, timeout: float = 10) -> None:
    """Before acknowledging the summary on the time-skipping server: the acknowledgement cancels the
    summary's reaction watch, and the Java test server leaks its time-skipping lock when a workflow
    cancels an activity a worker has just taken (temporalio/sdk-java #2391): the handover then
    waits its two-hour overlap in real time. With the watch off (`skipping`) it fails at once when
    taken; with it on, it heartbeats and runs for minutes. So wait until it is gone, has
    heartbeated, or has run a second."""
    if not await _skips_time(client):
        return  # a real server has no such lock, and a handover's overlap there is real time
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    running_since: float | None = None
    while loop.time() < deadline:
        description = await client.get_workflow_handle(workflow_id).describe()
        watches = [a for a in description.raw_description.pending_activities if a.activity_type.name == WATCH]
        if not watches:
            return
        if watches[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            if watches[0].HasField("last_heartbeat_time"):
                return  # watching (it heartbeats first thing): long past "just taken"
            running_since = running_since if running_since is not None else loop.time()
            if loop.time() - running_since > 1:
                return
        await asyncio.sleep(0.05)


async def _skips_time(client: Client) -> bool:
    """Whether `client` talks to the time-skipping test server (only it answers its test service)."""
    try:
        await client.test_service.get_current_time(Empty())
    except RPCError:
        return False
    return True
