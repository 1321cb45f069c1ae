"""The two humans of a handover, played through the same service calls the CLI makes
(devstack/people.py: what they give and when), and the waits and PagerDuty writes tests share."""

from __future__ import annotations

import asyncio

import pagerduty
from temporalio.client import Client

from devstack.people import INCOMING, OUTGOING, Role, TemporalDesk, handing_over, play
from devstack.people import status_for as status_for  # (the tests take it from here)
from handover import service
from handover.models import HandoverProgress, HandoverReport, HandoverRequest, Phase


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
    return await wait_for(client, workflow_id, handing_over)


async def play_outgoing(client: Client, workflow_id: str, skip: set[str] = frozenset()) -> None:
    """Everything the outgoing admin owes once the handover has listed it, except the items in `skip`."""
    await play(TemporalDesk(client, workflow_id), {Role.OUTGOING}, ready=handing_over, skip=skip, timeout=30)


async def play_incoming(client: Client, workflow_id: str, timeout: float = 120) -> None:
    """Acknowledge and take ownership of whatever is pending for incoming, until the summary is acked."""
    await play(TemporalDesk(client, workflow_id), {Role.INCOMING}, timeout=timeout)


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
