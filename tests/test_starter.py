"""starter.py as a person uses it: a real process, real exit codes, a message and no stack trace."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from devstack import stack as devstack
from handover import service
from handover.models import HandoverRequest, Phase
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.humans import INCOMING, OUTGOING, inventory, play_outgoing, wait_for

STARTER = str(Path(__file__).resolve().parent.parent / "starter.py")


def on_a_terminal(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """Output and errors together, as a person at a terminal sees them (colours removed)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, STARTER, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r\n", "\n")
    assert "Traceback" not in text, text
    return subprocess.CompletedProcess(args, process.wait(), text, "")


@pytest.fixture
def cli(dev_server, dev_server_env):
    client, task_queue = dev_server
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "HANDOVER_TASK_QUEUE": task_queue,
    }

    async def run(
        *args: str, env_changes: dict | None = None, terminal: int | None = None
    ) -> subprocess.CompletedProcess:
        """starter.py with stdout a pipe, or (terminal=COLUMNS) on a pseudo-terminal that wide."""
        if terminal is not None:
            changes = {**(env_changes or {}), "COLUMNS": str(terminal)}
            return await asyncio.to_thread(on_a_terminal, list(args), {**env, **changes})
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            STARTER,
            *args,
            env={**env, **(env_changes or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        result = subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


async def test_what_make_run_suggests_works_when_pasted_and_ends_in_minutes(
    cli, dev_server, settings, fresh_sandbox
):
    printed = devstack.banner(settings, True, Path(".data/logs"), {}, devstack.METRICS_ADDRESS)
    after = printed.split("Next, in another terminal:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    suggested = [line.strip() for line in after if line.strip().startswith(("make ", ".venv/"))]
    assert suggested[0].startswith("make demo")
    for line in suggested:
        assert "#" not in line, f"a trailing comment breaks a paste into zsh: {line}"
        if line.startswith("curl "):  # the demo scenario afresh (after `make demo`, say)
            reset = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=30)
            assert reset.returncode == 0, (line, reset.stderr)
            continue
        if not line.startswith(".venv/bin/python starter.py "):
            continue
        args = shlex.split(line.removeprefix(".venv/bin/python starter.py "))
        result = await cli(*args)
        assert result.returncode == 0, (line, result.stderr)
        if args[0] == "start":
            client, _ = dev_server
            started = await service.progress(client, service.handover_id(args[1]))
            assert started.request.overlap <= timedelta(minutes=10), f"a new user waits for {line}"


async def test_help_everywhere(cli):
    commands = ["start", "list", "status", "report", "submit-status", "ack-incident", "link-issue"]
    commands += [
        "annotate",
        "own-rollout",
        "ack-summary",
        "plan",
        "digest",
        "mitigated",
        "flag-thread",
        "cancel",
    ]
    top = await cli("--help")
    assert top.returncode == 0
    helps = await asyncio.gather(*(cli(command, "--help") for command in commands))  # one per core, or so
    for command, result in zip(commands, helps, strict=True):
        assert command in top.stdout
        assert result.returncode == 0 and "usage: starter.py " + command in result.stdout
    steers = ["start", "status", "pause", "resume", "skip-next"]
    helps = await asyncio.gather(*(cli("autopilot", steer, "--help") for steer in steers))
    for steer, result in zip(steers, helps, strict=True):
        assert result.returncode == 0 and f"usage: starter.py autopilot {steer}" in result.stdout, result


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["start", OUTGOING, OUTGOING.upper()], 2, "same admin"),
        (["start", OUTGOING, INCOMING, "--overlap", "30m"], 2, "at least 2 hours of overlap; pass --demo"),
        (["start", "alice", INCOMING], 2, "not an email address"),
        (["start", OUTGOING, INCOMING, "--overlap", "soon"], 2, "not a duration"),
        (["status", "handover-nobody@novalien.com"], 3, "no handover handover-nobody@novalien.com"),
        (["ack-summary", OUTGOING], 2, "--as YOUR_EMAIL"),
        (
            ["submit-status", OUTGOING, "Q1DISK7", "--as", OUTGOING, "--hypothesis", "dns"]
            + ["--last-action", "restarted the resolver", "--next-action", "watch the error rate"],
            2,
            "error: hypothesis: 'dns' is one word: write what you think is happening, in a few words\n",
        ),
        (
            ["annotate", OUTGOING, "RO-311", "--as", OUTGOING, "--ramp", "25", "--error-rate", "0.4"]
            + ["--next-step", "go"],
            2,
            "next_step: 'go' is one word: write the next planned ramp step",
        ),
        (
            ["link-issue", OUTGOING, "SUP-1051", "ENG 42", "--as", OUTGOING],
            2,
            "error: issue: an engineering issue is a key like ENG-1234 or a URL, without spaces "
            "('ENG 42' has one)\n",
        ),
        (
            ["flag-thread", OUTGOING, "yesterday", "--question", "what was this?", "--as", INCOMING],
            2,
            "thread_ts: 'yesterday' is not a Slack thread: name it by its timestamp, like 1764342000.000100",
        ),
        (["cancel", OUTGOING, "--reason", "no", "--as", OUTGOING], 2, "reason: 'no' is too short"),
        (
            ["annotate", OUTGOING, "RO-311", "--as", OUTGOING, "--ramp", "25", "--error-rate", "lots"]
            + ["--next-step", "hold at 25%"],
            2,
            "argument --error-rate: 'lots' is not an error rate: give a percentage such as 0.4, or `unknown`",
        ),
    ],
)
async def test_bad_input_is_a_clear_error(cli, fresh_sandbox, args, code, message):
    result = await cli(*args)
    assert result.returncode == code, result
    assert message in result.stderr
    assert fresh_sandbox.writes() == []


async def test_unknown_admin_is_refused_by_step_0(cli, fresh_sandbox):
    result = await cli("start", OUTGOING, "nobody@novalien.com")
    assert result.returncode == 3, result.stderr
    assert "nobody@novalien.com is not a PagerDuty user" in result.stderr
    assert fresh_sandbox.writes() == []


@pytest.mark.parametrize("command", ["start", "plan"])
async def test_slack_trouble_is_refused_by_step_0_with_what_to_fix(cli, fresh_sandbox, command):
    scenario = read_scenario_file(DEMO_SCENARIO)
    slack = scenario["slack"]
    slack["users"] = [u for u in slack["users"] if u["email"] != INCOMING]
    try:
        fresh_sandbox.reset(scenario)
        result = await cli(command, OUTGOING, INCOMING)
        assert result.returncode == 3, result.stderr
        assert (
            "error: bob@novalien.com has no Slack account in this workspace (Slack's "
            "users.lookupByEmail found nobody): check the address, or add them to Slack"
        ) in " ".join(result.stderr.split())
        next(c for c in slack["channels"] if c["id"] == "C0PLATOPS")["is_archived"] = True
        slack["users"] = read_scenario_file(DEMO_SCENARIO)["slack"]["users"]
        fresh_sandbox.reset(scenario)
        result = await cli(command, OUTGOING, INCOMING)
        assert result.returncode == 6, result.stderr
        assert "the Slack channel #novavms-platform-ops (C0PLATOPS) is archived" in " ".join(
            result.stderr.split()
        )
        assert fresh_sandbox.writes() == []
    finally:
        fresh_sandbox.reset(DEMO_SCENARIO)


async def test_unreachable_temporal_is_named(cli):
    result = await cli("status", OUTGOING, env_changes={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr


async def test_a_running_handover_refuses_a_second_start_wrong_actors_and_early_reports(
    cli, dev_server, fresh_sandbox
):
    client, _ = dev_server
    started = await cli("start", OUTGOING, INCOMING, "--reason", "rotation")
    assert started.returncode == 0, started.stderr
    assert "Started handover handover-alice@novalien.com" in started.stdout
    incident = (await inventory(client, "handover-alice@novalien.com")).incidents[0].incident.id

    again = await cli("start", OUTGOING, "carol@novalien.com")
    assert again.returncode == 5 and "running already: handover-alice@novalien.com" in again.stderr, (
        again.stderr
    )

    wrong = await cli("ack-incident", OUTGOING, incident, "--as", OUTGOING)
    assert wrong.returncode == 4 and "the incoming admin acknowledges" in wrong.stderr

    unknown = await cli("ack-incident", OUTGOING, "QNOSUCH", "--as", INCOMING)
    assert unknown.returncode == 3 and "incident QNOSUCH is not part of" in unknown.stderr

    early = await cli("report", OUTGOING)
    assert early.returncode == 5 and "still running" in early.stderr

    paragraph = [
        "--hypothesis",
        "WAL fills the disk",
        "--last-action",
        "archived WAL",
        "--next-action",
        "watch the disk",
    ]
    note = await cli("submit-status", OUTGOING, incident, "--as", OUTGOING, *paragraph)
    assert note.returncode == 0 and "Accepted" in note.stdout
    status = await cli("status", OUTGOING, "--json")
    assert status.returncode == 0 and '"phase": "handing over"' in status.stdout
    await wait_for(client, "handover-alice@novalien.com", lambda p: p.phase is Phase.HANDING_OVER)


async def test_input_without_a_worker_falls_back_to_a_signal(cli, dev_server_env, fresh_sandbox):
    """No worker on the task queue: the update cannot be answered, the signal is stored."""
    client = dev_server_env.client
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    handle = await service.start(client, "no-worker-here", request)
    try:
        quick = {"HANDOVER_ANSWER_WITHIN": "1"}
        result = await cli("ack-summary", OUTGOING, "--as", INCOMING, env_changes=quick)
        assert result.returncode == 0, result.stderr
        assert "sent as a signal" in result.stdout
        kinds = [event.event_type async for event in handle.fetch_history_events()]
        from temporalio.api.enums.v1 import EventType

        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds
    finally:
        await handle.terminate("test done")


async def test_plan_prints_what_would_move_and_changes_nothing(cli, fresh_sandbox):
    before = fresh_sandbox.state()
    result = await cli("plan", OUTGOING, INCOMING)
    assert result.returncode == 0, result.stderr
    for expected in (
        "Plan: planned handover Alice Moreau (alice@novalien.com) → Bob Okafor (bob@novalien.com)",
        "Step 2: reassign 3 incidents",
        "Q1DISK7",
        "tenant acme-logistics: reassign + label waiting_on_customer",
        "eu-west-2: end impersonation, then reassign (end IMP-4471 first)",
        "RO-302  vms.snapshot-dedup (paused",
        "alice@novalien.com: 3 status paragraphs, 1 engineering issue, 3 rollout annotations",
        "Nothing was changed",
    ):
        assert expected in result.stdout
    compromised = await cli("plan", OUTGOING, INCOMING, "--variant", "emergency", "--reason", "compromised")
    assert "end every open impersonation session: IMP-4471, IMP-4480" in compromised.stdout
    assert "Writes as: oncall-handover@novalien.com" in compromised.stdout
    assert fresh_sandbox.writes() == []
    assert fresh_sandbox.state() == before


async def test_plan_refuses_bad_variant_input(cli, fresh_sandbox):
    result = await cli("plan", OUTGOING, INCOMING, "--variant", "emergency")
    assert result.returncode == 2 and "incapacitated or compromised" in result.stderr
    result = await cli("plan", OUTGOING, INCOMING, "--variant", "mid-shift", "--senior", OUTGOING)
    assert result.returncode == 2 and "major incident" in result.stderr
    result = await cli(
        "plan",
        OUTGOING,
        INCOMING,
        "--variant",
        "mid-shift",
        "--senior",
        OUTGOING,
        "--major-incident",
        "QNOPE",
    )
    assert result.returncode == 3 and "major incident QNOPE is not in PagerDuty" in result.stderr


async def test_bad_configuration_is_named_without_printing_any_token(cli):
    secrets = {
        "PAGERDUTY_API_TOKEN": "u+SECRETPD",
        "SLACK_BOT_TOKEN": "xoxb-SECRETSLACK",
        "PLATFORM_API_TOKEN": "plat-SECRET",
    }
    result = await cli("status", OUTGOING, env_changes=secrets)
    assert result.returncode == 2
    assert "PLATFORM_BASE_URL" in result.stderr
    assert not any(secret in result.stderr + result.stdout for secret in secrets.values())
    result = await cli("status", OUTGOING, env_changes={**secrets, "HANDOVER_POLL_SECONDS": "abc"})
    assert result.returncode == 2 and "HANDOVER_POLL_SECONDS" in result.stderr
    assert not any(secret in result.stderr for secret in secrets.values())


async def test_list_filters_by_the_handovers_search_attributes(cli, dev_server, fresh_sandbox):
    client, task_queue = dev_server
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    alice = await service.start(client, task_queue, request)
    carol = await service.start(
        client, task_queue, request.model_copy(update={"outgoing": "carol@novalien.com"})
    )
    await inventory(client, alice.id)
    await play_outgoing(client, alice.id)  # now Alice owes nothing; Bob owes acknowledgements
    progress = {
        handle.id: await wait_for(client, handle.id, lambda p: p.phase is not Phase.VALIDATING and p.pending)
        for handle in (alice, carol)
    }
    owing = {handover: {wait.owner for wait in p.pending} for handover, p in progress.items()}
    assert owing[alice.id] == {INCOMING}

    async def listed(*filters: str) -> set[str]:
        result = await cli("list", "--json", *filters)
        assert result.returncode == 0, result.stderr
        return {row["handover"] for row in json.loads(result.stdout)}

    for person in (OUTGOING, INCOMING, "carol@novalien.com"):
        expected = {handover for handover, people in owing.items() if person in people}
        deadline = asyncio.get_running_loop().time() + 15  # visibility follows the upsert shortly
        while (found := await listed("--waiting-on", person)) != expected:
            assert asyncio.get_running_loop().time() < deadline, (person, found, expected)
            await asyncio.sleep(0.5)
    assert await listed("--involving", "carol@novalien.com") == {carol.id}
    assert await listed("--incoming", INCOMING, "--variant", "planned") == {alice.id, carol.id}
    assert await listed("--outgoing", OUTGOING, "--phase", "handing_over") == {alice.id}
    assert await listed("--phase", "completed") == set()
    nothing = await cli("list", "--waiting-on", "nobody@novalien.com")
    assert "no handover matches" in nothing.stdout
    # What the Temporal UI shows for a handover: its summary, details, and current details.
    described = await alice.describe()
    assert await described.static_summary() == f"On-call handover {OUTGOING} → {INCOMING} (planned)"
    assert (await described.static_details()).startswith("Requested by tests · planned")
    metadata = await alice.query("__temporal_workflow_metadata")
    assert f"Waiting on: {INCOMING}" in metadata.current_details
    bad = await cli("list", "--phase", "lunch")
    assert bad.returncode == 2 and "'lunch' is not a phase; one of: validating" in bad.stderr


async def test_doctor_prints_one_line_per_check_and_exits_non_zero_on_a_failure(
    dev_server_env, fresh_sandbox, sandbox
):
    """Run before any worker exists: no task queue is polled, and nothing is written anywhere."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "SANDBOX_URL": sandbox.base_url,
        "HANDOVER_CA_FILE": str(sandbox.ca_file),
    }

    async def doctor(*emails: str) -> subprocess.CompletedProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            STARTER,
            "doctor",
            *emails,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        return subprocess.CompletedProcess(emails, process.returncode, out.decode(), err.decode())

    passing = await doctor(OUTGOING, INCOMING)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    lines = passing.stdout.splitlines()
    assert len(lines) == 9 + 2 + 1 and all(line.startswith("ok ") for line in lines[:-1]), lines
    assert lines[-1] == "11 of 11 checks passed; nothing was changed."

    failing = await doctor(OUTGOING, "zoe@novalien.com")
    assert failing.returncode == 6, failing.stdout + failing.stderr
    assert "Traceback" not in failing.stderr
    assert "FAIL Admin zoe@novalien.com: no PagerDuty user has this login email" in failing.stdout
    assert sum(line.startswith(("ok ", "FAIL ", "SKIP ")) for line in failing.stdout.splitlines()) == 11

    bad = await doctor("zoe")
    assert bad.returncode == 2 and "not an email address" in bad.stderr
    assert fresh_sandbox.writes() == []


async def test_status_and_list_print_every_value_whole_and_as_written(cli, dev_server, fresh_sandbox):
    scenario = read_scenario_file(DEMO_SCENARIO)
    subject = "[bold]IOPS[/bold] below the contracted 10k [SEV-2]"
    for ticket in scenario["platform"]["tickets"]:
        if ticket["id"] == "SUP-1051":
            ticket["subject"] = subject
    fresh_sandbox.reset(scenario)
    client, task_queue = dev_server
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    handle = await service.start(client, task_queue, request)
    await inventory(client, handle.id)

    # A pipe (a script, grep): tab-separated lines, every value whole, brackets kept.
    status = await cli("status", OUTGOING)
    assert status.returncode == 0, status.stderr
    assert f"ticket\tSUP-1051\t{subject} [reassign + link engineering issue]\t" in status.stdout
    assert "SUP-1042\tVM snapshots stuck in 'creating' for tenant acme-logistics [reassign + label" in (
        status.stdout
    )
    listed = await cli("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(handle.id))
    assert row.split("\t")[:5] == [handle.id, "running", "handing over", OUTGOING, INCOMING]

    # A terminal: a table; as wide as it takes, nothing is cut however narrow the terminal.
    wide = await cli("status", OUTGOING, terminal=200)
    assert f"{subject} [reassign + link engineering issue]" in wide.stdout, wide.stdout
    assert handle.id in (await cli("list", terminal=200)).stdout
    for command in ("status", "list"):
        narrow = await cli(command, *([OUTGOING] if command == "status" else []), terminal=50)
        assert narrow.returncode == 0 and "…" not in narrow.stdout, narrow.stdout


async def test_the_cli_piped_into_a_reader_that_stops_reading_ends_quietly(dev_server):
    """`starter.py list … | head`: head stops reading; the CLI ends with 0 and says nothing more."""
    client, task_queue = dev_server
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "HANDOVER_TASK_QUEUE": task_queue,
        "PYTHONUNBUFFERED": "1",  # (each line is written as it is printed)
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, STARTER, "list", "--json", env=env, stdout=write, stderr=subprocess.PIPE
    )
    os.close(write)
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_the_autopilot_commands_say_what_they_did_and_refuse_with_a_sentence(
    cli, dev_server, fresh_sandbox
):
    """Turn on, status (text and JSON), the steers recorded with who and why, `list`'s table, and
    each refusal's exit code: bad input 2, an unknown or unstarted schedule 3, a second start or a
    steer that makes no sense 5. The demo's Bob takes over in five days: nothing starts here."""
    client, _ = dev_server
    for args, code, message in (
        (
            ["autopilot", "start", "PPRIMARY", "--lead", "5s"],
            2,
            "lead: Input should be greater than or equal to 10",
        ),
        (["autopilot", "start", "PPRIMARY", "--lead", "soon"], 2, "not a duration"),
        (["autopilot", "start", "PNOSUCH"], 3, "PagerDuty has no schedule PNOSUCH"),
        (["autopilot", "status", "PPRIMARY"], 3, "the autopilot of schedule PPRIMARY is not on"),
        (["autopilot", "pause", "PPRIMARY"], 2, "--why"),
    ):
        result = await cli(*args)
        assert result.returncode == code and message in result.stderr, (args, result)
    try:
        on = await cli("autopilot", "start", "PPRIMARY", "--as", OUTGOING, "--why", "weekly rotation")
        assert on.returncode == 0, on
        assert f"{OUTGOING} → {INCOMING}" in on.stdout and "weekly rotation" in on.stdout
        again = await cli("autopilot", "start", "PPRIMARY")
        assert again.returncode == 5 and "is on already" in again.stderr

        paused = await cli("autopilot", "pause", "PPRIMARY", "--as", INCOMING, "--why", "freeze week")
        assert paused.returncode == 0 and "paused by bob@novalien.com: freeze week" in paused.stdout, paused
        twice = await cli("autopilot", "pause", "PPRIMARY", "--as", INCOMING, "--why", "freeze week")
        assert twice.returncode == 5 and "paused already" in twice.stderr
        assert (await cli("autopilot", "skip-next", "PPRIMARY", "--why", "offsite")).returncode == 0
        assert (await cli("autopilot", "resume", "PPRIMARY", "--why", "freeze over")).returncode == 0
        status = await cli("autopilot", "status", "PPRIMARY", "--json")
        steers = [(s["action"], s["why"]) for s in json.loads(status.stdout)["steers"]]
        assert steers == [
            ("start", "weekly rotation"),
            ("pause", "freeze week"),
            ("skip-next", "offsite"),
            ("resume", "freeze over"),
        ]
        listed = await cli("list")
        assert "autopilot-PPRIMARY" in listed.stdout and f"{OUTGOING} → {INCOMING}" in listed.stdout
    finally:
        await client.get_workflow_handle("autopilot-PPRIMARY").terminate("the test ends")
    assert fresh_sandbox.writes() == [], "nothing is near: no notice, no handover"
