"""Scenario files, the control routes (reset, writes, state), TLS and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pagerduty
import pytest
import yaml
from cryptography import x509
from slack_sdk import WebClient

from sandbox.state import DEMO_SCENARIO, ScenarioError, load_scenario, parse_scenario, read_scenario_file
from sandbox.testing import SandboxHandle, running_sandbox
from sandbox.tls import prepare_tls

ROOT = Path(__file__).parents[2]


def test_demo_scenario_loads_with_the_agreed_ids() -> None:
    now = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    demo = load_scenario(DEMO_SCENARIO, now=now)
    assert demo.tokens.model_dump() == {
        "pagerduty_token": "sandbox-pagerduty-token",
        "pagerduty_user_tokens": {"sandbox-pagerduty-alice-token": "PALICEM"},
        "slack_bot_token": "xoxb-sandbox-bot-token",
        "platform_token": "sandbox-platform-token",
    }
    pd = demo.pagerduty
    assert [s.id for s in pd.schedules] == ["PPRIMARY"] and pd.schedules[0].name == "Platform primary"
    assert {s.id for s in pd.services} == {"PPLATOPS", "PPLATAPI", "PBILLING"}
    emails = {u.email: u.id for u in pd.users}
    assert set(emails) == {
        "alice@novalien.com",
        "bob@novalien.com",
        "carol@novalien.com",
        "dave@novalien.com",
        "oncall-handover@novalien.com",  # the service's own identity
    }

    alice = emails["alice@novalien.com"]
    to_hand_over = {
        i.id
        for i in pd.incidents
        if alice in i.assignees and i.status != "resolved" and i.service in ("PPLATOPS", "PPLATAPI")
    }
    assert to_hand_over == {"Q1DISK7", "Q2API5X", "Q3CERT9"}
    assert {i.status for i in pd.incidents if i.id in to_hand_over} == {"triggered", "acknowledged"}
    assert next(i for i in pd.incidents if i.id == "Q1DISK7").created_at == now - timedelta(hours=3)

    admins = {a.email: a for a in demo.platform.admins}
    assert all(
        admins[e].platform_admin for e in ("alice@novalien.com", "bob@novalien.com", "carol@novalien.com")
    )
    assert admins["dave@novalien.com"].platform_admin is False
    slack_users = {u.email: u for u in demo.slack.users}
    people = set(emails) - {"oncall-handover@novalien.com"}
    assert all(slack_users[e].user_token.startswith("xoxp-") for e in people)
    assert [(c.id, c.name) for c in demo.slack.channels][0] == ("C0PLATOPS", "novavms-platform-ops")
    assert all(now - timedelta(hours=1) <= m.at <= now for m in demo.slack.channels[0].messages)

    pinned = [t for t in demo.platform.tickets if t.assignee == "alice@novalien.com" and t.pinned]
    assert sorted(t.state for t in pinned) == [
        "active",
        "active",
        "waiting_on_customer",
        "waiting_on_engineering",
        "waiting_on_engineering",
    ]
    in_flight = [r.id for r in demo.platform.rollouts if r.state in ("ramping", "paused")]
    assert in_flight == ["RO-311", "RO-318", "RO-302"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s["pagerduty"]["incidents"][0].update(service="PNOSUCH"),
            "pagerduty.incidents[0].service: unknown service 'PNOSUCH'",
        ),
        (
            lambda s: s["pagerduty"]["incidents"][0].update(created_at="three hours ago"),
            "pagerduty.incidents[0].created_at: 'three hours ago' is not a time",
        ),
        (lambda s: s["tokens"].pop("platform_token"), "tokens.platform_token: Field required"),
        (
            lambda s: s["tokens"].update(pagerduty_user_tokens={"u+own": "PNOBODY"}),
            "tokens.pagerduty_user_tokens: unknown PagerDuty user 'PNOBODY'",
        ),
        (
            lambda s: s["tokens"].update(slack_bot_token="xoxp-1"),
            "tokens.slack_bot_token: String should match pattern",
        ),
        (
            lambda s: s["slack"]["channels"][0]["messages"][0].update(user="U0NOBODY"),
            "unknown Slack user 'U0NOBODY'",
        ),
        (
            lambda s: s["slack"]["channels"][0].update(members=["U0HANDOVER", "U0NOBODY"]),
            "slack.channels[0].members: unknown Slack user 'U0NOBODY'",
        ),
        (
            lambda s: s["slack"]["bot"].update(scopes=["chat:write", "reactions read"]),
            "slack.bot.scopes[1]: String should match pattern",
        ),
        (
            lambda s: s["platform"]["tickets"].append(dict(s["platform"]["tickets"][0])),
            "duplicate id 'SUP-1042'",
        ),
        (
            lambda s: s["pagerduty"]["users"][0].update(colour="red"),
            "pagerduty.users[0].colour: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_scenario_says_where_and_why(change, expected: str) -> None:
    data = read_scenario_file(DEMO_SCENARIO)
    change(data)
    with pytest.raises(ScenarioError) as bad:
        parse_scenario(data, source="bad.yaml")
    assert str(bad.value).startswith("bad.yaml: ")
    assert expected in str(bad.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntokens: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"not valid YAML at line \d+"):
        load_scenario(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioError, match="a scenario is a mapping"):
        load_scenario(listing)


def test_command_line_refuses_a_bad_scenario_with_exit_2(tmp_path: Path) -> None:
    data = read_scenario_file(DEMO_SCENARIO)
    data["pagerduty"]["incidents"][0]["service"] = "PNOSUCH"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "--scenario", str(bad), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("sandbox: bad scenario file: ") and "unknown service 'PNOSUCH'" in run.stderr
    assert not (tmp_path / "data").exists()
    helped = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert helped.returncode == 0 and "--scenario" in helped.stdout and "--data-dir" in helped.stdout


def test_the_ca_is_kept_and_reused(tmp_path: Path) -> None:
    first = prepare_tls(tmp_path)
    ca = first.ca_file.read_bytes()
    second = prepare_tls(tmp_path)
    assert second.ca_file.read_bytes() == ca
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0
    leaf = x509.load_pem_x509_certificate(second.cert_file.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_control_routes_without_auth(fresh_sandbox: SandboxHandle) -> None:
    with fresh_sandbox.control() as control:
        assert control.get("/healthz").json() == {"ok": True, "scenario": "demo"}
    state = fresh_sandbox.state()
    assert set(state) >= {"pagerduty", "slack", "platform", "tokens"}
    assert "Q1DISK7" in state["pagerduty"]["incidents"]
    assert "SUP-1055" in state["platform"]["tickets"]
    incident = fresh_sandbox.incident("Q1DISK7")
    assert (incident["type"], incident["status"]) == ("incident", "acknowledged")


def test_write_log_records_writes_in_order(fresh_sandbox: SandboxHandle) -> None:
    pd = pagerduty.RestApiV2Client(
        "sandbox-pagerduty-token",
        default_from="alice@novalien.com",
        base_url=fresh_sandbox.pagerduty_url,
        verify=fresh_sandbox.ssl_context(),
    )
    slack = WebClient(
        "xoxb-sandbox-bot-token", base_url=fresh_sandbox.slack_url, ssl=fresh_sandbox.ssl_context()
    )
    platform = httpx.Client(
        base_url=fresh_sandbox.platform_url,
        verify=fresh_sandbox.ssl_context(),
        headers={"Authorization": "Bearer sandbox-platform-token", "On-Behalf-Of": "alice@novalien.com"},
    )
    pd.rpost("/incidents/Q1DISK7/notes", json={"content": "status"})
    pd.rget("/incidents/Q1DISK7")  # reads are not writes
    slack.conversations_history(channel="C0PLATOPS")
    posted = slack.chat_postMessage(channel="C0PLATOPS", text="summary")
    platform.post("/impersonation-sessions/IMP-4471/end", json={"reason": "handover"})
    platform.put("/tickets/SUP-1042/assignee", json={"assignee": "dave@novalien.com"})  # refused: 422
    pd.delete("/schedules/PPRIMARY/overrides/QNOSUCH")  # refused: 404
    platform.close()

    writes = fresh_sandbox.writes()
    assert [w["seq"] for w in writes] == [1, 2, 3, 4, 5]
    assert [(w["api"], w["method"], w["path"], w["status"], w["actor"]) for w in writes] == [
        ("pagerduty", "POST", "/incidents/Q1DISK7/notes", 200, "alice@novalien.com"),
        ("slack", "POST", "/chat.postMessage", 200, "U0HANDOVER"),
        ("platform", "POST", "/impersonation-sessions/IMP-4471/end", 200, "alice@novalien.com"),
        ("platform", "PUT", "/tickets/SUP-1042/assignee", 422, "alice@novalien.com"),
        ("pagerduty", "DELETE", "/schedules/PPRIMARY/overrides/QNOSUCH", 404, "alice@novalien.com"),
    ]
    assert writes[0]["body"] == {"note": {"content": "status"}}
    assert writes[1]["body"]["text"] == "summary" and "token" not in writes[1]["body"]
    assert writes[1]["result"]["ts"] == posted["ts"]
    assert writes[2]["result"]["ended"] is True
    assert all(w["at"].endswith("Z") for w in writes)
    assert [w["seq"] for w in fresh_sandbox.writes("platform")] == [3, 4]


def test_reset_reads_scenario_files_only_where_scenarios_live(tmp_path: Path) -> None:
    """The sandbox's scenarios and the directory of the one it was started with: nothing else is
    opened (the control routes have no auth), whatever symlinks or `..` say."""
    team = tmp_path / "team"
    team.mkdir()
    demo = read_scenario_file(DEMO_SCENARIO)
    (team / "team.yaml").write_text(yaml.safe_dump({**demo, "name": "team"}))
    (team / "other.yaml").write_text(yaml.safe_dump({**demo, "name": "other"}))
    (tmp_path / "outside.yaml").write_text(yaml.safe_dump({**demo, "name": "outside"}))
    (team / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (team / "below").mkdir()
    (team / "below" / "private.yaml").write_text(yaml.safe_dump({**demo, "name": "below"}))
    fifo = tmp_path / "never-opened.yaml"
    os.mkfifo(fifo)
    opened = threading.Event()

    def write_end() -> None:  # its open returns only once someone opens the read end
        with open(fifo, "w"):
            opened.set()

    with running_sandbox(team / "team.yaml", tmp_path / "data") as sandbox, sandbox.control() as control:
        for path, name in (
            (team / "other.yaml", "other"),
            (DEMO_SCENARIO, "demo"),
            (team / "team.yaml", "team"),
        ):
            loaded = control.post("/reset", json={"scenario": str(path)})
            assert loaded.status_code == 200 and loaded.json()["scenario"] == name

        before = control.get("/state").json()
        writer = threading.Thread(target=write_end, daemon=True)
        writer.start()
        for outside in (
            "/etc/passwd",
            str(tmp_path / "outside.yaml"),
            str(team / ".." / "outside.yaml"),
            str(team / "link.yaml"),
            str(team / "below" / "private.yaml"),  # the directory itself, not what is below it
            str(fifo),
            f"{DEMO_SCENARIO}\x00",
        ):
            refused = control.post("/reset", json={"scenario": outside})
            assert refused.status_code == 403, (outside, refused.text)
            where = f"read only from {DEMO_SCENARIO.parent.resolve()} and {team.resolve()}"
            assert where in refused.json()["error"]
            assert "x:0:0" not in refused.text and "tokens" not in refused.text, "nothing of the file"
        assert not opened.wait(0.5), "the sandbox opened a file outside the scenarios"
        assert control.get("/state").json() == before, "unchanged"
        assert control.get("/healthz").json()["scenario"] == "team"
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets the write end go
    writer.join(5)


def test_reset_restores_the_scenario_and_clears_the_log(fresh_sandbox: SandboxHandle) -> None:
    platform = httpx.Client(
        base_url=fresh_sandbox.platform_url,
        verify=fresh_sandbox.ssl_context(),
        headers={"Authorization": "Bearer sandbox-platform-token", "On-Behalf-Of": "alice@novalien.com"},
    )
    platform.put("/tickets/SUP-1042/assignee", json={"assignee": "bob@novalien.com"})
    assert platform.get("/tickets/SUP-1042").json()["assignee"] == "bob@novalien.com"
    loaded_before = fresh_sandbox.store.state.loaded_at

    fresh_sandbox.reset()
    assert platform.get("/tickets/SUP-1042").json()["assignee"] == "alice@novalien.com"
    assert fresh_sandbox.writes() == []
    assert fresh_sandbox.store.state.loaded_at > loaded_before  # relative times resolved again

    other = read_scenario_file(DEMO_SCENARIO)
    other["name"] = "other"
    other["platform"]["tickets"] = other["platform"]["tickets"][:1]
    other["platform"]["impersonation_sessions"] = [
        s for s in other["platform"]["impersonation_sessions"] if s["ticket_id"] == "SUP-1042"
    ]
    fresh_sandbox.reset(other)  # a scenario of the test's own goes inline (files: the next test)
    assert len(platform.get("/tickets").json()["tickets"]) == 1

    with fresh_sandbox.control() as control:
        refused = control.post("/reset", json={"scenario": str(DEMO_SCENARIO.parent / "missing.yaml")})
        assert refused.status_code == 400 and "cannot read the scenario file" in refused.json()["error"]
        assert control.get("/healthz").json()["scenario"] == "other"  # unchanged
        other["pagerduty"]["incidents"][0]["service"] = "PNOSUCH"
        assert "unknown service" in control.post("/reset", json=other).json()["error"]
    platform.close()
