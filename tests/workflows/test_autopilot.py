"""The autopilot on the time-skipping server, against the sandbox's PagerDuty (on-call computed as
PagerDuty does): weeks of a weekly rotation go by; at each change of person the routine handover
starts `lead` before it, from who is on call to who is next. What started is read from Temporal
(the handover's own record), not from the autopilot's memory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from handover import autopilot as autopilot_module
from handover import service
from handover.errors import AlreadyDone
from handover.models import (
    AutopilotRequest,
    AutopilotStatus,
    HandoverProgress,
    HandoverRequest,
    Steer,
    SteerAction,
    Variant,
)
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.conftest import skipping, start_time_skipping, worker
from tests.handovers import alice_to_bob
from tests.humans import play_incoming, play_outgoing
from tests.writes import message_part, successful
from workflows.autopilot import AutopilotWorkflow

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
FIRST = START + timedelta(days=7)
"""Alice's week began a day ago: Bob's begins in six days, then Alice's again a week later."""
ALICE, BOB = "alice@novalien.com", "bob@novalien.com"
LEAD = timedelta(hours=2)


@pytest.fixture
def weekly(fresh_sandbox):
    def make(overrides: list[dict[str, Any]] = (), change: Any = None) -> None:
        scenario = read_scenario_file(DEMO_SCENARIO)
        if change is not None:
            change(scenario)
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


async def test_a_handover_started_by_hand_first_is_recorded_and_none_started(
    time_skipping, weekly, fresh_sandbox
):
    env, task_queue = time_skipping
    weekly()
    by_hand = await service.start(env.client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
    pilot = await autopilot(env, task_queue)
    await until(env, FIRST - LEAD + timedelta(minutes=10))
    status = await pilot.query(AutopilotWorkflow.status, result_type=AutopilotStatus)
    assert [(r.started, r.handover_id) for r in status.history] == [(False, by_hand.id)]
    assert "running already" in status.history[0].detail
    assert (await handover_of(env, ALICE))[1].run_id == by_hand.result_run_id
    refused = [w for w in posted(fresh_sandbox) if (message_part(w) or "").startswith("refused-")]
    assert refused == [], "Alice's own handover is the change's: nothing to tell the channel"


async def test_a_handover_done_by_hand_since_the_last_change_is_the_changes(time_skipping, weekly):
    """Alice handed over to Bob by hand, days early, and it completed: at the change the autopilot
    records that handover as the change's and starts none."""
    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
        by_hand = await service.start(env.client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
        await play_outgoing(env.client, by_hand.id)
        await play_incoming(env.client, by_hand.id)
        await by_hand.result()
        started = Started(env)
        started.runs[by_hand.result_run_id] = (ALICE, BOB, datetime.min.replace(tzinfo=UTC))
        await started.run_until(FIRST - LEAD + timedelta(minutes=10))
    assert len(started.handovers()) == 1, "none started: Alice's handover was done"
    status = await autopilot_module.status(env.client, "PPRIMARY")
    assert [(r.started, r.handover_id) for r in status.history] == [(False, by_hand.id)]
    assert status.history[0].detail.startswith("handed over by hand already")


async def test_two_autopilots_of_one_schedule_start_one_handover_per_change(time_skipping, weekly):
    """A second autopilot of the schedule (started under another workflow id) asks for the same
    change's handover with the same key and request, and gets the first one's back."""
    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        pilots = [
            await env.client.start_workflow(
                AutopilotWorkflow.run, routine(), id=f"autopilot-PPRIMARY-{n}", task_queue=task_queue
            )
            for n in (1, 2)
        ]
        started = Started(env)
        await started.run_until(FIRST - LEAD + timedelta(minutes=10))
        histories = [await p.query(AutopilotWorkflow.status, result_type=AutopilotStatus) for p in pilots]
    assert [(o, i) for o, i, _ in started.handovers()] == [(ALICE, BOB)]
    assert [[(r.started, r.handover_id) for r in h.history] for h in histories] == [
        [(True, service.workflow_id_for(ALICE))]
    ] * 2


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


# --- a month of weekly changes, counted from Temporal ---------------------------------------

CAROL = "carol@novalien.com"
PEOPLE = {"PALICEM": ALICE, "PBOBOKA": BOB, "PCAROLN": CAROL}
STEP = timedelta(hours=3)
"""How often the month's clock stops to look at what Temporal holds."""
STAND_IN = "handovers-stood-in-for"
"""The month's handovers are started on a task queue whose worker runs a stand-in that only waits:
what is counted is what the autopilot started (Temporal holds each, with its start and its memo),
and each is ended while it is still. A real handover is always mid-task somewhere (its reaction
watch at least), and the Java test server keeps its time-skipping lock for good when a workflow
ends under a task a worker has taken. The handover itself is tested everywhere else."""


@workflow.defn(name="HandoverWorkflow", sandboxed=False)  # (it only waits)
class StandIn:
    @workflow.run
    async def run(self, request: HandoverRequest) -> None:
        await workflow.wait_condition(lambda: False)


@asynccontextmanager
async def stand_in(env) -> AsyncIterator[None]:
    async with Worker(env.client, task_queue=STAND_IN, workflows=[StandIn]):
        yield


def routine(**more: Any) -> AutopilotRequest:
    return AutopilotRequest(
        schedule_id="PPRIMARY", requested_by=CAROL, lead=LEAD, handover_task_queue=STAND_IN, **more
    )


class Started:
    """Every handover Temporal holds for the team's admins, one per run, as first seen: who handed
    to whom and when it started (from the handover's own execution and memo). Each one found is
    ended at once, as a person finishing it would, so the next one is a new run (a stand-in does
    not end by itself between two looks)."""

    def __init__(self, env) -> None:
        self.env = env
        self.runs: dict[str, tuple[str, str, datetime]] = {}

    async def look(self) -> None:
        for email in PEOPLE.values():
            found = await handover_of(self.env, email)
            if found is None or found[1].run_id in self.runs:
                continue
            handle, described = found
            request = (await described.memo())["request"]
            self.runs[described.run_id] = (request["outgoing"], request["incoming"], described.start_time)
            await self.end(handle)

    async def end(self, handle) -> None:
        """Terminated once its first workflow task is done (the clock stands while the test looks)."""
        for _ in range(200):
            events = (await handle.fetch_history()).events
            if events[-1].HasField("workflow_execution_terminated_event_attributes"):
                return
            if events[-1].HasField("workflow_task_completed_event_attributes"):
                await handle.terminate("the test moves on: a person would finish it")
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id}'s stand-in never ran")

    async def run_until(self, moment: datetime) -> None:
        """The clock runs to `moment`, stopping every STEP to look."""
        while (now := await self.env.get_current_time()) < moment:
            await self.env.sleep(min(STEP, moment - now))
            await self.look()

    def handovers(self) -> list[tuple[str, str, datetime]]:
        return sorted(self.runs.values(), key=lambda run: run[2])


def override(sandbox, user: str, start: datetime, end: datetime) -> None:
    """A person makes an override in PagerDuty (as the web UI's "Schedule an override" does)."""
    with sandbox.pagerduty_client() as pagerduty:
        answer = pagerduty.post(
            "/schedules/PPRIMARY/overrides",
            json={
                "overrides": [
                    {
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "user": {"id": user, "type": "user_reference"},
                    }
                ]
            },
        )
    assert answer.status_code == 201 and answer.json()[0]["status"] == 201, answer.text


def posted(sandbox) -> list[dict]:
    """The messages posted to Slack."""
    return successful(sandbox.writes("slack"), "slack", "POST", "chat.postMessage")


def near(when: datetime, expected: datetime) -> bool:
    return expected <= when < expected + timedelta(minutes=1)


async def test_a_month_of_changes_a_swap_a_skipped_week_and_an_override_that_keeps_bob_on(
    time_skipping, weekly, fresh_sandbox
):
    """Four weekly changes in a month, each handled by the real schedule: the first as planned;
    Carol takes Alice's second week (a swap made days before); the third change is skipped by a
    person; an override keeps Bob on two days past the fourth, whose handover moves with it."""
    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        await month(env, task_queue, fresh_sandbox)


async def month(env, task_queue: str, fresh_sandbox) -> None:
    await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
    started = Started(env)
    second, third, fourth = (FIRST + timedelta(days=7 * n) for n in (1, 2, 3))

    await started.run_until(FIRST + timedelta(hours=1))
    override(fresh_sandbox, "PCAROLN", second, third)  # Carol covers Alice's week
    await started.run_until(second - LEAD - timedelta(days=2))
    status = await autopilot_module.status(env.client, "PPRIMARY")
    assert (status.next.outgoing, status.next.incoming, status.next.at) == (BOB, CAROL, second), (
        "the swap is followed before the change"
    )
    await started.run_until(second + timedelta(hours=1))

    skip = Steer(by=ALICE, why="team offsite: Carol and Bob hand over in person")
    status = await autopilot_module.steer(env.client, "PPRIMARY", SteerAction.SKIP_NEXT, skip)
    assert status.skip is not None and status.skip.change_at == third
    await started.run_until(third + timedelta(hours=1))

    override(fresh_sandbox, "PBOBOKA", fourth - timedelta(hours=6), fourth + timedelta(days=2))
    await started.run_until(fourth + timedelta(days=3))

    assert [(o, i) for o, i, _ in started.handovers()] == [(ALICE, BOB), (BOB, CAROL), (BOB, ALICE)], (
        "one handover per change of person, to whoever the final schedule has next; none for the skipped one"
    )
    starts = [run[2] for run in started.handovers()]
    assert near(starts[0], FIRST - LEAD) and near(starts[1], second - LEAD)
    assert near(starts[2], fourth + timedelta(days=2) - LEAD), "the override moved Bob's handover"

    status = await autopilot_module.status(env.client, "PPRIMARY")
    handled = [(r.boundary.at, r.boundary.outgoing, r.boundary.incoming, r.started) for r in status.history]
    assert handled == [
        (FIRST, ALICE, BOB, True),
        (second, BOB, CAROL, True),
        (third, CAROL, BOB, False),
        (fourth + timedelta(days=2), BOB, ALICE, True),
    ]
    assert status.history[2].detail.startswith("skipped: ") and ALICE in status.history[2].detail
    notices = [
        w["body"]["text"] for w in posted(fresh_sandbox) if (message_part(w) or "").startswith("notice-")
    ]
    assert len(notices) == 4, "the channel hears of each change, once, before it"
    assert f"{BOB} → {CAROL}" in notices[1] and "skipped" in notices[2] and f"{BOB} → {ALICE}" in notices[3]


async def test_a_worker_that_stops_while_it_waits_is_replaced_and_it_starts_once(
    settings, activity_executor, weekly
):
    """The autopilot's worker stops while it waits; a new worker (no cache: it replays the
    autopilot's history) takes over, twice, and each handover starts on time, once. The workers
    keep no sticky cache: the test server never times out a gone worker's sticky queue (its clock
    stands while a task waits), and has no ResetStickyTaskQueue. (A change passing while no worker
    runs is tested on the dev server: tests/e2e/test_autopilot.py.)"""
    env = await start_time_skipping()
    task_queue = f"test-{uuid.uuid4()}"

    def uncached() -> Worker:
        return worker(env.client, task_queue, skipping(settings), activity_executor, max_cached_workflows=0)

    try:
        weekly()
        started = Started(env)
        async with stand_in(env):
            async with uncached():
                status = await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
                assert status is not None and status.next.at == FIRST
                await started.run_until(FIRST - LEAD - timedelta(days=3))
            for days in (2, 1):  # the worker replaced, a day apart
                async with uncached():
                    await started.run_until(FIRST - LEAD - timedelta(days=days) + timedelta(hours=1))
            async with uncached():
                await started.run_until(FIRST + timedelta(days=7) - LEAD + timedelta(minutes=10))
                status = await autopilot_module.status(env.client, "PPRIMARY")
        assert [(o, i) for o, i, _ in started.handovers()] == [(ALICE, BOB), (BOB, ALICE)]
        assert near(started.handovers()[0][2], FIRST - LEAD)
        assert near(started.handovers()[1][2], FIRST + timedelta(days=7) - LEAD)
        assert [r.started for r in status.history] == [True, True]
    finally:
        await env.shutdown()


async def test_paused_no_change_is_handed_over_until_resumed(time_skipping, weekly):
    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        await paused_for_a_change(env, task_queue)


async def paused_for_a_change(env, task_queue: str) -> None:
    await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
    started = Started(env)
    pause = Steer(by=BOB, why="migrating PagerDuty accounts")
    await autopilot_module.steer(env.client, "PPRIMARY", SteerAction.PAUSE, pause)
    with pytest.raises(AlreadyDone, match="paused already"):
        await autopilot_module.steer(env.client, "PPRIMARY", SteerAction.PAUSE, pause)
    await started.run_until(FIRST + timedelta(hours=1))
    assert started.handovers() == [], "paused: nothing starts"
    await autopilot_module.steer(env.client, "PPRIMARY", SteerAction.RESUME, Steer(by=BOB, why="done"))
    second = FIRST + timedelta(days=7)
    await started.run_until(second - LEAD + timedelta(minutes=10))
    assert [(o, i) for o, i, _ in started.handovers()] == [(BOB, ALICE)]
    status = await autopilot_module.status(env.client, "PPRIMARY")
    assert [r.started for r in status.history] == [False, True]
    assert "paused" in status.history[0].detail and BOB in status.history[0].detail
    assert [s.action for s in status.steers] == [SteerAction.START, SteerAction.PAUSE, SteerAction.RESUME]


async def test_a_next_admin_who_cannot_be_handed_to_is_reported_before_the_change(
    time_skipping, weekly, fresh_sandbox
):
    """Bob is next but has left Slack: the channel hears of it `notice` before the start, while
    the schedule can be fixed; at the start the refusal is posted and no handover is started."""

    def bob_left_slack(scenario: dict) -> None:
        scenario["slack"]["users"] = [u for u in scenario["slack"]["users"] if u["email"] != BOB]

    env, task_queue = time_skipping
    weekly(change=bob_left_slack)
    async with stand_in(env):
        await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
        started = Started(env)
        await started.run_until(FIRST - LEAD - timedelta(days=1) + timedelta(minutes=10))
        told = [w for w in posted(fresh_sandbox) if (message_part(w) or "").startswith("notice-")]
        assert len(told) == 1 and "cannot start" in told[0]["body"]["text"] and BOB in told[0]["body"]["text"]
        await started.run_until(FIRST + timedelta(hours=1))
    assert started.handovers() == [], "step 0 would refuse it: not started"
    refused = [w for w in posted(fresh_sandbox) if (message_part(w) or "").startswith("refused-")]
    assert len(refused) == 1 and "was not started" in refused[0]["body"]["text"]
    status = await autopilot_module.status(env.client, "PPRIMARY")
    assert [r.started for r in status.history] == [False]
    assert status.history[0].detail.startswith("not started: ") and BOB in status.history[0].detail


async def test_a_schedule_it_cannot_read_is_told_once_and_followed_again_when_it_can(
    time_skipping, weekly, fresh_sandbox
):
    """PagerDuty refuses the service's token for a day (revoked, then restored): the channel
    hears it once, the status says it, nothing starts; once it reads again, the change's handover
    starts on time."""

    def revoked(scenario: dict) -> None:
        scenario["tokens"]["pagerduty_token"] = "a-token-nobody-has"

    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
        started = Started(env)
        weekly(change=revoked)
        await started.run_until(NOW + timedelta(days=1))
        status = await autopilot_module.status(env.client, "PPRIMARY")
        assert status.trouble is not None and status.summary().startswith("cannot read the schedule")
        told = [w for w in posted(fresh_sandbox) if (message_part(w) or "").startswith("trouble-")]
        assert len(told) == 1 and "cannot read PagerDuty schedule PPRIMARY" in told[0]["body"]["text"], told
        weekly()
        await started.run_until(FIRST - LEAD + timedelta(minutes=10))
        status = await autopilot_module.status(env.client, "PPRIMARY")
    assert status.trouble is None
    assert [(o, i) for o, i, _ in started.handovers()] == [(ALICE, BOB)]
    assert near(started.handovers()[0][2], FIRST - LEAD)


async def test_a_change_moved_later_after_its_handover_started_starts_no_second(
    time_skipping, weekly, fresh_sandbox
):
    """Alice's handover to Bob started two hours before the turn; then an incident keeps her on
    for two more hours (an override): the turn moved, the people did not, and the handover already
    running is that change's."""
    env, task_queue = time_skipping
    weekly()
    async with stand_in(env):
        await autopilot_module.turn_on(env.client, task_queue, routine(), "test")
        started = Started(env)
        await started.run_until(FIRST - LEAD + timedelta(minutes=10))
        override(fresh_sandbox, "PALICEM", FIRST - timedelta(hours=1), FIRST + timedelta(hours=2))
        await started.run_until(FIRST + timedelta(hours=5))  # (read again at the next recheck)
        status = await autopilot_module.status(env.client, "PPRIMARY")
    assert [(o, i) for o, i, _ in started.handovers()] == [(ALICE, BOB)]
    assert [(r.boundary.at, r.started) for r in status.history] == [
        (FIRST, True),
        (FIRST + timedelta(hours=2), False),
    ]
    assert "moved here after its handover" in status.history[1].detail
