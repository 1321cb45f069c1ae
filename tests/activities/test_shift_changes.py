"""`next_shift_change`: who hands over to whom, and when, read from PagerDuty's final schedule
(the sandbox computes it as PagerDuty does: tests/sandbox/test_oncall.py): the rotation's next
turn; a swap before it, which changes who is next; an override that keeps the same person on,
which moves the change to when it ends; a gap; and no change at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pagerduty import PagerDutyActivities, ShiftQuery
from sandbox.state import DEMO_SCENARIO, read_scenario_file

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
"""Alice's week began a day ago: Bob's begins in six days."""
BOUNDARY = START + timedelta(days=7)
ALICE, BOB, CAROL = "alice@novalien.com", "bob@novalien.com", "carol@novalien.com"


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def world(fresh_sandbox):
    """The demo's primary schedule, written as one weekly layer of Alice then Bob."""

    def make(*, layers: list[dict[str, Any]] | None = None, overrides: list[dict[str, Any]] = ()) -> None:
        scenario = read_scenario_file(DEMO_SCENARIO)
        primary = next(s for s in scenario["pagerduty"]["schedules"] if s["id"] == "PPRIMARY")
        for key in ("rotation_users", "rotation_start", "turn_length_hours", "overrides"):
            primary.pop(key, None)
        weekly = {"rotation_virtual_start": iso(START), "rotation_turn_length_seconds": 7 * 86_400}
        primary["layers"] = layers or [{"users": ["PALICEM", "PBOBOKA"], **weekly}]
        primary["overrides"] = list(overrides)
        fresh_sandbox.reset(scenario)

    yield make
    fresh_sandbox.reset(DEMO_SCENARIO)


def next_change(settings, after: datetime = NOW, horizon: timedelta = timedelta(days=35)):
    query = ShiftQuery(schedule_id="PPRIMARY", after=after, horizon=horizon)
    return ActivityEnvironment().run(PagerDutyActivities(settings).next_shift_change, query)


def said(change) -> tuple[str | None, str, datetime]:
    return (change.outgoing.email if change.outgoing else None, change.incoming.email, change.at)


def test_the_next_turn_of_the_rotation(settings, world):
    world()
    assert said(next_change(settings)) == (ALICE, BOB, BOUNDARY)
    assert said(next_change(settings, after=BOUNDARY)) == (BOB, ALICE, BOUNDARY + timedelta(days=7))


def test_a_swap_before_the_boundary_changes_who_is_next(settings, world):
    world(overrides=[{"user": "PCAROLN", "start": iso(BOUNDARY), "end": iso(BOUNDARY + timedelta(days=1))}])
    assert said(next_change(settings)) == (ALICE, CAROL, BOUNDARY)
    assert said(next_change(settings, after=BOUNDARY)) == (CAROL, BOB, BOUNDARY + timedelta(days=1))


def test_an_override_that_keeps_the_same_person_on_moves_the_change_to_its_end(settings, world):
    keeps = {
        "user": "PALICEM",
        "start": iso(BOUNDARY - timedelta(hours=1)),
        "end": iso(BOUNDARY + timedelta(days=2)),
    }
    world(overrides=[keeps])
    assert said(next_change(settings)) == (ALICE, BOB, BOUNDARY + timedelta(days=2))


def test_after_a_gap_the_change_is_from_whoever_was_on_call_last(settings, world):
    """Nights only (22:00 for 4 hours, Paris): Alice's last night is before the boundary, and the
    change to Bob is at his first night, from her, though nobody is on call in between."""
    weekly = {"rotation_virtual_start": iso(START), "rotation_turn_length_seconds": 7 * 86_400}
    nights = {"type": "daily_restriction", "start_time_of_day": "22:00", "duration_seconds": 4 * 3600}
    world(layers=[{"users": ["PALICEM", "PBOBOKA"], **weekly, "restrictions": [nights]}])
    change = next_change(settings)
    assert (change.outgoing.email, change.incoming.email) == (ALICE, BOB)
    assert BOUNDARY <= change.at < BOUNDARY + timedelta(days=1)  # Bob's first night


def test_no_change_of_person_within_the_horizon_is_none(settings, world):
    world()
    assert next_change(settings, horizon=timedelta(days=3)) is None


def test_a_rotation_of_short_turns_is_read_near_its_moment(settings, world):
    """36-second turns (a sandbox to try the autopilot on): the next change is the next turn, from
    whoever is on now; a 35-day read of them would be 168,000 entries."""
    turns = {"rotation_virtual_start": iso(NOW - timedelta(seconds=10)), "rotation_turn_length_seconds": 36}
    world(layers=[{"users": ["PALICEM", "PBOBOKA", "PCAROLN"], **turns}])
    first = NOW + timedelta(seconds=26)
    assert said(next_change(settings)) == (ALICE, BOB, first)
    assert said(next_change(settings, after=first)) == (BOB, CAROL, first + timedelta(seconds=36))
    later = next_change(settings, after=NOW + timedelta(days=3))
    assert NOW + timedelta(days=3) < later.at <= NOW + timedelta(days=3, seconds=36)
