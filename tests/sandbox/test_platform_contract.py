"""The sandbox's platform API against contracts/platform-api.yaml, which the project owns.

Every request in this file goes through an httpx response hook that checks the request and the
answer with openapi-core (a request the contract calls invalid must be refused with a 4xx the
contract allows), so each behaviour test is also a contract test.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI

from sandbox.state import DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle
from tests.sandbox.openapi_check import Contract, Exchange

SPEC_FILE = Path(__file__).parents[2] / "contracts" / "platform-api.yaml"
SERVER = "https://platform.novalien.internal/api/v1"
TOKEN = "sandbox-platform-token"
ALICE, BOB, CAROL, DAVE = "alice@novalien.com", "bob@novalien.com", "carol@novalien.com", "dave@novalien.com"
ALICE_PINNED = ["SUP-1042", "SUP-1047", "SUP-1051", "SUP-1055", "SUP-1058"]

OPERATIONS = {
    "GET /admins/{email}",
    "GET /tickets",
    "GET /tickets/{ticket_id}",
    "GET /tickets/{ticket_id}/comments",
    "PUT /tickets/{ticket_id}/assignee",
    "PUT /tickets/{ticket_id}/labels/{label}",
    "PUT /tickets/{ticket_id}/engineering-issue",
    "GET /impersonation-sessions",
    "POST /impersonation-sessions/{session_id}/end",
    "GET /rollouts",
    "GET /rollouts/{rollout_id}",
    "GET /rollouts/{rollout_id}/annotations",
    "POST /rollouts/{rollout_id}/annotations",
    "PUT /rollouts/{rollout_id}/owner",
    "GET /audit-log",
}


@pytest.fixture(scope="module")
def contract(sandbox: SandboxHandle) -> Contract:
    return Contract(OpenAPI.from_file_path(str(SPEC_FILE)), sandbox.platform_url, SERVER)


@pytest.fixture
def api(fresh_sandbox: SandboxHandle, contract: Contract) -> Iterator[httpx.Client]:
    """httpx on the platform API with the sandbox token; every exchange is contract-checked."""

    def check(response: httpx.Response) -> None:
        response.read()
        contract.check(Exchange.of(response))

    with httpx.Client(
        base_url=fresh_sandbox.platform_url,
        verify=fresh_sandbox.ssl_context(),
        headers={"Authorization": f"Bearer {TOKEN}"},
        event_hooks={"response": [check]},
    ) as client:
        yield client


def as_(email: str, **headers: str) -> dict[str, str]:
    return {"On-Behalf-Of": email, **headers}


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


# --- auth and admins -----------------------------------------------------------------------


def test_token_is_required(api: httpx.Client) -> None:
    missing = api.get("/tickets", headers={"Authorization": ""})
    assert missing.status_code == 401 and error_code(missing) == "unauthorized"
    wrong = api.get("/tickets", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_admins(api: httpx.Client) -> None:
    assert api.get(f"/admins/{ALICE}").json() == {
        "email": ALICE,
        "name": "Alice Moreau",
        "platform_admin": True,
        "active": True,
    }
    assert api.get(f"/admins/{DAVE}").json()["platform_admin"] is False
    assert api.get("/admins/erin@novalien.com").json()["active"] is False
    missing = api.get("/admins/nobody@novalien.com")
    assert missing.status_code == 404 and error_code(missing) == "not_found"


# --- tickets -------------------------------------------------------------------------------


def test_pinned_tickets_of_the_outgoing_admin(api: httpx.Client) -> None:
    tickets = api.get("/tickets", params={"assignee": ALICE, "pinned": "true"}).json()
    assert [t["id"] for t in tickets["tickets"]] == ALICE_PINNED
    assert tickets["next_cursor"] is None
    by_state = {t["id"]: (t["state"], t["engineering_issue"]) for t in tickets["tickets"]}
    assert by_state["SUP-1042"] == ("waiting_on_customer", None)
    assert by_state["SUP-1047"] == ("waiting_on_engineering", "ENG-2291")
    assert by_state["SUP-1051"] == ("waiting_on_engineering", None)
    assert by_state["SUP-1055"][0] == by_state["SUP-1058"][0] == "active"
    assert api.get("/tickets/SUP-1060").json()["pinned"] is False
    assert api.get("/tickets/SUP-9999").status_code == 404


def test_tickets_paginate_with_a_cursor(api: httpx.Client) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/tickets", params=params).json()
        seen += [t["id"] for t in page["tickets"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    assert error_code(api.get("/tickets", params={"cursor": "bm9wZQ=="})) == "invalid_cursor"
    assert api.get("/tickets", params={"limit": 0}).status_code == 400
    assert api.get("/tickets", params={"pinned": "maybe"}).status_code == 400


def test_ticket_comments_oldest_first(api: httpx.Client) -> None:
    comments = api.get("/tickets/SUP-1047/comments").json()["comments"]
    assert [c["author"] for c in comments] == [ALICE, "customer"]
    assert comments[0]["at"] < comments[1]["at"]
    assert api.get("/tickets/SUP-1042/comments").json() == {"comments": []}
    assert api.get("/tickets/SUP-0000/comments").status_code == 404


def test_reassigning_a_ticket(api: httpx.Client, fresh_sandbox: SandboxHandle) -> None:
    missing = api.put("/tickets/SUP-1042/assignee", json={"assignee": BOB})
    assert missing.status_code == 400 and error_code(missing) == "missing_on_behalf_of"
    not_admin = api.put("/tickets/SUP-1042/assignee", json={"assignee": DAVE}, headers=as_(ALICE))
    assert not_admin.status_code == 422 and error_code(not_admin) == "not_platform_admin"
    bad_body = api.put("/tickets/SUP-1042/assignee", json={"assignee": BOB, "extra": 1}, headers=as_(ALICE))
    assert bad_body.status_code == 400

    done = api.put("/tickets/SUP-1042/assignee", json={"assignee": BOB}, headers=as_(ALICE))
    assert done.status_code == 200 and done.json()["assignee"] == BOB
    again = api.put("/tickets/SUP-1042/assignee", json={"assignee": BOB}, headers=as_(ALICE))
    assert again.status_code == 200 and again.json() == done.json()

    ok = [w for w in fresh_sandbox.writes("platform") if w["status"] < 300]
    assert [(w["method"], w["path"], w["actor"], w["result"]["changed"]) for w in ok] == [
        ("PUT", "/tickets/SUP-1042/assignee", ALICE, True),
        ("PUT", "/tickets/SUP-1042/assignee", ALICE, False),
    ]
    assert [w["status"] for w in fresh_sandbox.writes("platform")] == [400, 422, 400, 200, 200]


def test_a_ticket_with_an_open_impersonation_session_is_not_handed_on(api: httpx.Client) -> None:
    refused = api.put("/tickets/SUP-1055/assignee", json={"assignee": BOB}, headers=as_(ALICE))
    assert refused.status_code == 409 and error_code(refused) == "impersonation_session_open"
    assert "IMP-4471" in refused.json()["error"]["message"]
    api.post("/impersonation-sessions/IMP-4471/end", json={"reason": "on-call handover"}, headers=as_(ALICE))
    assert (
        api.put("/tickets/SUP-1055/assignee", json={"assignee": BOB}, headers=as_(ALICE)).status_code == 200
    )


def test_labels_and_engineering_issues_are_idempotent(api: httpx.Client) -> None:
    first = api.put("/tickets/SUP-1042/labels/waiting_on_customer", headers=as_(ALICE)).json()
    second = api.put("/tickets/SUP-1042/labels/waiting_on_customer", headers=as_(ALICE)).json()
    assert first["labels"] == second["labels"] == ["waiting_on_customer"]
    assert api.put("/tickets/SUP-1042/labels/Not%20A%20Label", headers=as_(ALICE)).status_code == 400
    linked = api.put("/tickets/SUP-1051/engineering-issue", json={"issue": "ENG-2310"}, headers=as_(ALICE))
    assert linked.json()["engineering_issue"] == "ENG-2310"
    assert (
        api.put("/tickets/SUP-1051/engineering-issue", json={"issue": "E"}, headers=as_(ALICE)).status_code
        == 400
    )


# --- impersonation sessions and the audit log ----------------------------------------------


def test_sessions_never_carry_tokens(api: httpx.Client) -> None:
    open_ones = api.get("/impersonation-sessions", params={"admin": ALICE, "state": "open"}).json()[
        "sessions"
    ]
    assert [(s["id"], s["ticket_id"]) for s in open_ones] == [
        ("IMP-4471", "SUP-1055"),
        ("IMP-4480", "SUP-1060"),
    ]
    assert all("token" not in key for s in open_ones for key in s)
    on_ticket = api.get("/impersonation-sessions", params={"ticket_id": "SUP-1055"}).json()["sessions"]
    assert [s["id"] for s in on_ticket] == ["IMP-4471"]
    assert api.get("/impersonation-sessions", params={"state": "closed"}).status_code == 400


def test_ending_a_session_writes_the_audit_event_once(api: httpx.Client) -> None:
    ended = api.post(
        "/impersonation-sessions/IMP-4471/end", json={"reason": "on-call handover"}, headers=as_(BOB)
    )
    assert ended.status_code == 200
    assert (ended.json()["state"], ended.json()["ended_by"]) == ("ended", BOB)
    again = api.post("/impersonation-sessions/IMP-4471/end", json={"reason": "retry"}, headers=as_(BOB))
    assert again.status_code == 200 and again.json() == ended.json()
    events = api.get("/audit-log", params={"event_type": "platform.impersonation_ended"}).json()["events"]
    mine = [e for e in events if e["target"] == {"type": "impersonation_session", "id": "IMP-4471"}]
    assert len(mine) == 1 and mine[0]["actor"] == BOB
    assert (
        api.post("/impersonation-sessions/IMP-0000/end", json={"reason": "x"}, headers=as_(BOB)).status_code
        == 404
    )
    assert api.post("/impersonation-sessions/IMP-4480/end", json={}, headers=as_(BOB)).status_code == 400


def test_audit_events_appear_after_the_scenario_lag(api: httpx.Client, fresh_sandbox: SandboxHandle) -> None:
    scenario = read_scenario_file(DEMO_SCENARIO)
    scenario["platform"]["audit_lag_seconds"] = 0.4
    fresh_sandbox.reset(scenario)
    api.post("/impersonation-sessions/IMP-4480/end", json={"reason": "compromised"}, headers=as_(CAROL))

    def ended() -> list[dict[str, Any]]:
        events = api.get("/audit-log", params={"event_type": "platform.impersonation_ended"}).json()["events"]
        return [e for e in events if e["target"]["id"] == "IMP-4480"]

    assert ended() == []
    time.sleep(0.5)
    assert [e["actor"] for e in ended()] == [CAROL]


def test_audit_log_filters_and_pages(api: httpx.Client) -> None:
    everything = api.get("/audit-log").json()["events"]
    assert [e["id"] for e in everything] == ["EVT-90001", "EVT-90002", "EVT-90017", "EVT-90019"]
    recent = api.get("/audit-log", params={"since": everything[2]["at"]}).json()["events"]
    assert [e["id"] for e in recent] == ["EVT-90017", "EVT-90019"]
    first = api.get("/audit-log", params={"limit": 3}).json()
    rest = api.get("/audit-log", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [e["id"] for e in first["events"] + rest["events"]] == [e["id"] for e in everything]
    assert api.get("/audit-log", params={"since": "yesterday"}).status_code == 400


# --- rollouts ------------------------------------------------------------------------------


def test_rollouts_in_flight(api: httpx.Client) -> None:
    rollouts = api.get("/rollouts", params=[("state", "ramping"), ("state", "paused")]).json()["rollouts"]
    assert [(r["id"], r["state"], r["ramp_percent"], r["error_rate"]) for r in rollouts] == [
        ("RO-311", "ramping", 25, 0.4),
        ("RO-318", "ramping", 10, 1.2),
        ("RO-302", "paused", 50, 3.1),
    ]
    assert api.get("/rollouts/RO-295").json()["state"] == "complete"
    assert api.get("/rollouts", params={"state": "finished"}).status_code == 400
    assert api.get("/rollouts/RO-000").status_code == 404


def test_annotations_honour_the_idempotency_key(api: httpx.Client, fresh_sandbox: SandboxHandle) -> None:
    note = {
        "ramp_percent": 25,
        "error_rate": 0.4,
        "next_step": "50% on Tuesday if errors stay under 0.5%",
        "handover_id": "h-1",
    }
    key = {"Idempotency-Key": "handover-alice-RO-311"}
    created = api.post("/rollouts/RO-311/annotations", json=note, headers=as_(ALICE, **key))
    assert created.status_code == 201
    assert (created.json()["author"], created.json()["owner"]) == (ALICE, ALICE)
    replay = api.post("/rollouts/RO-311/annotations", json=note, headers=as_(ALICE, **key))
    assert replay.status_code == 200 and replay.json() == created.json()
    assert api.post("/rollouts/RO-311/annotations", json=note, headers=as_(ALICE)).status_code == 400
    assert api.post("/rollouts/RO-318/annotations", json=note, headers=as_(ALICE, **key)).status_code == 422
    too_high = {**note, "ramp_percent": 120}
    other_key = as_(ALICE, **{"Idempotency-Key": "another-key"})
    assert api.post("/rollouts/RO-311/annotations", json=too_high, headers=other_key).status_code == 400
    listed = api.get("/rollouts/RO-311/annotations").json()["annotations"]
    assert [a["id"] for a in listed] == [created.json()["id"]]
    results = [w["result"] for w in fresh_sandbox.writes("platform") if w["status"] < 300]
    assert [r["replayed"] for r in results] == [False, True]


def test_taking_ownership_of_a_rollout_and_its_annotation(api: httpx.Client) -> None:
    note = {"ramp_percent": 50, "error_rate": 3.1, "next_step": "Stay paused until ENG-2302 lands."}
    annotation = api.post(
        "/rollouts/RO-302/annotations",
        json=note,
        headers=as_(ALICE, **{"Idempotency-Key": "handover-RO-302"}),
    ).json()
    owned = api.put(
        "/rollouts/RO-302/owner", json={"owner": BOB, "annotation_id": annotation["id"]}, headers=as_(BOB)
    )
    assert owned.status_code == 200 and owned.json()["owner"] == BOB
    assert api.get("/rollouts/RO-302/annotations").json()["annotations"][0]["owner"] == BOB
    assert api.put("/rollouts/RO-302/owner", json={"owner": DAVE}, headers=as_(BOB)).status_code == 422
    unknown = api.put(
        "/rollouts/RO-311/owner", json={"owner": BOB, "annotation_id": annotation["id"]}, headers=as_(BOB)
    )
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_annotation"


# --- coverage ------------------------------------------------------------------------------


def test_every_operation_in_the_contract_is_served(api: httpx.Client, contract: Contract) -> None:
    contract.checked.clear()
    api.get(f"/admins/{ALICE}")
    api.get("/tickets")
    api.get("/tickets/SUP-1042")
    api.get("/tickets/SUP-1047/comments")
    api.put("/tickets/SUP-1042/assignee", json={"assignee": BOB}, headers=as_(ALICE))
    api.put("/tickets/SUP-1042/labels/waiting_on_customer", headers=as_(ALICE))
    api.put("/tickets/SUP-1051/engineering-issue", json={"issue": "ENG-1"}, headers=as_(ALICE))
    api.get("/impersonation-sessions")
    api.post("/impersonation-sessions/IMP-4471/end", json={"reason": "handover"}, headers=as_(ALICE))
    api.get("/rollouts")
    api.get("/rollouts/RO-311")
    api.get("/rollouts/RO-311/annotations")
    api.post(
        "/rollouts/RO-311/annotations",
        json={"ramp_percent": 25, "error_rate": 0.4, "next_step": "50% next"},
        headers=as_(ALICE, **{"Idempotency-Key": "coverage-1"}),
    )
    api.put("/rollouts/RO-311/owner", json={"owner": BOB}, headers=as_(BOB))
    api.get("/audit-log")
    served = set()
    for line in contract.checked:
        method, path = line.split(" ")[:2]
        served.add(f"{method} {operation_template(path.removeprefix('/api/v1'))}")
    assert served == OPERATIONS


@functools.cache
def contract_paths() -> list[str]:
    return list(yaml.safe_load(SPEC_FILE.read_text())["paths"])


def operation_template(path: str) -> str:
    for template in contract_paths():
        parts, wanted = template.split("/"), path.split("/")
        if len(parts) == len(wanted) and all(
            p.startswith("{") or p == w for p, w in zip(parts, wanted, strict=True)
        ):
            return template
    raise AssertionError(f"{path} is not in the contract")
