"""The autopilot on the time-skipping server, against the sandbox's PagerDuty (on-call computed as
PagerDuty does): weeks of a weekly rotation go by; at each change of person the routine handover
starts `lead` before it, from who is on call to who is next. What started is read from Temporal
(the handover's own record), not from the autopilot's memory."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from handover import service
from handover.models import AutopilotRequest, AutopilotStatus, HandoverProgress, Variant
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.handovers import alice_to_bob
from workflows.autopilot import AutopilotWorkflow

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
FIRST = START + timedelta(days=7)
"""Alice's week began a day ago: Bob's begins in six days, then Alice's again a week later."""
ALICE, BOB = "alice@novalien.com", "bob@novalien.com"
LEAD = timedelta(hours=2)


@pytest.fixture
def weekly(fresh_sandbox):
    def make(overrides: list[dict[str, Any]] = ()) -> None:
        scenario = read_scenario_file(DEMO_SCENARIO)
        primary = next(s for s in scenario["pagerduty"]["schedules"] if s["id"] == "PPRIMARY")
        for key in ("rotation_users", "rotation_start", "turn_length_hours"):
            primary.pop(key, None)
        primary["layers"] = [
            {
                "users": ["PALICEM", "PBOBOKA"],
                "rotation_virtual_start": START.isoformat(),
                "rotation_turn_length_seconds": 7 * 86_400,
            }
        ]
        primary["overrides"] = list(overrides)
        fresh_sandbox.reset(scenario)

    yield make
    fresh_sandbox.reset(DEMO_SCENARIO)


async def autopilot(env, task_queue: str):
    return await env.client.start_workflow(
        AutopilotWorkflow.run,
        AutopilotRequest(schedule_id="PPRIMARY", requested_by="autopilot:PPRIMARY", lead=LEAD),
        id=f"autopilot-PPRIMARY-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )


async def planned(pilot) -> AutopilotStatus:
    """Its status once it has read the schedule."""
    for _ in range(200):
        status = await pilot.query(AutopilotWorkflow.status, result_type=AutopilotStatus)
        if status.next is not None:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the autopilot never read the schedule")


async def handover_of(env, outgoing: str):
    """The handover Temporal has for this outgoing admin (its latest run), or None."""
    handle = env.client.get_workflow_handle(service.workflow_id_for(outgoing))
    try:
        return handle, await handle.describe()
    except RPCError:
        return None


async def until(env, moment: datetime) -> None:
    """Let the test server's clock run to `moment`."""
    await env.sleep(moment - await env.get_current_time())


async def test_each_change_of_person_starts_its_routine_handover_lead_before_it(time_skipping, weekly):
    env, task_queue = time_skipping
    weekly()
    pilot = await autopilot(env, task_queue)
    status = await planned(pilot)
    assert (status.next.outgoing, status.next.incoming, status.next.at) == (ALICE, BOB, FIRST)
    assert status.starts_at == FIRST - LEAD

    await until(env, FIRST - LEAD - timedelta(minutes=10))
    assert await handover_of(env, ALICE) is None, "nothing starts before its time"
    await until(env, FIRST - LEAD + timedelta(minutes=10))
    found = await handover_of(env, ALICE)
    assert found is not None, "Alice's routine handover to Bob started"
    handle, described = found
    assert FIRST - LEAD <= described.start_time < FIRST - LEAD + timedelta(minutes=1)
    progress = await handle.query("progress", result_type=HandoverProgress)
    assert (progress.request.variant, progress.request.incoming) == (Variant.ROUTINE, BOB)
    assert progress.request.requested_by == "autopilot:PPRIMARY"
    await handle.terminate("the test moves on")

    status = await pilot.query(AutopilotWorkflow.status, result_type=AutopilotStatus)
    assert [(r.boundary.at, r.started) for r in status.history] == [(FIRST, True)]
    assert (status.next.outgoing, status.next.incoming) == (BOB, ALICE)
    second = FIRST + timedelta(days=7)
    await until(env, second - LEAD + timedelta(minutes=10))
    found = await handover_of(env, BOB)
    assert found is not None and found[1].status is WorkflowExecutionStatus.RUNNING
    alice = await handover_of(env, ALICE)
    assert alice[1].run_id == described.run_id, "one handover per change: none again for Alice"


async def test_a_handover_started_by_hand_first_is_recorded_and_none_started(time_skipping, weekly):
    env, task_queue = time_skipping
    weekly()
    by_hand = await service.start(env.client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
    pilot = await autopilot(env, task_queue)
    await until(env, FIRST - LEAD + timedelta(minutes=10))
    status = await pilot.query(AutopilotWorkflow.status, result_type=AutopilotStatus)
    assert [(r.started, r.handover_id) for r in status.history] == [(False, by_hand.id)]
    assert "running already" in status.history[0].detail
    assert (await handover_of(env, ALICE))[1].run_id == by_hand.result_run_id


async def test_an_override_that_keeps_the_same_person_on_starts_nothing_until_it_ends(time_skipping, weekly):
    env, task_queue = time_skipping
    weekly(
        overrides=[
            {
                "user": "PALICEM",
                "start": (FIRST - timedelta(hours=6)).isoformat(),
                "end": (FIRST + timedelta(days=2)).isoformat(),
            }
        ]
    )
    pilot = await autopilot(env, task_queue)
    await until(env, FIRST + timedelta(hours=1))
    assert await handover_of(env, ALICE) is None, "Alice stays on: no change of person at the turn"
    status = await pilot.query(AutopilotWorkflow.status, result_type=AutopilotStatus)
    assert status.next.at == FIRST + timedelta(days=2)
