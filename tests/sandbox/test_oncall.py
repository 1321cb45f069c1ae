"""Who is on call, as PagerDuty computes it (support.pagerduty.com "Schedule Basics" and
"Setting up Restrictions for On-Call Shifts"): turns from each layer's virtual start; a layer
only inside its start, end and restrictions, in the schedule's time zone (daylight saving
included); where layers overlap, the later one ("the lowest layer always takes precedence");
overrides on top whatever the restrictions, the last created winning; nobody where nothing
covers. Then the same through `GET /oncalls` and `GET /schedules/{id}` with PagerDuty's client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sandbox.oncall import final_spans, layer_spans
from sandbox.state import DEMO_SCENARIO, PdSchedule, read_scenario_file
from sandbox.testing import SandboxHandle
from tests.sandbox.test_pagerduty_client import client_for

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
"""09:00 in Paris (UTC+1 in winter): the weekly handover."""
DAY, WEEK = timedelta(days=1), timedelta(days=7)


def schedule(**given: Any) -> PdSchedule:
    return PdSchedule.model_validate(
        {"id": "PSCHED1", "name": "Primary", "time_zone": "Europe/Paris", **given}
    )


def weekly(*users: str, **more: Any) -> dict[str, Any]:
    return {
        "users": list(users),
        "rotation_virtual_start": MONDAY,
        "rotation_turn_length_seconds": 604_800,
        **more,
    }


def who(found: PdSchedule, since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    return [(s.user, s.start, s.end) for s in final_spans(found, since, until)]


def test_one_layer_in_short_is_the_same_as_written_out():
    short = schedule(rotation_users=["PA", "PB"], rotation_start=MONDAY, turn_length_hours=168)
    written = schedule(layers=[weekly("PA", "PB")])
    assert who(short, MONDAY - WEEK, MONDAY + 3 * WEEK) == who(written, MONDAY - WEEK, MONDAY + 3 * WEEK)
    assert who(written, MONDAY, MONDAY + 2 * WEEK) == [
        ("PA", MONDAY, MONDAY + WEEK),
        ("PB", MONDAY + WEEK, MONDAY + 2 * WEEK),
    ]


def test_a_later_layer_takes_precedence_where_it_has_someone_on_call():
    """Weekdays rotate A and B; a weekend layer (Saturday 00:00 Paris for two days) has C."""
    weekend = {"type": "weekly_restriction", "start_time_of_day": "00:00:00", "start_day_of_week": 6}
    found = schedule(
        layers=[weekly("PA", "PB"), weekly("PC", restrictions=[{**weekend, "duration_seconds": 172_800}])]
    )
    saturday = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # Saturday 00:00 in Paris
    assert who(found, MONDAY, MONDAY + WEEK + DAY) == [
        ("PA", MONDAY, saturday),
        ("PC", saturday, saturday + 2 * DAY),
        ("PA", saturday + 2 * DAY, MONDAY + WEEK),  # Monday 00:00 to 09:00: still A's turn
        ("PB", MONDAY + WEEK, MONDAY + WEEK + DAY),
    ]


def test_restrictions_leave_gaps_where_nobody_is_on_call_and_follow_daylight_saving():
    """Business hours, 09:00 for 8 hours in Paris: 08:00-16:00 UTC in winter, 07:00-15:00 after
    the clocks go forward (28 March 2027). Nobody in between."""
    hours = {"type": "daily_restriction", "start_time_of_day": "09:00", "duration_seconds": 8 * 3600}
    found = schedule(layers=[weekly("PA", restrictions=[hours])])
    assert who(found, MONDAY, MONDAY + 2 * DAY) == [
        ("PA", MONDAY, MONDAY + timedelta(hours=8)),
        ("PA", MONDAY + DAY, MONDAY + DAY + timedelta(hours=8)),
    ]
    spring = datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    assert who(found, spring - DAY, spring + DAY) == [
        ("PA", spring - DAY, spring - DAY + timedelta(hours=8)),  # (the 28th: already summer time)
        ("PA", spring, spring + timedelta(hours=8)),
    ]


def test_a_restriction_that_starts_in_the_spring_forward_gap_still_lasts_its_duration():
    """02:30 does not exist in Paris on 28 March 2027: the hour is still an hour, never nothing
    (a zero-length shift would read as two changes of person at one moment)."""
    early = {"type": "daily_restriction", "start_time_of_day": "02:30", "duration_seconds": 3600}
    day = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    found = schedule(layers=[weekly("PA"), weekly("PB", restrictions=[early])])
    spans = final_spans(found, day, day + DAY)
    assert all(s.end > s.start for s in spans)
    assert [(s.user, s.end - s.start) for s in spans if s.user == "PB"] == [("PB", timedelta(hours=1))]


def test_a_layer_applies_between_its_start_and_end_and_the_lower_one_shows_elsewhere():
    cover = weekly("PC", start=MONDAY + 2 * DAY, end=MONDAY + 3 * DAY)
    found = schedule(layers=[weekly("PA"), cover])
    assert who(found, MONDAY, MONDAY + 4 * DAY) == [
        ("PA", MONDAY, MONDAY + 2 * DAY),
        ("PC", MONDAY + 2 * DAY, MONDAY + 3 * DAY),
        ("PA", MONDAY + 3 * DAY, MONDAY + 4 * DAY),
    ]


def test_overrides_lie_on_top_of_every_layer_and_of_the_gaps_the_last_created_winning():
    hours = {"type": "daily_restriction", "start_time_of_day": "09:00", "duration_seconds": 8 * 3600}
    night = MONDAY + timedelta(hours=12)
    found = schedule(
        layers=[weekly("PA", restrictions=[hours])],
        overrides=[
            {"user": "PB", "start": night, "end": night + timedelta(hours=4)},
            {"user": "PC", "start": night + timedelta(hours=2), "end": night + timedelta(hours=3)},
        ],
    )
    assert who(found, MONDAY, MONDAY + timedelta(hours=18)) == [
        ("PA", MONDAY, MONDAY + timedelta(hours=8)),
        ("PB", night, night + timedelta(hours=2)),
        ("PC", night + timedelta(hours=2), night + timedelta(hours=3)),
        ("PB", night + timedelta(hours=3), night + timedelta(hours=4)),
    ]
    assert [s.user for s in layer_spans(found, found.all_layers[0], night, night + timedelta(hours=4))] == []


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (
            {
                "layers": [
                    weekly(
                        "PA",
                        restrictions=[
                            {
                                "type": "weekly_restriction",
                                "start_time_of_day": "09:00",
                                "duration_seconds": 60,
                            }
                        ],
                    )
                ]
            },
            "start_day_of_week",
        ),
        (
            {
                "layers": [
                    weekly(
                        "PA",
                        restrictions=[
                            {
                                "type": "daily_restriction",
                                "start_time_of_day": "09:00",
                                "duration_seconds": 90_000,
                            }
                        ],
                    )
                ]
            },
            "at most 86400",
        ),
        ({"layers": [weekly("PA")], "time_zone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"layers": [weekly("PA")], "rotation_users": ["PA"], "rotation_start": MONDAY}, "not both"),
        ({}, "needs layers"),
    ],
)
def test_a_schedule_pagerduty_would_refuse_is_refused_with_why(given, says):
    with pytest.raises(ValidationError, match=says):
        schedule(**given)


def test_oncalls_and_the_final_schedule_come_from_the_layers(fresh_sandbox: SandboxHandle):
    scenario = read_scenario_file(DEMO_SCENARIO)
    primary = next(s for s in scenario["pagerduty"]["schedules"] if s["id"] == "PPRIMARY")
    start = datetime.now(UTC).replace(microsecond=0) - DAY
    for key in ("rotation_users", "rotation_start", "turn_length_hours"):
        primary.pop(key, None)
    daily = {"rotation_virtual_start": start.isoformat(), "rotation_turn_length_seconds": 86_400}
    primary["layers"] = [
        {"users": ["PBOBOKA", "PCAROLN"], **daily},
        {"users": ["PALICEM"], **daily, "end": (start + 2 * DAY).isoformat()},  # today, then not
    ]
    fresh_sandbox.reset(scenario)
    client = client_for(fresh_sandbox)
    since, until = start + DAY + timedelta(hours=1), start + 3 * DAY
    oncalls = list(
        client.iter_all(
            "oncalls",
            params={"schedule_ids[]": ["PPRIMARY"], "since": since.isoformat(), "until": until.isoformat()},
        )
    )
    z = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert [(o["user"]["id"], o["start"], o["end"]) for o in oncalls] == [
        ("PALICEM", z(start), z(start + 2 * DAY)),  # its whole shift, from before `since`
        ("PBOBOKA", z(start + 2 * DAY), z(start + 3 * DAY)),
    ]
    rendered = client.rget(
        "/schedules/PPRIMARY", params={"since": since.isoformat(), "until": until.isoformat()}
    )
    assert [layer["name"] for layer in rendered["schedule_layers"]] == ["Layer 1", "Layer 2"]
    assert [e["user"]["id"] for e in rendered["final_schedule"]["rendered_schedule_entries"]] == [
        "PALICEM",
        "PBOBOKA",
    ]
