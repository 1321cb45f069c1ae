"""The invariants themselves can fail: a world that keeps them all, then told one lie at a time.

The world is run for real once (tests/worlds/run.py); each test changes one thing in what was
recorded (a write, the state after, the report) and expects exactly the invariant that forbids it.
"""

from __future__ import annotations

import copy

import pytest

from handover.models import Outcome
from sandbox.state import DEMO_SCENARIO
from tests.worlds.generate import (
    HandoverSpec,
    Person,
    World,
    WorldIncident,
    WorldRollout,
    WorldSession,
    WorldTicket,
)
from tests.worlds.invariants import INVARIANTS, InvariantBroken, check_world
from tests.worlds.run import WorldRun, run_world

KEEPS_THEM_ALL = World(
    people=(Person(0, "Zoë Ångström"), Person(1, "李小龙"), Person(2, "José Núñez")),
    handovers=(HandoverSpec(0, 1, offboarding=True),),
    incidents=(
        WorldIncident("QW0", 7000, "PPLATOPS", "triggered", (0,)),
        WorldIncident("QW1", 7001, "PBILLING", "acknowledged", (0,)),
    ),
    tickets=(WorldTicket("SUP-W0", "active", True, 0), WorldTicket("SUP-W1", "open", False, 0)),
    sessions=(WorldSession("IMP-W0", 0, "SUP-W0"), WorldSession("IMP-W1", 0, "SUP-W1")),
    rollouts=(WorldRollout("RO-W0", "ramping", 0, error_rate=0.4), WorldRollout("RO-W1", "complete", 0)),
)


@pytest.fixture(scope="module")
async def run(sandbox, settings, activity_executor):
    done = await run_world(KEEPS_THEM_ALL, sandbox, settings, activity_executor)
    yield done
    sandbox.reset(DEMO_SCENARIO)


def broken(run: WorldRun) -> list[str]:
    return [number for number, check, _ in INVARIANTS if check(run)]


def lie(run: WorldRun) -> WorldRun:
    return copy.deepcopy(run)


def test_the_world_keeps_every_invariant(run):
    check_world(run)


def test_a_write_to_an_item_out_of_scope_breaks_1(run):
    told = lie(run)
    told.writes.append(
        {
            **told.writes[-1],
            "seq": 999,
            "api": "platform",
            "method": "PUT",
            "path": "/tickets/SUP-W1/assignee",
            "body": {"assignee": "p1@novalien.com"},
        }
    )
    assert "1" in broken(told)
    with pytest.raises(InvariantBroken, match="SUP-W1"):
        check_world(told)


def test_an_item_out_of_scope_that_changed_breaks_2(run):
    told = lie(run)
    told.after["platform"]["rollouts"]["RO-W1"]["owner"] = "p1@novalien.com"
    assert broken(told) == ["2"]


def test_an_item_left_out_of_the_report_or_pending_breaks_3(run):
    told = lie(run)
    told.handovers[0].report.tickets.clear()
    assert "3" in broken(told)
    told = lie(run)
    told.handovers[0].report.rollouts[0].outcome = Outcome.PENDING
    assert "3" in broken(told)


def test_a_summary_that_miscounts_breaks_4(run):
    told = lie(run)
    summary = told.handovers[0].report.summary
    summary.text = summary.text.replace("1 incident reassigned", "2 incidents reassigned")
    assert broken(told) == ["4"]


def test_a_write_made_twice_breaks_5(run):
    told = lie(run)
    note = next(w for w in told.writes if w["path"].endswith("/notes"))
    told.writes.append({**note, "seq": 999})
    assert broken(told) == ["5"]


def test_a_co_assignee_dropped_breaks_7(run):
    told = lie(run)
    told.before["pagerduty"]["incidents"]["QW0"]["assignments"].append({"user": "PWORLD2", "at": "x"})
    assert "7" in broken(told)


def test_a_session_the_audit_missed_breaks_15(run):
    told = lie(run)
    told.handovers[0].report.audit.missing_sessions = ["IMP-W0"]
    assert broken(told) == ["15"]
