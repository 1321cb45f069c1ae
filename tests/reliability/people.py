"""The two people of a handover, played to the end whatever happens to the service meanwhile.

They give every input the service asks of them (through the same calls as the CLI, or through
the endpoint), keep giving while workers die and Temporal restarts, and remember what they gave,
so that the run can say afterwards whether anything they gave was lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from handover import service
from handover.errors import HandoverError, NoWorker
from handover.models import (
    EngineeringLinkInput,
    HandoverProgress,
    HandoverReport,
    IncidentAckInput,
    InputKind,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SummaryAckInput,
)
from tests.humans import status_for

ACKNOWLEDGEMENTS = {InputKind.INCIDENT_ACK, InputKind.ROLLOUT_OWNERSHIP, InputKind.SUMMARY_ACK}


@dataclass
class Given:
    """The inputs the people gave and the service took (an Update accepted, or its Signal stored)."""

    inputs: set[tuple[InputKind, str]] = field(default_factory=set)
    hold: set[InputKind] = field(default_factory=set)
    """Kinds the people do not give for now (the run gives them another way)."""

    def lost(self, report: HandoverReport) -> list[str]:
        """Inputs given whose effect is not in the report."""
        lost = []
        incidents = {i.incident.id: i for i in report.incidents}
        rollouts = {r.rollout.id: r for r in report.rollouts}
        tickets = {t.ticket.id: t for t in report.tickets}
        for kind, item in sorted(self.inputs):
            if kind is InputKind.INCIDENT_ACK:
                ok = incidents[item].acknowledged is not None
            elif kind is InputKind.STATUS:
                ok = incidents[item].status_given is not None
            elif kind is InputKind.ROLLOUT_OWNERSHIP:
                ok = rollouts[item].owned is not None
            elif kind is InputKind.ROLLOUT_ANNOTATION:
                ok = rollouts[item].annotated is not None
            elif kind is InputKind.ENGINEERING_LINK:
                ok = tickets[item].engineering_issue_given is not None
            elif kind is InputKind.SUMMARY_ACK:
                ok = report.summary is not None and report.summary.acknowledged is not None
            else:
                ok = True
            if not ok:
                lost.append(f"{kind.value} {item}")
        return lost

    @property
    def acknowledgements(self) -> int:
        return sum(kind in ACKNOWLEDGEMENTS for kind, _ in self.inputs)


def answer(kind: InputKind, item: str, progress: HandoverProgress) -> Any:
    """What a person gives for this pending input."""
    outgoing, incoming = progress.request.outgoing, progress.request.incoming
    if kind is InputKind.STATUS:
        return status_for(item, actor=outgoing)
    if kind is InputKind.ENGINEERING_LINK:
        return EngineeringLinkInput(actor=outgoing, ticket_id=item, issue="ENG-4242")
    if kind is InputKind.ROLLOUT_ANNOTATION:
        rollout = next(r.rollout for r in progress.rollouts if r.rollout.id == item)
        return RolloutAnnotationInput(
            actor=outgoing,
            rollout_id=item,
            ramp_percent=rollout.ramp_percent,
            error_rate=rollout.error_rate,
            next_step=f"next ramp step for {rollout.flag}: +15% tomorrow",
        )
    if kind is InputKind.INCIDENT_ACK:
        return IncidentAckInput(actor=incoming, incident_id=item)
    if kind is InputKind.ROLLOUT_OWNERSHIP:
        return RolloutOwnershipInput(actor=incoming, rollout_id=item)
    if kind is InputKind.SUMMARY_ACK:
        return SummaryAckInput(actor=incoming)
    return None


async def play(client_of, workflow_id: str, given: Given, timeout: float = 240) -> HandoverReport:
    """Give whatever is pending until the handover ends; returns its report.

    `client_of()` gives the current Temporal client (Temporal may be restarted meanwhile). A
    worker that is down only delays things: progress is asked again, inputs go as Signals.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            client: Client = await client_of()
            current = await service.progress(client, workflow_id)
        except (NoWorker, RPCError, RuntimeError):
            await asyncio.sleep(0.5)  # no worker or no Temporal right now
            continue
        if isinstance(current, HandoverReport):
            return current
        for wait in current.pending:
            key = (wait.kind, wait.item_id or "")
            if key in given.inputs or wait.kind in given.hold:
                continue
            given_input = answer(wait.kind, wait.item_id or "", current)
            if given_input is None:
                continue
            try:
                await service.send(client, workflow_id, wait.kind, given_input)
            except HandoverError as error:
                if "already" not in str(error):
                    continue  # e.g. not due yet: asked again on the next round
            except RPCError:
                continue
            given.inputs.add(key)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{workflow_id} did not end within {timeout:.0f}s")
