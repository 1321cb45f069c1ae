"""The autopilot on real processes, in real time: the Temporal dev server, `python worker.py`
(killed with SIGKILL and started again) and `starter.py autopilot`, against a sandbox schedule
whose turns last 36 seconds. What started is counted from Temporal's own list (visibility), not
from the autopilot's memory.

The first change's handover starts `lead` before it; the worker is killed, and stays down over the
second change, which is recorded as missed (no handover started late); a new worker is up before
the third, whose handover starts on time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from handover import autopilot, service
from handover.models import AutopilotRequest, Variant, autopilot_id
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.conftest import OBSERVER, OUTSIDER
from tests.handovers import alice_to_bob
from tests.reliability.stack import ROOT, Stack, running_stack, scenario_with, until_polling
from tests.writes import message_part, successful

TURN = timedelta(seconds=36)
LEAD = timedelta(seconds=10)
ALICE, BOB, CAROL = "alice@novalien.com", "bob@novalien.com", "carol@novalien.com"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, workers=1, endpoint=False) as stack:
        yield stack


def short_turns(stack: Stack, start: datetime) -> None:
    """Alice, Bob and Carol take 36-second turns on PPRIMARY, Alice's began 10 s before `start`."""
    scenario = scenario_with(stack.secrets)
    primary = next(s for s in scenario["pagerduty"]["schedules"] if s["id"] == "PPRIMARY")
    for key in ("rotation_users", "rotation_start", "turn_length_hours"):
        primary.pop(key, None)
    primary["layers"] = [
        {
            "users": ["PALICEM", "PBOBOKA", "PCAROLN"],
            "rotation_virtual_start": (start - timedelta(seconds=10)).isoformat(),
            "rotation_turn_length_seconds": int(TURN.total_seconds()),
        }
    ]
    stack.sandbox.reset(scenario)


def starter(stack: Stack, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "starter.py", *arguments],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def handovers(client: Client) -> list[tuple[str, str, datetime]]:
    """Every handover Temporal lists (running or ended): (outgoing, incoming, started)."""
    found = []
    async for execution in client.list_workflows('WorkflowType = "HandoverWorkflow"'):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        memo = await (await handle.describe()).memo()
        found.append((memo["request"]["outgoing"], memo["request"]["incoming"], execution.start_time))
    return sorted(found, key=lambda run: run[2])


async def end_running(client: Client) -> None:
    """The test finishes each handover found, as people would (the next one of its admins can
    then start: one handover per admin at a time)."""
    async for execution in client.list_workflows(
        'WorkflowType = "HandoverWorkflow" AND ExecutionStatus = "Running"'
    ):
        await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("done, say")


async def at(moment: datetime, client: Client) -> None:
    """Until `moment` (real time), ending each handover as it appears."""
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        await end_running(client)
        await asyncio.sleep(min(left, 1))


def near(when: datetime, expected: datetime) -> bool:
    return expected - timedelta(seconds=1) <= when < expected + timedelta(seconds=8)


@pytest.mark.reliability  # (100 s of real time: in make reliability, not make test's 10 minutes)
async def test_a_killed_worker_misses_the_change_it_slept_through_and_starts_the_next_on_time(stack):
    await until_polling(stack)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    short_turns(stack, start)
    first, second, third = (start - timedelta(seconds=10) + TURN * n for n in (1, 2, 3))
    on = starter(stack, "autopilot", "start", "PPRIMARY", "--lead", "10s", "--notice", "0s", "--as", CAROL)
    assert on.returncode == 0, on.stdout + on.stderr
    assert f"{ALICE} → {BOB}" in on.stdout
    client = await stack.client()

    while not await handovers(client):  # the first change's handover: then the worker is killed
        assert datetime.now(UTC) < first, "the first change's handover never started"
        await asyncio.sleep(0.2)
    assert stack.kill_worker(stack.workers[0]), "the worker was running"
    await at(second + LEAD + timedelta(seconds=4), client)  # nothing runs over the second change
    await until_polling(stack, [stack.start_worker()])
    await at(third - LEAD + timedelta(seconds=8), client)

    started = await handovers(client)
    assert [(o, i) for o, i, _ in started] == [(ALICE, BOB), (CAROL, ALICE)], started
    assert near(started[0][2], first - LEAD) and near(started[1][2], third - LEAD), started
    status = starter(stack, "autopilot", "status", "PPRIMARY", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    history = json.loads(status.stdout)["history"]
    assert [(r["boundary"]["outgoing"], r["started"]) for r in history] == [
        (ALICE, True),
        (BOB, False),
        (CAROL, True),
    ]
    assert history[1]["detail"].startswith("missed"), history[1]
    described = await client.get_workflow_handle("autopilot-PPRIMARY").describe()
    assert described.status is WorkflowExecutionStatus.RUNNING, "it goes on to the next change"


async def test_a_start_another_handover_is_in_the_way_of_is_posted_not_made(endpoint, fresh_sandbox):
    """Bob is receiving Alice's handover (started by hand) when his turn ends: the autopilot's
    handover from Bob to Carol would hand his incidents to someone still taking Alice's, so it is
    refused as any start would be, recorded, and posted to the channel. Over HTTP, what stood in
    its way (Alice's handover) is told to Bob, Carol and observers, not to Dave."""
    client, task_queue = endpoint.client, endpoint.task_queue
    scenario = read_scenario_file(DEMO_SCENARIO)
    primary = next(s for s in scenario["pagerduty"]["schedules"] if s["id"] == "PPRIMARY")
    for key in ("rotation_users", "rotation_start", "turn_length_hours"):
        primary.pop(key, None)
    now = datetime.now(UTC).replace(microsecond=0)
    primary["layers"] = [
        {
            "users": ["PBOBOKA", "PCAROLN"],
            "rotation_virtual_start": (now - TURN + timedelta(seconds=20)).isoformat(),
            "rotation_turn_length_seconds": int(TURN.total_seconds()),
        }
    ]
    fresh_sandbox.reset(scenario)
    by_hand = await service.start(client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
    request = AutopilotRequest(schedule_id="PPRIMARY", requested_by=CAROL, lead=LEAD, notice=timedelta(0))
    try:
        await autopilot.turn_on(client, task_queue, request, "test")
        for _ in range(200):
            status = await autopilot.status(client, "PPRIMARY")
            if status.history:
                break
            await asyncio.sleep(0.2)
        assert [(r.boundary.outgoing, r.started, r.handover_id) for r in status.history] == [
            (BOB, False, None)
        ]
        assert f"{BOB} is receiving a handover from {ALICE}" in status.history[0].detail
        refused = [
            w
            for w in successful(fresh_sandbox.writes("slack"), "slack", "POST", "chat.postMessage")
            if (message_part(w) or "").startswith("refused-")
        ]
        assert len(refused) == 1 and "was not started" in refused[0]["body"]["text"]
        assert by_hand.id in refused[0]["body"]["text"]
        for who, told in ((BOB, True), (CAROL, True), (OBSERVER, True), (OUTSIDER, False)):
            async with endpoint.http(who) as http:
                record = (await http.get("/autopilots/PPRIMARY")).json()["history"][0]
            assert (ALICE in record["detail"]) is told and record["detail"] != "", (who, record)
            assert record["started"] is False
    finally:
        await client.get_workflow_handle(autopilot_id("PPRIMARY")).terminate("the test ends")
