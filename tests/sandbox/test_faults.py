"""Fault injection in the sandbox: each kind does what production does, per API and per route."""

from __future__ import annotations

import httpx
import pytest

from sandbox.testing import SandboxHandle

PD = {
    "Authorization": "Token token=sandbox-pagerduty-token",
    "Accept": "application/vnd.pagerduty+json;version=2",
}
NOTE = {"note": {"content": "status paragraph"}}


def plan(sandbox: SandboxHandle, *faults: dict, seed: int = 1) -> dict:
    return sandbox.put_plan("faults", {"seed": seed, "faults": list(faults)})


@pytest.fixture
def faulty(fresh_sandbox: SandboxHandle):
    yield fresh_sandbox
    fresh_sandbox.clear("faults")


def api(sandbox: SandboxHandle, timeout: float = 5) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.pagerduty_url, headers=PD, verify=sandbox.ssl_context(), timeout=timeout
    )


def test_error_and_rate_limit_answer_as_the_api_does_and_change_nothing(faulty):
    plan(
        faulty,
        {"kind": "error", "rate": 1, "api": "pagerduty", "path": "/incidents/*/notes", "method": "POST"},
    )
    with api(faulty) as pagerduty:
        answer = pagerduty.post("/incidents/Q1DISK7/notes", json=NOTE, headers={"From": "alice@novalien.com"})
        assert answer.status_code == 500 and answer.json()["error"]["code"] == 2000
        assert pagerduty.get("/incidents/Q1DISK7/notes").status_code == 200, "only the matching route"
    plan(faulty, {"kind": "rate_limit", "rate": 1, "api": "pagerduty", "retry_after": 7})
    with api(faulty) as pagerduty:
        answer = pagerduty.get("/users")
        assert answer.status_code == 429 and answer.headers["ratelimit-reset"] == "7"
    writes = faulty.writes()
    assert [(w["status"], w["fault"]) for w in writes] == [(500, "error")]
    assert faulty.store.state.pagerduty.incidents["Q1DISK7"].notes[-1].content != "status paragraph"


def test_slack_and_platform_rate_limits_carry_retry_after(faulty):
    plan(faulty, {"kind": "rate_limit", "rate": 1, "retry_after": 3})
    with httpx.Client(verify=faulty.ssl_context()) as client:
        slack = client.post(
            f"{faulty.slack_url}chat.postMessage",
            headers={"Authorization": "Bearer xoxb-sandbox-bot-token"},
            json={"channel": "C0PLATOPS", "text": "x"},
        )
        assert (
            slack.status_code == 429
            and slack.headers["Retry-After"] == "3"
            and slack.json()["error"] == "ratelimited"
        )
        platform = client.get(
            f"{faulty.platform_url}/tickets", headers={"Authorization": "Bearer sandbox-platform-token"}
        )
        assert platform.status_code == 429 and platform.headers["Retry-After"] == "3"


def test_drop_loses_the_request_and_lost_response_loses_only_the_answer(faulty):
    before = len(faulty.store.state.pagerduty.incidents["Q1DISK7"].notes)
    plan(faulty, {"kind": "drop", "rate": 1, "method": "POST"})
    with api(faulty) as pagerduty, pytest.raises(httpx.RemoteProtocolError):
        pagerduty.post("/incidents/Q1DISK7/notes", json=NOTE, headers={"From": "alice@novalien.com"})
    assert len(faulty.store.state.pagerduty.incidents["Q1DISK7"].notes) == before, (
        "dropped before it was handled"
    )
    plan(faulty, {"kind": "lost_response", "rate": 1, "method": "POST"})
    with api(faulty) as pagerduty, pytest.raises(httpx.RemoteProtocolError):
        pagerduty.post("/incidents/Q1DISK7/notes", json=NOTE, headers={"From": "alice@novalien.com"})
    assert len(faulty.store.state.pagerduty.incidents["Q1DISK7"].notes) == before + 1, "the write succeeded"
    assert [(w["status"], w["fault"]) for w in faulty.writes()] == [(0, "drop"), (200, "lost_response")]


def test_slow_answers_after_the_caller_gave_up_but_the_write_happened(faulty):
    before = len(faulty.store.state.pagerduty.incidents["Q1DISK7"].notes)
    plan(faulty, {"kind": "slow", "rate": 1, "method": "POST", "delay": 2})
    with api(faulty, timeout=0.5) as pagerduty, pytest.raises(httpx.ReadTimeout):
        pagerduty.post("/incidents/Q1DISK7/notes", json=NOTE, headers={"From": "alice@novalien.com"})
    assert len(faulty.store.state.pagerduty.incidents["Q1DISK7"].notes) == before + 1


def test_a_rate_draws_from_a_seeded_generator(faulty):
    rule = {"kind": "error", "rate": 0.3, "api": "pagerduty", "path": "/users"}
    outcomes = []
    for _ in range(2):
        plan(faulty, rule, seed=42)
        with api(faulty) as pagerduty:
            outcomes.append([pagerduty.get("/users").status_code for _ in range(40)])
    assert outcomes[0] == outcomes[1]
    assert 0.1 < outcomes[0].count(500) / 40 < 0.5
    with faulty.control() as control:
        report = control.get("/faults").json()
        assert report["requests"] == 40 and report["fired"] == {"error": outcomes[0].count(500)}
        bad = control.put("/faults", json={"faults": [{"kind": "meteor", "rate": 2}]})
        assert bad.status_code == 400 and "not a fault plan" in bad.json()["error"]


def test_a_rule_can_aim_at_one_request_by_its_body_and_fire_a_number_of_times(faulty):
    rule = {"kind": "error", "rate": 1, "api": "pagerduty", "body_contains": "the one", "times": 1}
    plan(faulty, rule)
    with api(faulty) as pagerduty:
        send = {"headers": {"From": "alice@novalien.com"}}
        other = pagerduty.post("/incidents/Q1DISK7/notes", json={"note": {"content": "another"}}, **send)
        first = pagerduty.post("/incidents/Q1DISK7/notes", json={"note": {"content": "the one"}}, **send)
        again = pagerduty.post("/incidents/Q1DISK7/notes", json={"note": {"content": "the one"}}, **send)
    assert [other.status_code, first.status_code, again.status_code] == [200, 500, 200]
    with faulty.control() as control:
        assert control.get("/faults").json()["fired_by_rule"] == [1]
