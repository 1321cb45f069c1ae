"""The official PagerDuty client against the sandbox, changed only in base_url (and TLS trust)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pagerduty
import pytest

from sandbox.state import DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle, running_sandbox

TOKEN = "sandbox-pagerduty-token"
OPEN = ["triggered", "acknowledged"]
PLATFORM_OPS = ["PPLATOPS", "PPLATAPI"]


def client_for(
    sandbox: SandboxHandle, *, token: str = TOKEN, default_from: str | None = None
) -> pagerduty.RestApiV2Client:
    return pagerduty.RestApiV2Client(
        token, default_from=default_from, base_url=sandbox.pagerduty_url, verify=sandbox.ssl_context()
    )


def at(hours: float) -> str:
    moment = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def override(user_id: str, start: str, end: str) -> dict[str, Any]:
    """An override as the API takes one (`POST /schedules/{id}/overrides`)."""
    return {"start": start, "end": end, "user": {"id": user_id, "type": "user_reference"}, "time_zone": "UTC"}


def assert_reference(found: dict[str, Any], kind: str, item_id: str, summary: str) -> None:
    """`found` is a PagerDuty reference, and only that: id, type, summary, self and html_url."""
    assert found == {
        "id": item_id,
        "type": kind,
        "summary": summary,
        "self": found["self"],
        "html_url": found["html_url"],
    }


@pytest.fixture
def alice(fresh_sandbox: SandboxHandle) -> pagerduty.RestApiV2Client:
    """Acts `From: alice@novalien.com`, the outgoing admin of the demo."""
    return client_for(fresh_sandbox, default_from="alice@novalien.com")


# --- reading -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alert_storm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """The demo plus 230 open platform-ops incidents on Alice, and noise that must not be listed."""
    scenario = read_scenario_file(DEMO_SCENARIO)
    incidents: list[dict[str, Any]] = scenario["pagerduty"]["incidents"]
    for n in range(230):
        incidents.append(
            {
                "id": f"QSTORM{n:03d}",
                "number": 5000 + n,
                "title": f"vms-node-{n:03d} unreachable",
                "service": PLATFORM_OPS[n % 2],
                "status": OPEN[n % 2],
                "urgency": "high",
                "created_at": f"-{300 - n}m",
                "assignees": ["PALICEM"],
            }
        )
    for n in range(20):
        incidents.append(
            {
                "id": f"QNOISE{n:03d}",
                "number": 6000 + n,
                "title": "not Alice's",
                "service": "PPLATOPS",
                "created_at": "-1h",
                "assignees": ["PBOBOKA"],
            }
        )
    with running_sandbox(scenario, tmp_path_factory.mktemp("storm")) as handle:
        yield handle


def test_iter_all_incidents_pages_through_more_than_one_page(alert_storm: SandboxHandle) -> None:
    client = client_for(alert_storm)
    found = list(
        client.iter_all(
            "incidents",
            params={"statuses[]": OPEN, "service_ids[]": PLATFORM_OPS, "user_ids[]": ["PALICEM"]},
        )
    )
    ids = [i["id"] for i in found]
    assert len(ids) == len(set(ids)) == 233  # the storm and the demo's three
    assert {"Q1DISK7", "Q2API5X", "Q3CERT9"} <= set(ids)
    assert not {"Q4OLDRS", "Q5BILL2", "Q6KAFKA"} & set(ids)
    assert client.api_call_counts["GET /incidents"] == 3  # 100 + 100 + 33
    assert all(i["assignments"][0]["assignee"]["id"] == "PALICEM" for i in found)


def test_incident_pages_carry_limit_offset_more_and_total_on_request(alert_storm: SandboxHandle) -> None:
    client = client_for(alert_storm)
    first = client.get("/incidents", params={"limit": 500, "total": "true"}).json()
    assert (first["limit"], first["offset"], first["more"]) == (100, 0, True)
    assert first["total"] == 256  # every incident of the last month, open or not
    assert client.get("/incidents", params={"limit": 10}).json()["total"] is None
    last = client.get("/incidents", params={"limit": 100, "offset": 200}).json()
    assert last["more"] is False and len(last["incidents"]) == 56
    too_far = client.get("/incidents", params={"limit": 100, "offset": 9901})
    assert too_far.status_code == 400
    assert too_far.json()["error"]["code"] == 2001


def test_user_ids_filter_returns_only_open_incidents(alice: pagerduty.RestApiV2Client) -> None:
    everything = {i["id"]: i for i in alice.iter_all("incidents")}
    assert everything["Q4OLDRS"]["status"] == "resolved"
    mine = {i["id"] for i in alice.iter_all("incidents", params={"user_ids[]": ["PALICEM"]})}
    assert mine == {"Q1DISK7", "Q2API5X", "Q3CERT9", "Q5BILL2"}


def test_incident_json_is_shaped_like_pagerduty(alice: pagerduty.RestApiV2Client) -> None:
    incident = alice.rget("/incidents/Q1DISK7")
    assert incident["type"] == "incident"
    assert incident["summary"] == f"[#{incident['incident_number']}] {incident['title']}"
    assert incident["html_url"] == "https://novalien.pagerduty.com/incidents/Q1DISK7"
    assert_reference(incident["service"], "service_reference", "PPLATOPS", "NovaVMS Platform Ops")
    assert incident["status"] == "acknowledged"
    assert incident["acknowledgements"][0]["acknowledger"]["id"] == "PALICEM"
    assert incident["assignments"][0]["assignee"]["type"] == "user_reference"
    # `self` points at the sandbox, so the client's resource-dict shortcuts work too.
    assert alice.rget(incident)["id"] == "Q1DISK7"


def test_unknown_incident_is_404_code_2100(alice: pagerduty.RestApiV2Client) -> None:
    response = alice.get("/incidents/QNOSUCH")
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Not Found", "code": 2100}}


def test_iter_all_users_with_query(alice: pagerduty.RestApiV2Client) -> None:
    assert [u["email"] for u in alice.iter_all("users", params={"query": "BOB"})] == ["bob@novalien.com"]
    assert len(list(alice.iter_all("users", params={"query": "novalien.com"}, page_size=2))) == 5
    assert alice.find("users", "carol@novalien.com", attribute="email")["id"] == "PCAROLN"


def test_the_official_client_tells_the_account_key_from_a_users_own_key(sandbox: SandboxHandle) -> None:
    """`GET /users/me` answers only a user-level key; `api_key_access` reads the answer."""
    assert client_for(sandbox).api_key_access == "account"
    alices_own = client_for(sandbox, token="sandbox-pagerduty-alice-token")
    assert alices_own.api_key_access == "user"
    assert alices_own.rget("/users/me")["email"] == "alice@novalien.com"
    assert alices_own.rget("/incidents/Q1DISK7")["id"] == "Q1DISK7"  # and it works everywhere


def test_services_and_schedules_are_found_by_id_or_404(alice: pagerduty.RestApiV2Client) -> None:
    service = alice.rget("/services/PPLATOPS")
    assert (service["name"], service["escalation_policy"]["id"]) == ("NovaVMS Platform Ops", "PPLATEP")
    assert service["status"] == "warning"  # an acknowledged incident, none triggered
    assert alice.rget("/services/PPLATAPI")["status"] == "critical"  # a triggered one
    for path in ("/services/PNOSUCH", "/schedules/PNOSUCH"):
        response = alice.get(path)
        assert (response.status_code, response.json()) == (
            404,
            {"error": {"message": "Not Found", "code": 2100}},
        )


def test_get_schedule_renders_the_rotation_and_overrides(alice: pagerduty.RestApiV2Client) -> None:
    alice.rpost(
        "/schedules/PPRIMARY/overrides",
        json=[override("PBOBOKA", at(1), at(3))],
    )
    schedule = alice.rget("/schedules/PPRIMARY", params={"since": at(0), "until": at(6)})
    assert schedule["name"] == "Platform primary"
    assert schedule["escalation_policies"][0]["id"] == "PPLATEP"
    final = [
        (e["user"]["id"], e["start"], e["end"])
        for e in schedule["final_schedule"]["rendered_schedule_entries"]
    ]
    assert final == [
        ("PALICEM", at(0), at(1)),
        ("PBOBOKA", at(1), at(3)),
        ("PALICEM", at(3), at(6)),
    ]
    overrides = schedule["overrides_subschedule"]["rendered_schedule_entries"]
    assert [(e["user"]["id"], e["start"], e["end"]) for e in overrides] == [("PBOBOKA", at(1), at(3))]
    layer = schedule["schedule_layers"][0]
    assert [u["user"]["id"] for u in layer["users"]] == ["PALICEM", "PBOBOKA", "PCAROLN"]
    assert layer["rotation_turn_length_seconds"] == 7 * 24 * 3600


def test_override_array_post_answers_a_bare_array_with_per_item_status(
    alice: pagerduty.RestApiV2Client, fresh_sandbox: SandboxHandle
) -> None:
    wanted = [
        override("PBOBOKA", at(1), at(3)),
        override("PNOBODY", at(1), at(3)),
    ]
    raw = alice.post("/schedules/PPRIMARY/overrides", json={"overrides": wanted})
    assert raw.status_code == 201
    answer = raw.json()
    assert isinstance(answer, list)
    assert answer[0]["status"] == 201
    assert answer[0]["override"]["user"]["id"] == "PBOBOKA"
    assert answer[0]["override"]["id"]
    assert answer[1]["status"] == 400 and answer[1]["errors"]
    assert "id" not in answer[1]["override"]

    # rpost wraps a list in {"overrides": [...]} and returns the array unwrapped.
    again = alice.rpost("/schedules/PPRIMARY/overrides", json=wanted[:1])
    assert [item["status"] for item in again] == [201]

    listed = alice.get("/schedules/PPRIMARY/overrides", params={"since": at(0), "until": at(4)})
    assert listed.status_code == 200  # the official schema says 201; PagerDuty (and the sandbox) say 200
    assert {o["id"] for o in listed.json()["overrides"]} == {
        answer[0]["override"]["id"],
        again[0]["override"]["id"],
    }

    writes = [w for w in fresh_sandbox.writes("pagerduty") if w["path"] == "/schedules/PPRIMARY/overrides"]
    assert writes[0]["result"]["override_ids"] == [answer[0]["override"]["id"]]
    assert writes[0]["result"]["rejected"] == 1


def test_override_forms_the_api_accepts_and_refuses(alice: pagerduty.RestApiV2Client) -> None:
    one = override("PBOBOKA", at(1), at(2))
    single = alice.post("/schedules/PPRIMARY/overrides", json={"override": one})
    assert single.status_code == 201 and single.json()["override"]["user"]["id"] == "PBOBOKA"
    naive = {**one, "start": "2030-01-01T10:00:00", "end": "2030-01-01T12:00:00"}  # read as UTC
    assert (
        alice.rpost("/schedules/PPRIMARY/overrides", json=[naive])[0]["override"]["start"]
        == "2030-01-01T10:00:00Z"
    )
    # rpost with {"override": ...} double-wraps it into {"overrides": {"override": ...}}.
    with pytest.raises(pagerduty.HttpError) as refused:
        alice.rpost("/schedules/PPRIMARY/overrides", json={"override": one})
    assert refused.value.response.status_code == 400
    assert alice.get("/schedules/PPRIMARY/overrides", params={"since": at(0)}).status_code == 400
    assert (
        alice.get("/schedules/PNOSUCH/overrides", params={"since": at(0), "until": at(1)}).status_code == 404
    )


def test_delete_override(alice: pagerduty.RestApiV2Client) -> None:
    future = alice.rpost(
        "/schedules/PPRIMARY/overrides",
        json=[override("PBOBOKA", at(5), at(7))],
    )[0]["override"]
    running = alice.rpost(
        "/schedules/PPRIMARY/overrides",
        json=[override("PCAROLN", at(-1), at(1))],
    )[0]["override"]
    assert alice.delete(f"/schedules/PPRIMARY/overrides/{future['id']}").status_code == 204
    # An override in progress is cut short at now (200), as PagerDuty documents.
    assert alice.delete(f"/schedules/PPRIMARY/overrides/{running['id']}").status_code == 200
    left = alice.get("/schedules/PPRIMARY/overrides", params={"since": at(-2), "until": at(8)}).json()[
        "overrides"
    ]
    assert [o["id"] for o in left] == [running["id"]]
    assert left[0]["end"] <= at(0.1)
    assert alice.delete(f"/schedules/PPRIMARY/overrides/{future['id']}").status_code == 404


def test_oncalls_follow_the_schedule_and_its_overrides(alice: pagerduty.RestApiV2Client) -> None:
    now = [o["user"]["id"] for o in alice.iter_all("oncalls", params={"schedule_ids[]": ["PPRIMARY"]})]
    assert now == ["PALICEM"]
    alice.rpost(
        "/schedules/PPRIMARY/overrides",
        json=[override("PBOBOKA", at(-0.5), at(2))],
    )
    oncalls = list(alice.iter_all("oncalls", params={"schedule_ids[]": ["PPRIMARY"]}))
    assert [o["user"]["id"] for o in oncalls] == ["PBOBOKA"]
    assert oncalls[0]["escalation_policy"]["id"] == "PPLATEP"
    assert oncalls[0]["schedule"]["id"] == "PPRIMARY"
    bob = list(
        alice.iter_all("oncalls", params={"user_ids[]": ["PBOBOKA"], "since": at(0), "until": at(24 * 14)})
    )
    assert len(bob) == 2  # the override now, then his own week


# --- writing -------------------------------------------------------------------------------


def test_rput_reassigns_and_puts_the_incident_back_to_triggered(
    alice: pagerduty.RestApiV2Client, fresh_sandbox: SandboxHandle
) -> None:
    incident = alice.rput(
        "/incidents/Q1DISK7",
        json={
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": "PBOBOKA", "type": "user_reference"}}],
        },
    )
    assert incident["status"] == "triggered"
    assert [a["assignee"]["id"] for a in incident["assignments"]] == ["PBOBOKA"]
    assert incident["acknowledgements"] == []
    entry = next(alice.iter_all("/incidents/Q1DISK7/log_entries"))
    assert entry["type"] == "reassign_log_entry"
    assert entry["agent"]["id"] == "PALICEM"
    assert [a["id"] for a in entry["assignees"]] == ["PBOBOKA"]
    [write] = fresh_sandbox.writes("pagerduty")
    assert (write["method"], write["path"], write["status"], write["actor"]) == (
        "PUT",
        "/incidents/Q1DISK7",
        200,
        "alice@novalien.com",
    )
    assert write["result"]["assignees"] == {"Q1DISK7": ["PBOBOKA"]}


def test_bulk_put_incidents(alice: pagerduty.RestApiV2Client, fresh_sandbox: SandboxHandle) -> None:
    reassign = {"assignments": [{"assignee": {"id": "PBOBOKA", "type": "user_reference"}}]}
    response = alice.put(
        "/incidents",
        json={
            "incidents": [
                {"id": i, "type": "incident_reference", **reassign} for i in ("Q1DISK7", "Q2API5X", "Q3CERT9")
            ]
        },
    )
    assert response.status_code == 200
    assert {i["id"]: i["status"] for i in response.json()["incidents"]} == dict.fromkeys(
        ("Q1DISK7", "Q2API5X", "Q3CERT9"), "triggered"
    )
    bob = client_for(fresh_sandbox, default_from="bob@novalien.com")
    acked = bob.rput(
        "/incidents", json=[{"id": "Q1DISK7", "type": "incident_reference", "status": "acknowledged"}]
    )
    assert acked[0]["status"] == "acknowledged"
    assert acked[0]["acknowledgements"][0]["acknowledger"]["id"] == "PBOBOKA"
    assert next(bob.iter_all("/incidents/Q1DISK7/log_entries"))["type"] == "acknowledge_log_entry"
    assert {i["id"] for i in bob.iter_all("incidents", params={"user_ids[]": ["PBOBOKA"]})} >= {
        "Q1DISK7",
        "Q2API5X",
    }

    too_many = alice.put(
        "/incidents",
        json={"incidents": [{"id": "Q1DISK7", "type": "incident_reference", "status": "acknowledged"}] * 251},
    )
    assert too_many.status_code == 413
    unknown = alice.put(
        "/incidents",
        json={"incidents": [{"id": "QNOSUCH", "type": "incident_reference", "status": "resolved"}]},
    )
    assert unknown.status_code == 400


def test_writes_need_a_from_header_naming_a_user(fresh_sandbox: SandboxHandle) -> None:
    anonymous = client_for(fresh_sandbox)
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    missing = anonymous.put("/incidents/Q1DISK7", json=body)
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "message": 'You must specify a user\'s email address in the "From" header to perform this action',
        "code": 2016,
    }
    assert anonymous.put("/incidents", json={"incidents": []}).json()["error"]["code"] == 2016
    assert anonymous.post("/incidents/Q1DISK7/notes", json={"note": {"content": "x"}}).status_code == 400
    stranger = client_for(fresh_sandbox, default_from="mallory@example.com")
    unknown = stranger.put("/incidents/Q1DISK7", json=body)
    assert unknown.status_code == 400
    assert "Requester User Not Found" in unknown.json()["error"]["errors"]
    # Refused writes are in the write log too, with their status.
    assert [w["status"] for w in fresh_sandbox.writes("pagerduty")] == [400, 400, 400, 400]


def test_notes_post_answers_200_and_lists_in_order(alice: pagerduty.RestApiV2Client) -> None:
    response = alice.post(
        "/incidents/Q2API5X/notes", json={"note": {"content": "Hypothesis: pool size typo."}}
    )
    assert response.status_code == 200
    note = response.json()["note"]
    assert_reference(note["user"], "user_reference", "PALICEM", "Alice Moreau")
    assert note["channel"] == {"summary": "The PagerDuty website or APIs"}
    alice.rpost("/incidents/Q2API5X/notes", json={"content": "Next: revert the config."})
    contents = [n["content"] for n in alice.rget("/incidents/Q2API5X/notes")]
    assert contents == ["Hypothesis: pool size typo.", "Next: revert the config."]
    annotations = list(alice.iter_incident_notes("Q2API5X"))
    assert len(annotations) == 2 and all(a["agent"]["id"] == "PALICEM" for a in annotations)


def test_log_entries_page_newest_first(alice: pagerduty.RestApiV2Client) -> None:
    entries = list(alice.iter_all("/incidents/Q1DISK7/log_entries", page_size=2))
    kinds = [e["type"] for e in entries]
    assert kinds[-1] == "trigger_log_entry"
    assert {"annotate_log_entry", "acknowledge_log_entry", "assign_log_entry", "notify_log_entry"} <= set(
        kinds
    )
    assert [e["created_at"] for e in entries] == sorted((e["created_at"] for e in entries), reverse=True)


def test_wrong_token_is_401(fresh_sandbox: SandboxHandle) -> None:
    with pytest.raises(pagerduty.HttpError) as refused:
        client_for(fresh_sandbox, token="wrong").rget("/incidents/Q1DISK7")
    assert refused.value.response.status_code == 401
    assert refused.value.response.json() == {"error": {"message": "Unauthorized", "code": 2006}}


def test_the_ca_file_path_works_as_verify(sandbox: SandboxHandle) -> None:
    with pytest.warns(DeprecationWarning):  # httpx2 prefers an SSLContext, but a path still works
        client = pagerduty.RestApiV2Client(
            TOKEN, base_url=sandbox.pagerduty_url, verify=str(Path(sandbox.ca_file))
        )
    assert client.rget("/incidents/Q1DISK7")["id"] == "Q1DISK7"
