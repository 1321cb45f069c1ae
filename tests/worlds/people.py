"""The people of any world: whoever a handover waits on answers, as `progress.pending` says.

The same service calls the CLI makes (devstack/people.py plays the demo's two admins; this plays
anyone): the outgoing admin writes status paragraphs, names engineering issues and annotates
rollouts; the incoming admin acknowledges each reassignment (or all at once), takes ownership
and thumbs up the summary. Someone else resolves the world's `resolved_mid_handover` incidents
through PagerDuty's API while the handover waits. A handover that stops moving is reported with
why (an activity failing again and again, or nothing changing), instead of hanging the test.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client

from devstack.people import until_the_watch_is_not_just_taken
from handover import service
from handover.errors import AlreadyDone, HandoverError, NotReady, NoWorker
from handover.models import (
    AllItemsInput,
    EngineeringLinkInput,
    HandoverProgress,
    IncidentAckInput,
    IncidentStatusInput,
    InputKind,
    PendingInput,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SummaryAckInput,
)
from sandbox.testing import SandboxHandle
from tests.worlds.generate import SERVICE_EMAIL, HandoverSpec, World

OBSERVED_ERROR_RATE = 0.7
"""What the outgoing admin reads off their dashboard for a rollout whose console rate is unknown."""
RESOLUTION_MARK = "world: resolved mid-handover by"
"""Marks the people's own PagerDuty writes, which the invariants leave out of the handover's."""
EXPECTED_RETRIES = {"NoThumbsUpYet", "StillOpen", "AuditGap"}
"""Failure types of activities that retry by design (watches, the audit log's lag)."""
FAILING_ATTEMPTS = 3
STILL_FOR = 20.0
"""Seconds without any change in progress after which a handover counts as stuck."""


class Stalled(Exception):
    """The handover stopped moving; the message says where and why."""


@dataclass
class Mischief:
    """What people did to the world on purpose while handovers ran (shared by all handovers)."""

    resolved: dict[str, str] = field(default_factory=dict)
    """Incident id -> who resolved it mid-handover."""
    listed: set[str] = field(default_factory=set)
    """The handovers that have taken their inventory: nothing is resolved before all have, so
    that every handover finds what the world started with."""
    handovers: int = 1
    """How many handovers must have taken their inventory (the world's valid ones)."""


@dataclass
class Player:
    """The people answering one handover."""

    client: Client
    sandbox: SandboxHandle
    world: World
    spec: HandoverSpec
    workflow_id: str
    mischief: Mischief
    refused: list[str] = field(default_factory=list)
    """Inputs the handover asked for, then refused (neither a duplicate nor too early)."""
    _refused: set[tuple[InputKind, str | None]] = field(default_factory=set)
    last: HandoverProgress | None = None
    """The last progress read (where it stopped, if it did)."""

    @property
    def outgoing(self) -> str:
        return self.world.people[self.spec.outgoing].email

    @property
    def incoming(self) -> str:
        return self.world.people[self.spec.incoming].email

    async def play(self, timeout: float = 90) -> HandoverProgress:
        """Answer until the summary is acknowledged or the handover ends; its last progress."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, still_since, checked_at = "", loop.time(), loop.time()
        while True:
            try:
                current = self.last = await service.progress(self.client, self.workflow_id)
            except NoWorker:
                # A query that waited 5 s on a busy machine: people read the progress again (the
                # handover is not stuck for it; `still_since` still catches one that is).
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            if current.phase.ended or (current.summary is not None and current.summary.acknowledged):
                return current
            if current.inventory_at is not None:
                self.mischief.listed.add(self.workflow_id)
                if len(self.mischief.listed) >= self.mischief.handovers:
                    await self.resolve_incidents_meanwhile(current)
            for wait in current.pending:
                await self.answer(wait, current)
            now = loop.time()
            seen = current.model_dump_json(exclude={"pending"})
            if seen != last:
                last, still_since = seen, now
            if now - checked_at > 1:
                checked_at = now
                await self.check_moving(current)
            if now - still_since > STILL_FOR or now > deadline:
                raise Stalled(
                    f"{self.workflow_id} stopped moving in phase {current.phase.value!r}; "
                    f"pending {[f'{w.kind.value} {w.item_id}' for w in current.pending]}"
                )
            await asyncio.sleep(0.05)

    async def check_moving(self, current: HandoverProgress) -> None:
        """An activity failing again and again (not a watch waiting by design) is a stuck handover."""
        description = await self.client.get_workflow_handle(self.workflow_id).describe()
        for pending in description.raw_description.pending_activities:
            failure = pending.last_failure
            application = failure.HasField("application_failure_info")
            kind = failure.application_failure_info.type if application else ""
            if pending.attempt >= FAILING_ATTEMPTS and kind not in EXPECTED_RETRIES:
                raise Stalled(
                    f"{self.workflow_id} in phase {current.phase.value!r}: activity "
                    f"{pending.activity_type.name} fails again and again (attempt {pending.attempt}): "
                    f"{failure.message[:300]}"
                )

    async def answer(self, wait: PendingInput, current: HandoverProgress) -> None:
        kind, given = self.input_for(wait, current)
        if (wait.kind, wait.item_id) in self._refused:
            return  # (refused once: reported, not given again and again)
        if kind is InputKind.SUMMARY_ACK:
            await until_the_watch_is_not_just_taken(self.client, self.workflow_id)
        try:
            await service.send(self.client, self.workflow_id, kind, given)
        except (AlreadyDone, NotReady):
            pass  # a race with an earlier answer (a bulk one), or a moment early: asked again
        except HandoverError as error:
            self._refused.add((wait.kind, wait.item_id))
            self.refused.append(f"{kind.value} {wait.item_id}: {error.message}")

    def input_for(self, wait: PendingInput, current: HandoverProgress) -> tuple[InputKind, object]:
        """What the person who owes `wait` gives for it."""
        item = wait.item_id or ""
        if wait.kind is InputKind.STATUS:
            return wait.kind, IncidentStatusInput(
                actor=self.outgoing,
                incident_id=item,
                hypothesis=f"Hypothèse pour {item}: 连接池耗尽 after the deploy 🔥",
                last_action=f"Rolled back the config on {item}; Überprüfung läuft",
                next_action=f"Watch p99 on {item} for 30 minutes, then close ✅",
            )
        if wait.kind is InputKind.ENGINEERING_LINK:
            issue = f"ENG-7{item[-1:]}"
            return wait.kind, EngineeringLinkInput(actor=self.outgoing, ticket_id=item, issue=issue)
        if wait.kind is InputKind.ROLLOUT_ANNOTATION:
            rollout = next(r.rollout for r in current.rollouts if r.rollout.id == item)
            rate = rollout.error_rate if rollout.error_rate is not None else OBSERVED_ERROR_RATE
            return wait.kind, RolloutAnnotationInput(
                actor=self.outgoing,
                rollout_id=item,
                ramp_percent=rollout.ramp_percent,
                error_rate=rate,
                next_step="Nächster Schritt: +10% 明天 if errors stay under 1% 📈",
            )
        if wait.kind is InputKind.INCIDENT_ACK:
            if self.world.bulk_inputs:
                return InputKind.ALL_INCIDENTS_ACK, AllItemsInput(actor=self.incoming)
            return wait.kind, IncidentAckInput(actor=self.incoming, incident_id=item)
        if wait.kind is InputKind.ROLLOUT_OWNERSHIP:
            if self.world.bulk_inputs:
                return InputKind.ALL_ROLLOUTS_OWNERSHIP, AllItemsInput(actor=self.incoming)
            return wait.kind, RolloutOwnershipInput(actor=self.incoming, rollout_id=item)
        if wait.kind is InputKind.SUMMARY_ACK:
            return wait.kind, SummaryAckInput(actor=self.incoming)
        raise AssertionError(f"the world's people do not know how to give {wait.kind.value}")

    async def resolve_incidents_meanwhile(self, current: HandoverProgress) -> None:
        """Someone else resolves an incident through PagerDuty while the handover waits on people."""
        meant = {i.id for i in self.world.incidents if i.resolved_mid_handover}
        for item in current.incidents:
            incident_id = item.incident.id
            if incident_id not in meant or incident_id in self.mischief.resolved:
                continue
            who = self.resolver()
            self.mischief.resolved[incident_id] = who
            token = self.sandbox.store.state.tokens.pagerduty_token
            async with httpx.AsyncClient(verify=self.sandbox.ssl_context(), timeout=10) as http:
                response = await http.put(
                    f"{self.sandbox.pagerduty_url}/incidents/{incident_id}",
                    headers={"Authorization": f"Token token={token}", "From": who},
                    json={
                        "incident": {
                            "type": "incident_reference",
                            "status": "resolved",
                            "resolution": f"{RESOLUTION_MARK} {who}",
                        }
                    },
                )
            if response.status_code >= 400:  # (the handover may have moved it: still open is fine)
                self.mischief.resolved[incident_id] = f"{who} (refused: {response.text[:120]})"

    def resolver(self) -> str:
        """Another person than any outgoing admin: the world's resolver, or the service account."""
        person = self.world.person(self.world.resolver)
        outgoing = {spec.outgoing for spec in self.world.handovers}
        if person is not None and person.pagerduty and person.number not in outgoing:
            return person.email
        return SERVICE_EMAIL
