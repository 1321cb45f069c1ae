"""Every query parameter the contracts declare, on every route the activities call, does what the
real API does: a filter narrows the listing to exactly the items it names, and the others have
their effect. A parameter the sandbox accepted and ignored once hid a bug for months (the
platform's `GET /rollouts?owner=`): here a declared parameter without a case fails
`test_every_declared_parameter_has_a_case`, and an ignored one fails its case.

The world is the demo's data made richer where the demo cannot tell a filter from no filter:
teams, a second schedule, an incident older than PagerDuty's default month, someone else's
rollout, more audit events.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.state import DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle

CONTRACTS = Path(__file__).parents[2] / "contracts"
PAGERDUTY_SCHEMA = CONTRACTS / "pagerduty-subset.json"
PLATFORM_SCHEMA = CONTRACTS / "platform-api.yaml"

CALLED = {
    "pagerduty": [
        "GET /users",
        "GET /incidents",
        "GET /incidents/{id}",
        "GET /incidents/{id}/notes",
        "GET /incidents/{id}/log_entries",
        "GET /oncalls",
        "GET /schedules/{id}/overrides",
        "PUT /incidents",
    ],
    "platform": [
        "GET /admins/{email}",
        "GET /tickets",
        "GET /tickets/{ticket_id}",
        "GET /tickets/{ticket_id}/comments",
        "GET /impersonation-sessions",
        "GET /rollouts",
        "GET /rollouts/{rollout_id}",
        "GET /audit-log",
    ],
}
"""The read routes the activities call (activities/pagerduty.py, activities/platform.py), and the
bulk update, whose schema declares listing parameters."""

NOT_QUERIES = {
    ("pagerduty", "PUT /incidents", "limit"): "PagerDuty's schema declares pagination on the bulk PUT",
    ("pagerduty", "PUT /incidents", "offset"): "PagerDuty's schema declares pagination on the bulk PUT",
    ("pagerduty", "PUT /incidents", "total"): "PagerDuty's schema declares pagination on the bulk PUT",
}
"""Declared parameters that mean nothing on their route, each with the reason."""


def declared() -> set[tuple[str, str, str]]:
    found = set()
    pagerduty = json.loads(PAGERDUTY_SCHEMA.read_text())
    platform = yaml.safe_load(PLATFORM_SCHEMA.read_text())
    for api, spec in (("pagerduty", pagerduty), ("platform", platform)):
        shared = spec.get("components", {}).get("parameters", {})
        for route in CALLED[api]:
            method, path = route.split(" ", 1)
            operation = spec["paths"][path][method.lower()]
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = shared[parameter["$ref"].rsplit("/", 1)[-1]]
                if parameter["in"] == "query":
                    found.add((api, route, parameter["name"]))
    return found


# --- the world --------------------------------------------------------------------------------


def world() -> dict[str, Any]:
    data = copy.deepcopy(read_scenario_file(DEMO_SCENARIO))
    pd = data["pagerduty"]
    pd["teams"] = [{"id": "PTPLAT", "name": "Platform"}, {"id": "PTBILL", "name": "Billing"}]
    for user in pd["users"]:
        user["teams"] = ["PTBILL"] if user["id"] == "PDAVEFR" else ["PTPLAT"]
    for service in pd["services"]:
        service["teams"] = ["PTBILL"] if service["id"] == "PBILLING" else ["PTPLAT"]
    pd["schedules"].append(
        {
            "id": "PBILLSC",
            "name": "Billing primary",
            "escalation_policy": {"id": "PBILLEP", "name": "Billing"},
            "rotation_users": ["PDAVEFR"],
            "rotation_start": "-1d",
        }
    )
    pd["schedules"][0]["overrides"] = [
        {"user": "PCAROLN", "start": "-1h", "end": "+3h"},
        {"user": "PBOBOKA", "start": "+1d", "end": "+1d2h"},
    ]
    pd["incidents"].append(
        {
            "id": "Q7AGED1",
            "number": 4100,
            "title": "Slow boot on hv-02 (open for six weeks)",
            "service": "PPLATOPS",
            "status": "triggered",
            "urgency": "low",
            "created_at": "-42d",
            "assignees": ["PALICEM"],
        }
    )
    platform = data["platform"]
    platform["rollouts"].append(
        {
            "id": "RO-330",
            "flag": "vms.numa-pinning",
            "state": "ramping",
            "ramp_percent": 5,
            "error_rate": None,
            "owner": "carol@novalien.com",
        }
    )
    platform["audit_events"].append(
        {
            "id": "EVT-90030",
            "event_type": "platform.impersonation_ended",
            "actor": "carol@novalien.com",
            "at": "-3d",
            "target": {"type": "impersonation_session", "id": "IMP-4300"},
        }
    )
    return data


@pytest.fixture(scope="module")
def loaded(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    sandbox.reset(world())
    yield sandbox
    sandbox.reset(DEMO_SCENARIO)


@pytest.fixture(scope="module")
def pagerduty(loaded: SandboxHandle) -> Iterator[httpx.Client]:
    with loaded.pagerduty_client() as client:
        yield client


@pytest.fixture(scope="module")
def platform(loaded: SandboxHandle) -> Iterator[httpx.Client]:
    with loaded.platform_client() as client:
        yield client


# --- how a filter must behave -----------------------------------------------------------------


def ids(items: list[dict]) -> list[str]:
    return sorted(item["id"] for item in items)


def narrows(everything: list[dict], filtered: list[dict], holds: Callable[[dict], bool]) -> None:
    """The filtered listing is exactly the items of the whole one that the filter names, and the
    world makes the filter matter (it keeps some, and leaves some out)."""
    expected = [item for item in everything if holds(item)]
    assert ids(filtered) == ids(expected), "the filter does not narrow the way the API does"
    assert 0 < len(expected) < len(everything), "this world cannot tell the filter from no filter"


def refused(response: httpx.Response, parameter: str) -> None:
    """A parameter the sandbox does not model is refused out loud, never ignored."""
    assert response.status_code == 400, response.text
    assert parameter in response.text


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


Case = Callable[[httpx.Client, httpx.Client], None]
CASES: dict[tuple[str, str, str], Case] = {}


def case(api: str, route: str, *parameters: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        for parameter in parameters:
            CASES[(api, route, parameter)] = function
        return function

    return register


Listing = Callable[..., list[dict]]
"""`listing(client, **params)`: every item the route lists with those parameters."""


def filters(
    api: str, route: str, listing: Listing, table: dict[str, tuple[str, Callable[[dict], bool]]]
) -> None:
    """A case for each filter of `table` (parameter: its value, and which items it keeps): the
    route's listing with the filter `narrows` its listing without."""
    for parameter, (value, holds) in table.items():

        def narrowing(
            pd: httpx.Client, platform: httpx.Client, parameter=parameter, value=value, holds=holds
        ):
            client = pd if api == "pagerduty" else platform
            narrows(listing(client), listing(client, **{parameter: value}), holds)

        CASES[(api, route, parameter)] = narrowing


# --- PagerDuty: users ---------------------------------------------------------------------------


def pd_list(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict]:
    response = client.get(path, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()[key]


filters(
    "pagerduty",
    "GET /users",
    lambda pd, **params: pd_list(pd, "/users", "users", **params),
    {
        "query": ("okafor", lambda u: "okafor" in u["name"].lower() or "okafor" in u["email"].lower()),
        "team_ids[]": ("PTBILL", lambda u: "PTBILL" in [t["id"] for t in u["teams"]]),
    },
)


def _classic_pages(pd: httpx.Client, path: str, key: str, params: dict) -> None:
    everything = pd_list(pd, path, key, **params)
    assert len(everything) >= 3, "the world needs three items to page through"
    first = pd.get(path, params={**params, "limit": 2}).json()
    assert first[key] == everything[:2]
    assert first["more"] is True and first["total"] is None
    rest = pd.get(path, params={**params, "limit": 100, "offset": 2, "total": "true"}).json()
    assert rest[key] == everything[2:]
    assert rest["total"] == len(everything) and rest["more"] is False


def classic_listing(route: str, path: str, key: str, params: dict, include: str | None) -> None:
    """The cases of what every PagerDuty listing takes: `include[]` (here `include[]=<include>`),
    refused (None: the route has a case of its own), and classic pagination (`limit`, `offset`,
    `total`) over the listing with `params`."""

    def refuses_include(pd: httpx.Client, _: httpx.Client) -> None:
        refused(pd.get(path, params={"include[]": include}), "include[]")

    def pages_classically(pd: httpx.Client, _: httpx.Client) -> None:
        _classic_pages(pd, path, key, params)

    if include is not None:
        case("pagerduty", route, "include[]")(refuses_include)
    case("pagerduty", route, "limit", "offset", "total")(pages_classically)


classic_listing("GET /users", "/users", "users", {}, include="contact_methods")


# --- PagerDuty: incidents -----------------------------------------------------------------------

ALL = {"date_range": "all"}


def incidents(pd: httpx.Client, **params: Any) -> list[dict]:
    return pd_list(pd, "/incidents", "incidents", **{**ALL, **params})


def assigned(incident: dict) -> list[str]:
    return [a["assignee"]["id"] for a in incident["assignments"]]


filters(
    "pagerduty",
    "GET /incidents",
    incidents,
    {
        "statuses[]": ("acknowledged", lambda i: i["status"] == "acknowledged"),
        "service_ids[]": ("PPLATAPI", lambda i: i["service"]["id"] == "PPLATAPI"),
        # As PagerDuty: filtering by assignee returns only open incidents.
        "user_ids[]": (
            "PALICEM",
            lambda i: "PALICEM" in assigned(i) and i["status"] in ("triggered", "acknowledged"),
        ),
        "team_ids[]": ("PTBILL", lambda i: "PTBILL" in [t["id"] for t in i["teams"]]),
        "urgencies[]": ("low", lambda i: i["urgency"] == "low"),
    },
)


@case("pagerduty", "GET /incidents", "incident_key")
def _incidents_key(pd: httpx.Client, _: httpx.Client) -> None:
    everything = incidents(pd)
    key = everything[0]["incident_key"]
    narrows(everything, incidents(pd, incident_key=key), lambda i: i["incident_key"] == key)


@case("pagerduty", "GET /incidents", "date_range", "since", "until")
def _incidents_window(pd: httpx.Client, _: httpx.Client) -> None:
    everything = incidents(pd)
    now = datetime.now(UTC)
    month = pd_list(pd, "/incidents", "incidents")  # PagerDuty's default: the last 30 days
    narrows(everything, month, lambda i: at(i["created_at"]) >= now - timedelta(days=30, minutes=1))
    since, until = now - timedelta(hours=4), now - timedelta(hours=1)
    window = pd_list(pd, "/incidents", "incidents", since=since.isoformat(), until=until.isoformat())
    narrows(everything, window, lambda i: since <= at(i["created_at"]) < until)


@case("pagerduty", "GET /incidents", "sort_by")
def _incidents_sorted(pd: httpx.Client, _: httpx.Client) -> None:
    newest_first = incidents(pd, sort_by="created_at:desc")
    times = [at(i["created_at"]) for i in newest_first]
    assert times == sorted(times, reverse=True) and times != sorted(times)
    assert ids(newest_first) == ids(incidents(pd))


@case("pagerduty", "GET /incidents", "time_zone")
def _incidents_zone(pd: httpx.Client, _: httpx.Client) -> None:
    utc = incidents(pd)
    tokyo = incidents(pd, time_zone="Asia/Tokyo")
    assert [i["created_at"] for i in tokyo][0].endswith("+09:00")
    assert [at(i["created_at"]) for i in tokyo] == [at(i["created_at"]) for i in utc], "the same moments"
    assert pd.get("/incidents", params={"time_zone": "Mars/Olympus"}).status_code == 400


classic_listing("GET /incidents", "/incidents", "incidents", ALL, include="users")


@case("pagerduty", "GET /incidents/{id}", "include[]")
def _incident_include(pd: httpx.Client, _: httpx.Client) -> None:
    assert pd.get("/incidents/Q1DISK7").status_code == 200
    refused(pd.get("/incidents/Q1DISK7", params={"include[]": "users"}), "include[]")


# --- PagerDuty: log entries ---------------------------------------------------------------------


def log(pd: httpx.Client, **params: Any) -> list[dict]:
    return pd_list(pd, "/incidents/Q1DISK7/log_entries", "log_entries", **params)


@case("pagerduty", "GET /incidents/{id}/log_entries", "since", "until")
def _log_window(pd: httpx.Client, _: httpx.Client) -> None:
    now = datetime.now(UTC)
    since, until = now - timedelta(hours=2, minutes=45), now - timedelta(hours=2, minutes=50)
    narrows(log(pd), log(pd, since=since.isoformat()), lambda e: at(e["created_at"]) >= since)
    narrows(log(pd), log(pd, until=until.isoformat()), lambda e: at(e["created_at"]) < until)


@case("pagerduty", "GET /incidents/{id}/log_entries", "is_overview")
def _log_overview(pd: httpx.Client, _: httpx.Client) -> None:
    narrows(
        log(pd),
        log(pd, is_overview="true"),
        lambda e: e["type"] not in ("notify_log_entry", "annotate_log_entry"),
    )


@case("pagerduty", "GET /incidents/{id}/log_entries", "time_zone")
def _log_zone(pd: httpx.Client, _: httpx.Client) -> None:
    assert log(pd, time_zone="America/New_York")[0]["created_at"][-6:] in ("-05:00", "-04:00")


classic_listing(
    "GET /incidents/{id}/log_entries",
    "/incidents/Q1DISK7/log_entries",
    "log_entries",
    {},
    include="incidents",
)


# --- PagerDuty: on-calls and overrides ----------------------------------------------------------


def oncalls(pd: httpx.Client, **params: Any) -> list[dict]:
    found = pd_list(pd, "/oncalls", "oncalls", **params)
    return [{**o, "id": f"{o['schedule']['id']}/{o['user']['id']}/{o['start']}"} for o in found]


WEEK = {
    "since": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    "until": (datetime.now(UTC) + timedelta(days=8)).isoformat(),
}


filters(
    "pagerduty",
    "GET /oncalls",
    lambda pd, **params: oncalls(pd, **WEEK, **params),
    {
        "schedule_ids[]": ("PBILLSC", lambda o: o["schedule"]["id"] == "PBILLSC"),
        "user_ids[]": ("PBOBOKA", lambda o: o["user"]["id"] == "PBOBOKA"),
        "escalation_policy_ids[]": ("PPLATEP", lambda o: o["escalation_policy"]["id"] == "PPLATEP"),
    },
)


@case("pagerduty", "GET /oncalls", "since", "until")
def _oncalls_window(pd: httpx.Client, _: httpx.Client) -> None:
    now = oncalls(pd)  # without a window: who is on call now
    assert {o["user"]["id"] for o in now} == {"PCAROLN", "PDAVEFR"}, "Carol's override, Dave's rotation"
    later = datetime.now(UTC) + timedelta(days=1, hours=1)
    then = oncalls(pd, since=later.isoformat(), until=later.isoformat())
    assert {o["user"]["id"] for o in then} == {"PBOBOKA", "PDAVEFR"}, "Bob's override tomorrow"


@case("pagerduty", "GET /oncalls", "earliest")
def _oncalls_earliest(pd: httpx.Client, _: httpx.Client) -> None:
    narrows(
        oncalls(pd, **WEEK),
        oncalls(pd, **WEEK, earliest="true"),
        lambda o: o in _earliest(oncalls(pd, **WEEK)),
    )


def _earliest(found: list[dict]) -> list[dict]:
    first: dict[tuple[str, str], dict] = {}
    for oncall in found:
        first.setdefault((oncall["schedule"]["id"], oncall["user"]["id"]), oncall)
    return list(first.values())


@case("pagerduty", "GET /oncalls", "time_zone")
def _oncalls_zone(pd: httpx.Client, _: httpx.Client) -> None:
    assert oncalls(pd, time_zone="Asia/Kolkata")[0]["start"].endswith("+05:30")


classic_listing("GET /oncalls", "/oncalls", "oncalls", WEEK, include=None)


@case("pagerduty", "GET /oncalls", "include[]")
def _oncalls_include(pd: httpx.Client, _: httpx.Client) -> None:
    """`include[]=users`: each on-call's user in full, with the email (next_shift_change reads it);
    the other includes are not modelled, and refused."""
    users = [o["user"] for o in oncalls(pd, **WEEK, **{"include[]": "users"})]
    assert users and all(u["type"] == "user" and "@" in u["email"] for u in users)
    assert all(o["user"]["type"] == "user_reference" for o in oncalls(pd, **WEEK))
    refused(pd.get("/oncalls", params={**WEEK, "include[]": "schedules"}), "include[]")


OVERRIDES = "/schedules/PPRIMARY/overrides"


def overrides(pd: httpx.Client, since: datetime, until: datetime, **params: Any) -> list[dict]:
    response = pd.get(OVERRIDES, params={"since": since.isoformat(), "until": until.isoformat(), **params})
    assert response.status_code == 200, response.text
    return response.json()["overrides"]


@case("pagerduty", "GET /schedules/{id}/overrides", "since", "until")
def _overrides_window(pd: httpx.Client, _: httpx.Client) -> None:
    now = datetime.now(UTC)
    everything = overrides(pd, now - timedelta(days=1), now + timedelta(days=2))
    narrows(everything, overrides(pd, now, now + timedelta(hours=1)), lambda o: o["user"]["id"] == "PCAROLN")
    assert pd.get(OVERRIDES).status_code == 400, "since and until are required"


@case("pagerduty", "GET /schedules/{id}/overrides", "editable")
def _overrides_editable(pd: httpx.Client, _: httpx.Client) -> None:
    now = datetime.now(UTC)
    since, until = now - timedelta(days=1), now + timedelta(days=2)
    everything = overrides(pd, since, until, overflow="true")
    narrows(
        everything,
        overrides(pd, since, until, editable="true", overflow="true"),
        lambda o: at(o["start"]) > now,
    )


@case("pagerduty", "GET /schedules/{id}/overrides", "overflow")
def _overrides_overflow(pd: httpx.Client, _: httpx.Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    since, until = now, now + timedelta(hours=1)
    [cut] = overrides(pd, since, until)
    assert (at(cut["start"]), at(cut["end"])) == (since, until), "cut at the window's bounds"
    [whole] = overrides(pd, since, until, overflow="true")
    assert at(whole["start"]) < since and at(whole["end"]) > until, "as created"


# --- the platform API ---------------------------------------------------------------------------


def pages(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict]:
    found, cursor = [], None
    while True:
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        found += response.json()[key]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return found


def _cursor_pages(client: httpx.Client, path: str, key: str) -> None:
    everything = pages(client, path, key, limit=100)
    assert len(everything) >= 3
    first = client.get(path, params={"limit": 2}).json()
    assert [i["id"] for i in first[key]] == [i["id"] for i in everything[:2]] and first["next_cursor"]
    assert [i["id"] for i in pages(client, path, key, limit=2)] == [i["id"] for i in everything]
    assert client.get(path, params={"cursor": "not-ours"}).status_code == 400


filters(
    "platform",
    "GET /tickets",
    lambda api, **params: pages(api, "/tickets", "tickets", **params),
    {
        "assignee": ("alice@novalien.com", lambda t: t["assignee"] == "alice@novalien.com"),
        "pinned": ("false", lambda t: not t["pinned"]),
    },
)


@case("platform", "GET /tickets", "limit", "cursor")
def _tickets_pages(_: httpx.Client, api: httpx.Client) -> None:
    _cursor_pages(api, "/tickets", "tickets")


SESSIONS = "/impersonation-sessions"


@case("platform", "GET /impersonation-sessions", "admin")
def _sessions_admin(_: httpx.Client, api: httpx.Client) -> None:
    everything = pages(api, SESSIONS, "sessions")
    assert {s["admin"] for s in everything} == {"alice@novalien.com"}, "the demo's sessions are Alice's"
    assert pages(api, SESSIONS, "sessions", admin="carol@novalien.com") == []
    assert ids(pages(api, SESSIONS, "sessions", admin="ALICE@novalien.com")) == ids(everything)


filters(
    "platform",
    "GET /impersonation-sessions",
    lambda api, **params: pages(api, SESSIONS, "sessions", **params),
    {
        "state": ("ended", lambda s: s["state"] == "ended"),
        "ticket_id": ("SUP-1055", lambda s: s["ticket_id"] == "SUP-1055"),
    },
)


@case("platform", "GET /impersonation-sessions", "limit", "cursor")
def _sessions_pages(_: httpx.Client, api: httpx.Client) -> None:
    _cursor_pages(api, SESSIONS, "sessions")


filters(
    "platform",
    "GET /rollouts",
    lambda api, **params: pages(api, "/rollouts", "rollouts", **params),
    {"owner": ("carol@novalien.com", lambda r: r["owner"] == "carol@novalien.com")},
)


@case("platform", "GET /rollouts", "state")
def _rollouts_state(_: httpx.Client, api: httpx.Client) -> None:
    everything = pages(api, "/rollouts", "rollouts")
    narrows(everything, pages(api, "/rollouts", "rollouts", state="paused"), lambda r: r["state"] == "paused")
    both = api.get("/rollouts", params=[("state", "paused"), ("state", "complete")]).json()["rollouts"]
    narrows(everything, both, lambda r: r["state"] in ("paused", "complete"))


@case("platform", "GET /rollouts", "limit", "cursor")
def _rollouts_pages(_: httpx.Client, api: httpx.Client) -> None:
    _cursor_pages(api, "/rollouts", "rollouts")


filters(
    "platform",
    "GET /audit-log",
    lambda api, **params: pages(api, "/audit-log", "events", **params),
    {
        "event_type": (
            "platform.impersonation_started",
            lambda e: e["event_type"] == "platform.impersonation_started",
        )
    },
)


@case("platform", "GET /audit-log", "since")
def _audit_since(_: httpx.Client, api: httpx.Client) -> None:
    since = datetime.now(UTC) - timedelta(hours=2)
    narrows(
        pages(api, "/audit-log", "events"),
        pages(api, "/audit-log", "events", since=since.isoformat()),
        lambda e: at(e["at"]) >= since,
    )


@case("platform", "GET /audit-log", "limit", "cursor")
def _audit_pages(_: httpx.Client, api: httpx.Client) -> None:
    _cursor_pages(api, "/audit-log", "events")


# --- the tests ----------------------------------------------------------------------------------


def test_every_declared_parameter_has_a_case() -> None:
    missing = declared() - set(CASES) - set(NOT_QUERIES)
    assert not missing, (
        f"declared by the contracts, but nothing shows the sandbox applies them: {sorted(missing)}"
    )
    assert set(CASES) <= declared(), "a case for a parameter no contract declares"


@pytest.mark.parametrize("key", sorted(CASES), ids=["{} {} {}".format(*key) for key in sorted(CASES)])
def test_the_declared_parameter_does_what_the_api_does(
    key: tuple[str, str, str], pagerduty: httpx.Client, platform: httpx.Client
) -> None:
    CASES[key](pagerduty, platform)
