"""The two humans of a handover, played through the same service calls the CLI makes."""

from __future__ import annotations

import asyncio

import pagerduty
from google.protobuf.empty_pb2 import Empty
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError

from handover import service
from handover.models import (
    EngineeringLinkInput,
    HandoverProgress,
    HandoverReport,
    HandoverRequest,
    IncidentAckInput,
    IncidentStatusInput,
    InputKind,
    Phase,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SummaryAckInput,
)

OUTGOING = "alice@novalien.com"
INCOMING = "bob@novalien.com"


def status_for(incident_id: str, actor: str = OUTGOING) -> IncidentStatusInput:
    return IncidentStatusInput(
        actor=actor,
        incident_id=incident_id,
        hypothesis=f"hypothesis for {incident_id}: pool exhaustion after deploy",
        last_action=f"last action on {incident_id}: rolled back the deploy",
        next_action=f"next action on {incident_id}: watch p99 for 30 minutes",
    )


async def wait_for(client: Client, workflow_id: str, predicate, timeout: float = 30) -> HandoverProgress:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await service.progress(client, workflow_id)
        if predicate(current):
            return current
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting; phase {current.phase}, pending {current.pending}")
        await asyncio.sleep(0.2)


async def inventory(client: Client, workflow_id: str) -> HandoverProgress:
    """Wait until incidents, tickets and rollouts are listed."""
    return await wait_for(
        client,
        workflow_id,
        lambda p: p.phase is Phase.HANDING_OVER and p.incidents and p.tickets and p.rollouts,
    )


async def listed(client: Client, workflow_id: str) -> HandoverProgress:
    """Wait until the handover has listed what the outgoing admin owns (whatever it found)."""
    return await wait_for(
        client, workflow_id, lambda p: p.phase is Phase.HANDING_OVER and p.inventory_at is not None
    )


async def play_outgoing(
    client: Client, workflow_id: str, skip: set[str] = frozenset(), outgoing: str = OUTGOING
) -> None:
    """Everything the outgoing admin owes, except the items in `skip`."""
    current = await (inventory if outgoing == OUTGOING else listed)(client, workflow_id)
    for wait in current.pending:
        if wait.owner != outgoing or wait.item_id in skip:
            continue
        if wait.kind is InputKind.STATUS:
            given = status_for(wait.item_id, outgoing)
        elif wait.kind is InputKind.ENGINEERING_LINK:
            given = EngineeringLinkInput(actor=outgoing, ticket_id=wait.item_id, issue="ENG-4242")
        elif wait.kind is InputKind.ROLLOUT_ANNOTATION:
            rollout = next(r.rollout for r in current.rollouts if r.rollout.id == wait.item_id)
            given = RolloutAnnotationInput(
                actor=outgoing,
                rollout_id=wait.item_id,
                ramp_percent=rollout.ramp_percent,
                error_rate=rollout.error_rate,
                next_step=f"next ramp step for {rollout.flag}: +15% tomorrow",
            )
        else:
            continue
        assert await service.send(client, workflow_id, wait.kind, given) is not None


async def play_incoming(
    client: Client, workflow_id: str, timeout: float = 120, incoming: str = INCOMING
) -> None:
    """Acknowledge and take ownership of whatever is pending for incoming, until the summary is acked."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await service.progress(client, workflow_id)
        if current.summary is not None and current.summary.acknowledged is not None:
            return
        if current.phase.ended or loop.time() > deadline:
            raise AssertionError(f"the handover ended or stalled: {current.phase.value}: {current.error}")
        for wait in current.pending:
            if wait.owner != incoming:
                continue
            if wait.kind is InputKind.INCIDENT_ACK:
                given = IncidentAckInput(actor=incoming, incident_id=wait.item_id)
            elif wait.kind is InputKind.ROLLOUT_OWNERSHIP:
                given = RolloutOwnershipInput(actor=incoming, rollout_id=wait.item_id)
            else:
                await until_the_watch_is_not_just_taken(client, workflow_id)
                given = SummaryAckInput(actor=incoming)
            await service.send(client, workflow_id, wait.kind, given)
        await asyncio.sleep(0.2)


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


async def planned_handover(client: Client, task_queue: str) -> HandoverReport:
    """A whole planned handover of Alice's to Bob, both of them answering everything."""
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    handle = await service.start(client, task_queue, request)
    await play_outgoing(client, handle.id)
    await play_incoming(client, handle.id)
    return await handle.result()


def assign_in_pagerduty(
    sandbox, incident_id: str, user_id: str | list[str], by: str = "carol@novalien.com"
) -> None:
    """Someone else (Carol) assigns an incident in PagerDuty while the handover runs."""
    client = pagerduty.RestApiV2Client(
        sandbox.store.state.tokens.pagerduty_token,
        base_url=sandbox.pagerduty_url,
        verify=sandbox.ssl_context(),
    )
    users = [user_id] if isinstance(user_id, str) else user_id
    client.rput(
        f"/incidents/{incident_id}",
        json={
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": user, "type": "user_reference"}} for user in users],
        },
        headers={"From": by},
    )
