"""Rate limits and bulk sizes in the sandbox: enforced per token, answered the way each API does."""

from __future__ import annotations

import httpx
import pytest

from sandbox.testing import SandboxHandle

PD = {
    "Authorization": "Token token=sandbox-pagerduty-token",
    "Accept": "application/vnd.pagerduty+json;version=2",
}


def limit(sandbox: SandboxHandle, **plan) -> dict:
    return sandbox.put_plan("limits", plan)


@pytest.fixture
def limited(fresh_sandbox: SandboxHandle):
    yield fresh_sandbox
    fresh_sandbox.clear("limits")


def test_pagerduty_limit_is_per_token_with_its_headers(limited):
    limit(limited, rate_limits=[{"api": "pagerduty", "per_minute": 3}])
    with httpx.Client(base_url=limited.pagerduty_url, headers=PD, verify=limited.ssl_context()) as pd:
        answers = [pd.get("/users") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        refused = answers[-1]
        assert refused.json()["error"]["code"] == 2020
        assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
        assert "retry-after" not in refused.headers, "PagerDuty sends ratelimit-reset, not Retry-After"
        # A write over the limit changes nothing, and the write log says why it failed.
        note = {"note": {"content": "over the limit"}}
        answer = pd.post("/incidents/Q1DISK7/notes", json=note, headers={"From": "alice@novalien.com"})
        assert answer.status_code == 429
        other = pd.get("/users", headers={"Authorization": "Token token=another-key"})
        assert other.status_code == 401, "another token has its own window (and here, no account)"
    assert [(w["status"], w["fault"]) for w in limited.writes()] == [(429, "rate_limited")]
    assert all(
        n.content != "over the limit" for n in limited.store.state.pagerduty.incidents["Q1DISK7"].notes
    )
    with limited.control() as control:
        report = control.get("/limits").json()
    assert report["allowed"] == {"pagerduty": 4} and report["refused"] == {"pagerduty": 2}


def test_slack_and_platform_limits_answer_with_retry_after(limited):
    limit(limited, rate_limits=[{"api": "slack", "per_minute": 1}, {"api": "platform", "per_minute": 1}])
    with httpx.Client(verify=limited.ssl_context()) as client:
        auth = {"Authorization": "Bearer xoxb-sandbox-bot-token"}
        for expected in (200, 429):
            slack = client.post(f"{limited.slack_url}auth.test", headers=auth)
            assert slack.status_code == expected
        assert (
            slack.json() == {"ok": False, "error": "ratelimited"} and int(slack.headers["Retry-After"]) >= 1
        )
        auth = {"Authorization": "Bearer sandbox-platform-token"}
        for expected in (200, 429):
            platform = client.get(f"{limited.platform_url}/admins/alice@novalien.com", headers=auth)
            assert platform.status_code == expected
        assert platform.json()["error"]["code"] == "rate_limited"


def test_bulk_size_limit_is_a_413(limited):
    limit(limited, max_bulk_incidents=2)
    body = {
        "incidents": [
            {"id": i, "type": "incident_reference", "status": "acknowledged"}
            for i in ("Q1DISK7", "Q2API5X", "Q3CERT9")
        ]
    }
    headers = {**PD, "From": "bob@novalien.com"}
    with httpx.Client(base_url=limited.pagerduty_url, headers=headers, verify=limited.ssl_context()) as pd:
        answer = pd.put("/incidents", json=body)
    assert answer.status_code == 413
    assert "At most 2 incidents" in answer.json()["error"]["errors"][0]


def test_a_bad_limit_plan_is_refused(limited):
    with limited.control() as control:
        answer = control.put("/limits", json={"rate_limits": [{"api": "pagerduty", "per_minute": 0}]})
    assert answer.status_code == 400 and "not a limit plan" in answer.json()["error"]
