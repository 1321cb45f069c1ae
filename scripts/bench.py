"""`make bench`: the service against what a team writes instead, on the same sandbox, in one run.

    python scripts/bench.py [--runs 3] [--latency-ms 20] [--storm 2000,500,200] [--quick]

Real processes: the Temporal dev server, the workers as the deployments run them (`python
worker.py` twice, HANDOVER_WORKER_RUNS=workflows and =activities; `--one-process`: once, as `make
run` does), `python -m endpoint` and the sandbox (`python -m sandbox`), each its own process. The naive
baseline (`naive_handover`) is a plain sequential script in this process making the same writes
with the same clients (`pagerduty`, `slack_sdk`, `httpx`), the way the runbook reads: for each
incident post the note, reassign, acknowledge; for each ticket, each rollout, one after another.

- P1 reference handover (20 incidents, 10 tickets, 5 rollouts; planned; every human input sent up
  front): service time to "waiting for the overlap timer" / baseline time.
- P2 alert storm (2,000 / 500 / 200; emergency; incoming acknowledges all in one input): the same
  ratio, PagerDuty requests made by each, and the largest history (events).
- P3 acknowledgements through the endpoint at a fixed offered rate (a bounded open-loop load
  generator: latency counts from when each request was due, not when it went out); at 50/s
  (medians of `--p3-runs`, alternating with the floor), and at each of `--rates` for the slope.
- P4 a fresh worker's resident memory with 100 handovers waiting on people; and with each of
  `--waitings`.
- P5 an alert storm handed over by people (300 incidents; planned): through the endpoint, the
  outgoing admin gives one status paragraph per group the handover suggests (PagerDuty's titles),
  incoming acknowledges all in one input; against the script people wrote before: one
  `starter.py submit-status` per incident, then `ack-all` and `ack-summary`. Time to "waiting for
  the overlap timer", and the inputs each sent.

P3 and P4 each come with Temporal's own floor, on the same dev server and measured the same way
(`scripts/floor.py`): the same load on a bare workflow's no-op update, sent straight to Temporal;
a fresh bare worker's memory holding as many bare workflows waiting. The table gives both as
multiples, against targets (FLOOR_TARGETS), and how each grows with the load.

Every API answers with `--latency-ms` of added latency (sandbox/limits.py): a real API is a network
away, and an in-machine sandbox answering in 3 ms flatters a script that makes one call after
another. Ratios are the headline (medians of `--runs`); the machine is noisy. The table goes to
stdout and tests/artifacts/bench-table.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pagerduty  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from handover import service, visibility  # noqa: E402
from handover.models import (  # noqa: E402
    AllItemsInput,
    EngineeringLinkInput,
    HandoverRequest,
    IncidentAckInput,
    IncidentStatusInput,
    InputKind,
    Outcome,
    Phase,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SummaryAckInput,
    Variant,
)
from sandbox.storm import crowd, storm  # noqa: E402
from sandbox.testing import SandboxHandle  # noqa: E402
from scripts.floor import BareAck, BareWorkflow  # noqa: E402
from tests.reliability.stack import Stack, _stop, _wait, free_port, listening, until_polling  # noqa: E402

ARTIFACTS = ROOT / "tests" / "artifacts"
OUT, IN = "alice@novalien.com", "bob@novalien.com"
TOKENS = {
    "PAGERDUTY_API_TOKEN": "sandbox-pagerduty-token",
    "SLACK_BOT_TOKEN": "xoxb-sandbox-bot-token",
    "PLATFORM_API_TOKEN": "sandbox-platform-token",
}
SCHEDULE, SERVICES, CHANNEL = "PPRIMARY", ["PPLATOPS", "PPLATAPI"], "C0PLATOPS"
TARGETS = {"P1": 1.2, "P2": 0.2, "P3": 250.0, "P4": 200.0}
FLOOR_TARGETS = {"p50": 2.0, "p99": 3.0, "rss": 1.5}
"""P3's p50 and p99 and P4's memory, at most these multiples of Temporal's own floor in the same run."""
FLOOR_METRICS = os.environ.get("BENCH_FLOOR_METRICS")
"""host:port for the bare worker's SDK metrics (a profile's: docs/bench.md); unset, none."""
FLOOR_QUEUE = "bench-floor"
"""The bare workflows' task queue (scripts/floor.py): Temporal's own floor under P3 and P4."""


# --- the naive baseline: what a team writes instead of the service ---------------------------


def naive_handover(sandbox: SandboxHandle, emergency: bool, engineering_issue: str = "ENG-4242") -> None:
    """The runbook as a plain script: one call after another, the official clients' defaults."""
    pd = pagerduty.RestApiV2Client(
        TOKENS["PAGERDUTY_API_TOKEN"], base_url=sandbox.pagerduty_url, verify=str(sandbox.ca_file)
    )
    slack = WebClient(token=TOKENS["SLACK_BOT_TOKEN"], base_url=sandbox.slack_url, ssl=sandbox.ssl_context())
    platform = httpx.Client(
        base_url=sandbox.platform_url,
        headers={"Authorization": f"Bearer {TOKENS['PLATFORM_API_TOKEN']}"},
        verify=sandbox.ssl_context(),
        timeout=30,
    )
    acting = {"On-Behalf-Of": OUT}

    def pages(path: str, key: str, params: dict) -> list[dict]:
        found, cursor = [], None
        while True:
            page = platform.get(
                path, params={**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
            )
            page.raise_for_status()
            found += page.json()[key]
            cursor = page.json().get("next_cursor")
            if not cursor:
                return found

    # step 0: who is who
    alice = next(u for u in pd.iter_all("/users", params={"query": OUT}) if u["email"] == OUT)
    bob = next(u for u in pd.iter_all("/users", params={"query": IN}) if u["email"] == IN)
    for email in (OUT, IN):
        platform.get(f"/admins/{email}").raise_for_status()
        slack.users_lookupByEmail(email=email)
    announcement = slack.chat_postMessage(channel=CHANNEL, text=f"On-call handover: {OUT} → {IN} starts now.")
    # step 1: freeze
    start = datetime.now(UTC).replace(microsecond=0)
    override = {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "user": {"id": bob["id"], "type": "user_reference"},
        "time_zone": "UTC",
    }
    pd.rpost(f"/schedules/{SCHEDULE}/overrides", json=[override])
    # inventory
    incidents = list(
        pd.iter_all(
            "/incidents",
            params={
                "statuses[]": ["triggered", "acknowledged"],
                "service_ids[]": SERVICES,
                "user_ids[]": [alice["id"]],
                "date_range": "all",
            },
        )
    )
    tickets = pages("/tickets", "tickets", {"assignee": OUT, "pinned": "true"})
    sessions = pages("/impersonation-sessions", "sessions", {"admin": OUT, "state": "open"})
    rollouts = pages("/rollouts", "rollouts", {"state": ["ramping", "paused"], "owner": OUT})
    slack.chat_postMessage(
        channel=CHANNEL, thread_ts=announcement["ts"], text=f"To do: {len(incidents)} incidents"
    )
    if emergency:  # the context digest: the same reads as the service's
        for incident in incidents[:40]:
            pd.rget(f"/incidents/{incident['id']}")
            pd.rget(f"/incidents/{incident['id']}/notes")
            pd.rget(f"/incidents/{incident['id']}/log_entries", params={"limit": 12})
        for ticket in tickets[:40]:
            platform.get(f"/tickets/{ticket['id']}").raise_for_status()
            platform.get(f"/tickets/{ticket['id']}/comments").raise_for_status()
        slack.conversations_history(channel=CHANNEL, oldest=str(time.time() - 3600))
    # step 2: every incident: note, reassign, acknowledge
    for incident in incidents:
        note = (
            "Emergency on-call handover: the outgoing admin is incapacitated. Context digest in Slack."
            if emergency
            else "Current hypothesis: disk. Last action: restarted. Next action: watch."
        )
        pd.rpost(
            f"/incidents/{incident['id']}/notes", json={"note": {"content": note}}, headers={"From": OUT}
        )
        assign = {
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": bob["id"], "type": "user_reference"}}],
        }
        pd.rput(f"/incidents/{incident['id']}", json={"incident": assign}, headers={"From": OUT})
        ack = {"type": "incident_reference", "status": "acknowledged"}
        pd.rput(f"/incidents/{incident['id']}", json={"incident": ack}, headers={"From": IN})
    # step 3: every pinned ticket, impersonation ended first
    for ticket in tickets:
        for session in sessions:
            if session.get("ticket_id") == ticket["id"]:
                platform.post(
                    f"/impersonation-sessions/{session['id']}/end",
                    json={"reason": "handover"},
                    headers=acting,
                ).raise_for_status()
        platform.put(
            f"/tickets/{ticket['id']}/assignee", json={"assignee": IN}, headers=acting
        ).raise_for_status()
        if ticket["state"] == "waiting_on_customer":
            platform.put(
                f"/tickets/{ticket['id']}/labels/waiting_on_customer", headers=acting
            ).raise_for_status()
        elif ticket["state"] == "waiting_on_engineering" and not ticket.get("engineering_issue"):
            platform.put(
                f"/tickets/{ticket['id']}/engineering-issue",
                json={"issue": engineering_issue},
                headers=acting,
            ).raise_for_status()
    # step 4: every rollout: annotate, then incoming owns it
    for rollout in rollouts:
        annotation = platform.post(
            f"/rollouts/{rollout['id']}/annotations",
            json={
                "ramp_percent": rollout["ramp_percent"],
                "error_rate": rollout["error_rate"] or 0,
                "next_step": "+15%",
            },
            headers={**acting, "Idempotency-Key": f"naive/{rollout['id']}/{start.timestamp()}"},
        )
        annotation.raise_for_status()
        platform.put(
            f"/rollouts/{rollout['id']}/owner",
            json={"owner": IN, "annotation_id": annotation.json()["id"]},
            headers={"On-Behalf-Of": IN},
        ).raise_for_status()
    # step 5: the summary and its details
    summary = slack.chat_postMessage(
        channel=CHANNEL,
        text=f"On-call: {OUT} → {IN}. {len(incidents)} incidents, {len(tickets)} tickets, "
        f"{len(rollouts)} rollouts.",
    )
    for part in ("incidents", "tickets", "rollouts", *(["digest"] if emergency else [])):
        slack.chat_postMessage(channel=CHANNEL, thread_ts=summary["ts"], text=f"details: {part}")
    platform.close()


# --- the service -------------------------------------------------------------------------------


async def until_phase(handle: WorkflowHandle, phases: set[str], timeout: float) -> str:
    """Polls the handover's phase (a search attribute: cheap to read, unlike the progress)."""
    deadline = time.perf_counter() + timeout
    while True:
        described = await handle.describe()
        phase = described.typed_search_attributes.get(visibility.PHASE)
        if phase in phases:
            return phase
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{handle.id} still {phase} after {timeout:.0f}s")
        await asyncio.sleep(0.02)


async def service_handover(stack: Stack, request: HandoverRequest, inputs: Callable[[], list]) -> dict:
    """Start, send every input up front (signals, held until the handover can take them), time
    it to the overlap timer; then read its history and end it."""
    client = await stack.client()
    started = time.perf_counter()
    handle = await service.start(client, stack.task_queue, request)
    for kind, given in inputs():
        await handle.signal(kind.value, given)
    phase = await until_phase(handle, {Phase.OVERLAP.value, Phase.FAILED.value, Phase.COMPLETED.value}, 900)
    seconds = time.perf_counter() - started
    progress = await service.progress(client, handle.id)
    items = progress.incidents + progress.tickets + progress.rollouts
    history = await handle.fetch_history()
    await handle.terminate("bench: measured")
    return {
        "seconds": seconds,
        "phase": phase,
        "handed_over": sum(i.outcome is Outcome.HANDED_OVER for i in items),
        "items": len(items),
        "events": len(history.events),
        "history_bytes": len(history.to_json()),
    }


def planned_inputs(scenario: dict) -> Callable[[], list]:
    """Every input of a planned handover, per item, as people would give them."""
    incidents = [
        i["id"]
        for i in scenario["pagerduty"]["incidents"]
        if i.get("assignees") == ["PALICEM"] and i["status"] != "resolved" and i["service"] in SERVICES
    ]
    tickets = [
        t["id"]
        for t in scenario["platform"]["tickets"]
        if t["assignee"] == OUT
        and t["pinned"]
        and t["state"] == "waiting_on_engineering"
        and not t.get("engineering_issue")
    ]
    rollouts = [
        r
        for r in scenario["platform"]["rollouts"]
        if r["owner"] == OUT and r["state"] in ("ramping", "paused")
    ]

    def inputs() -> list:
        given: list = []
        for incident in incidents:
            given.append(
                (
                    InputKind.STATUS,
                    IncidentStatusInput(
                        actor=OUT,
                        incident_id=incident,
                        hypothesis="disk",
                        last_action="restarted",
                        next_action="watch",
                    ),
                )
            )
            given.append((InputKind.INCIDENT_ACK, IncidentAckInput(actor=IN, incident_id=incident)))
        given += [
            (InputKind.ENGINEERING_LINK, EngineeringLinkInput(actor=OUT, ticket_id=t, issue="ENG-4242"))
            for t in tickets
        ]
        for rollout in rollouts:
            given.append(
                (
                    InputKind.ROLLOUT_ANNOTATION,
                    RolloutAnnotationInput(
                        actor=OUT,
                        rollout_id=rollout["id"],
                        ramp_percent=rollout["ramp_percent"],
                        error_rate=rollout["error_rate"],
                        next_step="+15%",
                    ),
                )
            )
            given.append(
                (InputKind.ROLLOUT_OWNERSHIP, RolloutOwnershipInput(actor=IN, rollout_id=rollout["id"]))
            )
        given.append((InputKind.SUMMARY_ACK, SummaryAckInput(actor=IN)))
        return given

    return inputs


def storm_inputs() -> list:
    return [
        (InputKind.ALL_INCIDENTS_ACK, AllItemsInput(actor=IN)),
        (InputKind.ALL_ROLLOUTS_OWNERSHIP, AllItemsInput(actor=IN)),
        (InputKind.SUMMARY_ACK, SummaryAckInput(actor=IN)),
    ]


# --- P5: an alert storm's status paragraphs, grouped, against one CLI call per incident ---------

GROUP_STATUS = {
    "hypothesis": "the storage backend of the rack is saturated",
    "last_action": "moved the noisiest tenants off the rack",
    "next_action": "add two storage nodes and rebalance",
}


async def grouped_storm(stack: Stack, sandbox: SandboxHandle, incidents: int) -> dict:
    """The storm as people give it through the endpoint: one status per suggested group, then
    `ack-all` and the summary's acknowledgement; timed from the start to the overlap timer."""
    prepare(sandbox, storm(incidents, 0, 0), stack.latency_ms)
    client = await stack.client()
    started = time.perf_counter()
    handle = await service.start(
        client, stack.task_queue, HandoverRequest(outgoing=OUT, incoming=IN, requested_by="bench")
    )
    base = f"/handovers/{handle.id}"
    sent = 0
    async with stack.http(OUT) as alice, stack.http(IN) as bob:
        progress = await _listed(alice, base, incidents)
        for group in progress["status_groups"]:
            (
                await alice.post(
                    f"{base}/incidents/status", json={**GROUP_STATUS, "incident_ids": group["incident_ids"]}
                )
            ).raise_for_status()
            sent += 1
        (await bob.post(f"{base}/incidents/ack-all")).raise_for_status()
        sent += 1
        await _summary_acknowledged(bob, base)
        sent += 1
    return await _timed_to_overlap(client, handle, started, sent)


async def scripted_storm(stack: Stack, sandbox: SandboxHandle, incidents: int) -> dict:
    """The same storm as the script people wrote: one `starter.py submit-status` per incident."""
    prepare(sandbox, storm(incidents, 0, 0), stack.latency_ms)
    client = await stack.client()
    started = time.perf_counter()
    handle = await service.start(
        client, stack.task_queue, HandoverRequest(outgoing=OUT, incoming=IN, requested_by="bench")
    )
    async with stack.http(OUT) as alice:
        progress = await _listed(alice, f"/handovers/{handle.id}", incidents)
    ids = [item["incident"]["id"] for item in progress["incidents"] if item["outcome"] == "pending"]
    written = [f"--{name.replace('_', '-')}={text}" for name, text in GROUP_STATUS.items()]
    for incident_id in ids:
        await _cli(stack, "submit-status", OUT, incident_id, "--as", OUT, *written)
    await _cli(stack, "ack-all", OUT, "--as", IN)
    while (await service.progress(client, handle.id)).summary is None:
        await asyncio.sleep(0.2)
    await _cli(stack, "ack-summary", OUT, "--as", IN)
    return await _timed_to_overlap(client, handle, started, len(ids) + 2)


async def _cli(stack: Stack, *arguments: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "starter.py"),
        *arguments,
        env=stack.env(),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, error = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"starter.py {arguments[0]} exited {process.returncode}: {error.decode()[-500:]}")


async def _listed(http: httpx.AsyncClient, base: str, incidents: int) -> dict:
    """The handover's progress once its incidents are listed."""
    while True:
        answer = await http.get(base)
        if answer.status_code == 200 and len(answer.json()["incidents"]) >= incidents:
            return answer.json()
        await asyncio.sleep(0.2)


async def _summary_acknowledged(http: httpx.AsyncClient, base: str) -> None:
    while True:
        answer = await http.post(f"{base}/summary/ack")
        if answer.status_code == 200:
            return
        if answer.status_code != 409 or "not posted yet" not in answer.text:
            answer.raise_for_status()
        await asyncio.sleep(0.2)


async def _timed_to_overlap(client: Any, handle: WorkflowHandle, started: float, sent: int) -> dict:
    phase = await until_phase(handle, {Phase.OVERLAP.value, Phase.FAILED.value, Phase.COMPLETED.value}, 900)
    seconds = time.perf_counter() - started
    progress = await service.progress(client, handle.id)
    await handle.terminate("bench: measured")
    handed = sum(item.outcome is Outcome.HANDED_OVER for item in progress.incidents)
    if phase != Phase.OVERLAP.value or handed != len(progress.incidents):
        raise RuntimeError(f"the storm ended {phase} with {handed} of {len(progress.incidents)} handed over")
    return {"seconds": seconds, "inputs": sent, "incidents": len(progress.incidents)}


# --- P3: acknowledgements through the endpoint at a fixed rate ----------------------------------


async def ack_latency(stack: Stack, sandbox: SandboxHandle, rate: float, count: int, handovers: int) -> dict:
    """`handovers` emergency handovers running at once, `count` incidents in all; once each is
    reassigned, the incoming admin acknowledges it through the endpoint, one request every 1/rate
    seconds, round robin over the handovers (open loop, at most 200 in flight). Temporal admits at
    most 10 updates in flight per workflow: one handover alone is a narrower door than the endpoint."""
    each = count // handovers
    prepare(sandbox, crowd(handovers, each), stack.latency_ms)
    client = await stack.client()
    handles = []
    for n in range(handovers):
        request = HandoverRequest(
            outgoing=f"admin-{n:03d}@novalien.com",
            incoming=IN,
            requested_by="bench",
            variant=Variant.EMERGENCY,
            reason="incapacitated",
        )
        handles.append(await service.start(client, stack.task_queue, request))
    for handle in handles:  # incoming acknowledges what was handed over: each incident is reassigned
        await until_phase(handle, {Phase.HANDING_OVER.value}, 120)
        while not all(i.reassigned for i in (await service.progress(client, handle.id)).incidents):
            await asyncio.sleep(0.2)
    acks = [
        (handles[n % handovers].id, f"QC{n % handovers:03d}{n // handovers:03d}")
        for n in range(each * handovers)
    ]
    # Warm-up, not counted: one acknowledgement per handover, one at a time (the endpoint's
    # connections, each handover's first update).
    warm_up, acks = acks[:handovers], acks[handovers:]
    async with stack.http(IN) as http:
        for handover_id, incident_id in warm_up:
            (await http.post(f"/handovers/{handover_id}/incidents/{incident_id}/ack")).raise_for_status()
    async with stack.http(IN) as http:

        async def ack(handover_id: str, incident_id: str) -> int:
            return (await http.post(f"/handovers/{handover_id}/incidents/{incident_id}/ack")).status_code

        result = await open_loop(ack, acks, rate)
    for handle in handles:
        await handle.terminate("bench: measured")
    return {**result, "handovers": handovers}


async def bare_update_latency(stack: Stack, rate: float, count: int, workflows: int) -> dict:
    """Temporal's floor under P3: `workflows` bare workflows on their own worker, a no-op update
    each in place of an acknowledgement, the same warm-up, rate, count and round robin."""
    each = count // workflows
    worker = start_floor_worker(stack)
    try:
        handles = await start_bare_workflows(stack, "bench-floor-p3", workflows)
        acks = [BareAck(actor=IN, incident_id=f"QC{n:04d}") for n in range(each * workflows)]
        updates = [(handles[n % workflows], ack) for n, ack in enumerate(acks)]
        warm_up, updates = updates[:workflows], updates[workflows:]
        for handle, given in warm_up:
            await handle.execute_update(BareWorkflow.ack, given)

        async def update(handle: WorkflowHandle, given: BareAck) -> str:
            try:
                await handle.execute_update(BareWorkflow.ack, given)
            except (WorkflowUpdateFailedError, RPCError) as error:
                return type(error).__name__
            return "ok"

        result = await open_loop(update, updates, rate)
        for handle in handles:
            await handle.terminate("bench: measured")
    finally:
        _stop(worker)
    return {**result, "workflows": workflows}


async def ack_latency_against_floor(
    stack: Stack, sandbox: SandboxHandle, rate: float, handovers: int, runs: int
) -> dict:
    """P3 at `rate` and its floor, alternately, `runs` times each (the machine's noise moves both
    by a factor of 3 from one run to the next): the medians of each's p50 and p99, the ratios of
    those medians, and every run's figures."""
    service_runs, floor_runs = [], []
    for number in range(runs):
        print(f"P3 acknowledgements at {rate:g}/s" + (f" (run {number + 1})" if runs > 1 else ""), flush=True)
        service_runs.append(await ack_latency(stack, sandbox, rate, int(rate * 10), handovers))
        print(f"  Temporal's floor: bare updates at {rate:g}/s", flush=True)
        floor_runs.append(await bare_update_latency(stack, rate, int(rate * 10), handovers))

    def median_of(measured: list[dict]) -> dict:
        statuses: dict = {}
        for run in measured:
            for status, count in run["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        middle = {
            key: statistics.median(run[key] for run in measured) for key in ("p50", "p90", "p99", "rate")
        }
        worst = max(run["max"] for run in measured)
        return {**measured[0], **middle, "max": worst, "statuses": statuses, "runs": list(measured)}

    measured, floor = median_of(service_runs), median_of(floor_runs)
    return {
        **measured,
        "offered": rate,
        "floor": floor,
        "p50_x_floor": measured["p50"] / floor["p50"],
        "p99_x_floor": measured["p99"] / floor["p99"],
    }


async def open_loop(send: Callable[..., Awaitable[int | str]], calls: list[tuple], rate: float) -> dict:
    """`send(*call)` for every call, one due every 1/rate seconds (open loop, at most 200 in flight),
    each answer's status counted; latency counts from when each call was due, not when it went out."""
    latencies: list[float] = []
    timeline: list[tuple[int, float]] = []
    sent: list[float] = []
    statuses: dict[int | str, int] = {}
    gate = asyncio.Semaphore(200)
    begin = time.perf_counter()

    async def one(number: int, call: tuple) -> None:
        due = begin + number / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        async with gate:
            sent.append(time.perf_counter())
            status = await send(*call)
        latencies.append((time.perf_counter() - due) * 1000)
        timeline.append((number, latencies[-1]))
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(n, call) for n, call in enumerate(calls)))
    offered = (len(sent) - 1) / max(max(sent) - min(sent), 1e-9)
    latencies.sort()
    return {
        "p50": statistics.median(latencies),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "requests": len(latencies),
        "rate": offered,
        "statuses": statuses,
        "p90": latencies[int(len(latencies) * 0.9) - 1],
        "max": latencies[-1],
        "slowest": sorted(timeline, key=lambda entry: -entry[1])[:10],  # (request number, ms)
    }


# --- P4: memory with many handovers waiting on people -------------------------------------------


async def waiting_memory(stack: Stack, sandbox: SandboxHandle, handovers: int) -> dict:
    """A fresh worker's resident memory, idle and then with `handovers` handovers waiting on
    people (each past its inventory, waiting for status paragraphs, links and annotations): as
    the bare worker's is read, from its start, and not after the runs before it."""
    prepare(sandbox, crowd(handovers), stack.latency_ms)
    client = await stack.client()
    worker = await fresh_worker(stack)
    before = rss_mb(worker.pid)
    handles = []
    for n in range(handovers):
        request = HandoverRequest(outgoing=f"admin-{n:03d}@novalien.com", incoming=IN, requested_by="bench")
        handles.append(await service.start(client, stack.task_queue, request))
    for handle in handles:  # each waits for its status paragraphs, engineering links, annotations
        await until_phase(handle, {Phase.HANDING_OVER.value}, 300)
    await asyncio.sleep(3)
    during = rss_mb(worker.pid)
    others = [rss_mb(other.pid) for other in stack.workers if other is not worker]  # (the activities' worker)
    largest = max([len((await h.fetch_history()).events) for h in handles[:5]])
    for handle in handles:
        await handle.terminate("bench: measured")
    measured = {"rss_mb": during, "rss_before_mb": before, "handovers": handovers, "events": largest}
    return {**measured, "activities_rss_mb": others[0]} if others else measured


async def waiting_memory_against_floor(stack: Stack, sandbox: SandboxHandle, waiting: int) -> dict:
    """P4 with `waiting` handovers, then its floor with as many bare workflows."""
    print(f"P4 {waiting} handovers waiting", flush=True)
    measured = await waiting_memory(stack, sandbox, waiting)
    print(f"  Temporal's floor: a bare worker, {waiting} waiting", flush=True)
    floor = await bare_waiting_memory(stack, waiting)
    return {**measured, "floor": floor, "rss_x_floor": measured["rss_mb"] / floor["rss_mb"]}


async def fresh_worker(stack: Stack) -> subprocess.Popen:
    """The service's workers stopped and started again; back once they poll. The one that holds
    the handovers: the workflows' worker (--one-process: the one worker)."""
    stack.stop_workers()
    stack.workers.clear()
    worker = start_workers(stack)[0]
    await until_polling(stack, timeout=60)
    await asyncio.sleep(1)  # (settled: its first polls answered)
    return worker


def start_workers(stack: Stack) -> list[subprocess.Popen]:
    """The workflows' and the activities' workers apart, as the deployments run them; or
    (--one-process) one worker running everything, as `make run` does."""
    if not stack.split:  # type: ignore[attr-defined]
        return [stack.start_worker()]
    return [stack.start_worker(runs="workflows"), stack.start_worker(runs="activities")]


async def bare_waiting_memory(stack: Stack, workflows: int) -> dict:
    """Temporal's floor under P4: a bare worker's resident memory, read as P4 reads the service
    worker's, holding `workflows` bare workflows waiting."""
    worker = start_floor_worker(stack)
    try:
        before = rss_mb(worker.pid)
        handles = await start_bare_workflows(stack, "bench-floor-p4", workflows)
        for handle in handles:  # each has run its first workflow task: it is in the worker's cache
            await until_running(handle, 300)
        await asyncio.sleep(3)
        during = rss_mb(worker.pid)
        for handle in handles:
            await handle.terminate("bench: measured")
    finally:
        _stop(worker)
    return {"rss_mb": during, "rss_before_mb": before, "workflows": workflows}


def start_floor_worker(stack: Stack) -> subprocess.Popen:
    """`scripts/floor.py`'s bare worker, its own process on its own task queue; back once it polls."""
    ready = stack.root / f"floor-{time.monotonic_ns()}.ready"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "floor.py"),
        "--address",
        f"127.0.0.1:{stack.temporal_port}",
        "--task-queue",
        FLOOR_QUEUE,
        "--ready",
        str(ready),
        *(["--metrics", FLOOR_METRICS] if FLOOR_METRICS else []),
    ]
    worker = stack._spawn("floor-worker", command)
    _wait(ready.exists, worker, "the bare worker", 60)
    return worker


async def start_bare_workflows(stack: Stack, prefix: str, count: int) -> list[WorkflowHandle]:
    client = await stack.client()
    return [
        await client.start_workflow(BareWorkflow.run, id=f"{prefix}-{n:03d}", task_queue=FLOOR_QUEUE)
        for n in range(count)
    ]


async def until_running(handle: WorkflowHandle, timeout: float) -> None:
    """Until the workflow's first task is done (history: started, task scheduled, started, completed)."""
    deadline = time.perf_counter() + timeout
    while (await handle.describe()).raw_description.workflow_execution_info.history_length < 4:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{handle.id} has not run its first workflow task after {timeout:.0f}s")
        await asyncio.sleep(0.02)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# --- the sandbox, its own process -----------------------------------------------------------


def start_sandbox(root: Path) -> tuple[subprocess.Popen, SandboxHandle]:
    port = free_port()
    data = root / "sandbox"
    log = open(root / "sandbox.log", "ab")
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait(lambda: listening(port) and (data / "ca.pem").exists(), process, "the sandbox", 60)
    base = f"https://localhost:{port}"
    handle = SandboxHandle(
        base_url=base,
        ca_file=data / "ca.pem",
        pagerduty_url=f"{base}/pagerduty",
        slack_url=f"{base}/slack/api/",
        platform_url=f"{base}/platform/v1",
        store=None,  # type: ignore[arg-type]  (another process: read over HTTP)
    )
    return process, handle


def start_temporal(stack: Stack) -> None:
    """The dev server; on another free port if the first one (or one it opens beside it) was
    taken meanwhile."""
    for attempt in range(3):
        try:
            stack.start_temporal()
            return
        except RuntimeError:
            if attempt == 2:
                raise
            stack.temporal_port = free_port()


def prepare(sandbox: SandboxHandle, scenario: dict, latency_ms: float) -> None:
    """The scenario afresh, every API `latency_ms` away; the request counts start at zero."""
    sandbox.reset(scenario)
    latency = {api: latency_ms for api in ("pagerduty", "slack", "platform")}
    with sandbox.control() as control:
        control.put("/limits", json={"latency_ms": latency}).raise_for_status()


def pagerduty_requests(sandbox: SandboxHandle) -> int:
    with sandbox.control() as control:
        return control.get("/limits").json()["requests"].get("pagerduty", 0)


# --- the runs and the table ----------------------------------------------------------------------


async def compare(
    stack: Stack,
    sandbox: SandboxHandle,
    scenario: dict,
    request: HandoverRequest,
    inputs,
    emergency: bool,
    runs: int,
) -> dict:
    """The service and the baseline, alternately, `runs` times each, on the same scenario."""
    service_runs, naive_runs = [], []
    for number in range(runs):
        prepare(sandbox, scenario, stack.latency_ms)
        result = await service_handover(stack, request, inputs)
        result["pagerduty_requests"] = pagerduty_requests(sandbox)
        if result["handed_over"] != result["items"]:
            raise RuntimeError(f"the service handed over {result['handed_over']} of {result['items']} items")
        service_runs.append(result)
        prepare(sandbox, scenario, stack.latency_ms)
        began = time.perf_counter()
        await asyncio.to_thread(naive_handover, sandbox, emergency)
        naive_runs.append(
            {"seconds": time.perf_counter() - began, "pagerduty_requests": pagerduty_requests(sandbox)}
        )
        print(
            f"  run {number + 1}: service {result['seconds']:.2f}s, "
            f"baseline {naive_runs[-1]['seconds']:.2f}s",
            flush=True,
        )
    service_s = statistics.median(r["seconds"] for r in service_runs)
    naive_s = statistics.median(r["seconds"] for r in naive_runs)
    return {
        "service_s": service_s,
        "naive_s": naive_s,
        "ratio": service_s / naive_s,
        "service_pd": statistics.median(r["pagerduty_requests"] for r in service_runs),
        "naive_pd": statistics.median(r["pagerduty_requests"] for r in naive_runs),
        "events": max(r["events"] for r in service_runs),
        "history_mb": max(r["history_bytes"] for r in service_runs) / 1e6,
        "runs": runs,
    }


def table(args: argparse.Namespace, results: dict) -> tuple[str, bool]:
    p1, p2, p3, p4 = (results.get(k) for k in ("P1", "P2", "P3", "P4"))
    rows = [
        f"make bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, every API {args.latency_ms:g} ms away, "
        f"medians of {args.runs} runs (P2: {args.storm_runs})",
        "",
        f"{'':4} {'measure':58} {'value':>16} {'target':>10} {'':4}",
    ]
    passed = True
    floors: list[str] = []  # P3 and P4 against Temporal's own floor, in a sentence each

    def row(key: str, what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        nonlocal passed
        passed = passed and ok is not False
        rows.append(
            f"{key:4} {what:58} {value:>16} {target:>10} {'' if ok is None else ('ok' if ok else 'MISS'):4}"
        )

    def against_floor(what: str, value: str, ratio: str) -> None:
        """A row for Temporal's own floor under the measure, and its ratio below the table."""
        row("", f"  Temporal's floor, {what}", value)
        floors.append(f"  {ratio}")

    if p1:
        row(
            "P1",
            f"reference 20/10/5: service {p1['service_s']:.2f}s / baseline {p1['naive_s']:.2f}s",
            f"{p1['ratio']:.2f}x",
            "<= 1.2x",
            p1["ratio"] <= TARGETS["P1"],
        )
        row("", "  PagerDuty requests: service / baseline", f"{p1['service_pd']:.0f} / {p1['naive_pd']:.0f}")
        row("", "  history (events)", f"{p1['events']}")
    if p2:
        size = args.storm.replace(",", "/")
        row(
            "P2",
            f"storm {size}: service {p2['service_s']:.1f}s / baseline {p2['naive_s']:.1f}s",
            f"{p2['ratio']:.2f}x",
            "<= 0.2x",
            p2["ratio"] <= TARGETS["P2"],
        )
        row("", "  PagerDuty requests: service / baseline", f"{p2['service_pd']:.0f} / {p2['naive_pd']:.0f}")
        row("", "  largest history (events)", f"{p2['events']}", "<= 10240", p2["events"] <= 10240)
        row("", "  largest history (MB of JSON)", f"{p2['history_mb']:.1f}")
    if p3:
        row(
            "P3",
            f"acks via the endpoint, {p3['rate']:.0f}/s over {p3['handovers']} handovers "
            f"({p3['requests']} requests{medians(p3)}): p50",
            f"{p3['p50']:.0f} ms",
        )
        row(
            "",
            f"  p99   (answers: {answers(p3['statuses'])})",
            f"{p3['p99']:.0f} ms",
            "<= 250 ms",
            p3["p99"] <= TARGETS["P3"],
        )
        if "floor" in p3:
            floor = p3["floor"]
            against_floor(
                f"a bare update: p50 / p99 (answers: {answers(floor['statuses'])})",
                f"{floor['p50']:.0f} / {floor['p99']:.0f} ms",
                f"P3 ack p50 {p3['p50']:.0f} ms = {p3['p50_x_floor']:.1f}x a bare update's "
                f"{floor['p50']:.0f} ms; p99 {p3['p99']:.0f} ms = {p3['p99_x_floor']:.1f}x its "
                f"{floor['p99']:.0f} ms",
            )
            for point in ("p50", "p99"):
                ratio = p3[f"{point}_x_floor"]
                limit = FLOOR_TARGETS[point]
                row("", f"  {point} / the floor's", f"{ratio:.2f}x", f"<= {limit:g}x", ratio <= limit)
    if p4:
        which = "workflows' worker" if "activities_rss_mb" in p4 else "worker"
        idle = p4["rss_before_mb"]
        row(
            "P4",
            f"{which} RSS, {p4['handovers']} waiting on people (idle: {idle:.0f} MB)",
            f"{p4['rss_mb']:.0f} MB",
            "<= 200 MB",
            p4["rss_mb"] <= TARGETS["P4"],
        )
        if "activities_rss_mb" in p4:
            row(
                "",
                "  and the activities' worker beside it",
                f"{p4['activities_rss_mb']:.0f} MB",
                "",
                True,
            )
        if "floor" in p4:
            floor = p4["floor"]
            against_floor(
                f"a bare worker, {floor['workflows']} waiting (idle: {floor['rss_before_mb']:.0f} MB)",
                f"{floor['rss_mb']:.0f} MB",
                f"P4 worker RSS {p4['rss_mb']:.0f} MB = {p4['rss_x_floor']:.1f}x a bare worker's "
                f"{floor['rss_mb']:.0f} MB with {floor['workflows']} waiting",
            )
            limit = FLOOR_TARGETS["rss"]
            ratio = p4["rss_x_floor"]
            row("", "  RSS / the bare worker's", f"{ratio:.2f}x", f"<= {limit:g}x", ratio <= limit)
    p5 = results.get("P5")
    if p5:
        grouped, scripted = p5["grouped"], p5["scripted"]
        row(
            "P5",
            f"storm of {grouped['incidents']} by people: grouped {grouped['seconds']:.1f}s / "
            f"script {scripted['seconds']:.1f}s",
            f"{grouped['seconds'] / scripted['seconds']:.2f}x",
        )
        row(
            "",
            "  inputs sent: grouped, via the endpoint / script, via starter.py",
            f"{grouped['inputs']} / {scripted['inputs']}",
        )
    if floors:
        rows += ["", "Against Temporal's own floor (bare workflows, same dev server, measured the same way):"]
        rows += floors
    rows += slopes(results)
    rows += ["", f"RESULT: {'PASS' if passed else 'MISS'}"]
    return "\n".join(rows), passed


def medians(measured: dict) -> str:
    """`, medians of 3 runs` when it is."""
    runs = len(measured.get("runs", []))
    return f", medians of {runs} runs" if runs > 1 else ""


def slopes(results: dict) -> list[str]:
    """How P3 and P4 grow with the load, each point beside the floor measured with it."""
    rows = []
    if results.get("P3 slope"):
        rows += [
            "",
            "How P3 grows: acknowledgements through the endpoint against bare updates, same handovers",
            f"  {'acks/s':>7} {'offered':>8} {'p50 / p99 (ms)':>16} {'floor p50 / p99':>16} {'x floor':>11}"
            f"  answers",
        ]
        for point in results["P3 slope"]:
            floor = point["floor"]
            rows.append(
                f"  {point['offered']:>7g} {point['rate']:>8.0f} {point['p50']:>7.0f} / {point['p99']:<6.0f} "
                f"{floor['p50']:>8.0f} / {floor['p99']:<6.0f} {point['p50_x_floor']:>4.1f} / "
                f"{point['p99_x_floor']:<4.1f}  {answers(point['statuses'])}"
            )
    if results.get("P4 slope"):
        rows += [
            "",
            "How P4 grows: a fresh worker's memory against a fresh bare worker's, as many waiting",
            f"  {'waiting':>7} {'idle (MB)':>10} {'RSS (MB)':>9} {'floor idle':>11} {'floor RSS':>10}"
            f" {'x floor':>8} {'MB per extra':>13}",
        ]
        previous = None
        for point in results["P4 slope"]:
            floor = point["floor"]
            extra = ""
            if previous is not None:
                more = point["handovers"] - previous["handovers"]
                service = (point["rss_mb"] - previous["rss_mb"]) / more
                bare = (floor["rss_mb"] - previous["floor"]["rss_mb"]) / more
                extra = f"{service:.2f} / {bare:.2f}"
            rows.append(
                f"  {point['handovers']:>7} {point['rss_before_mb']:>10.0f} {point['rss_mb']:>9.0f} "
                f"{floor['rss_before_mb']:>11.0f} {floor['rss_mb']:>10.0f} {point['rss_x_floor']:>7.1f}x"
                f" {extra:>13}"
            )
            previous = point
        rows.append("  (MB per extra: per handover waiting beyond the row above / per bare workflow)")
    return rows


def numbers(given: str) -> list[int]:
    """`10,50,100`: a slope's points."""
    try:
        return [int(part) for part in given.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{given!r}: give numbers with commas, e.g. 10,50,100") from None


def answers(statuses: dict) -> str:
    """`200: 489, 503: 1`: how many answers of each status."""
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))


async def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of P1 and P2, for medians (default 3)")
    parser.add_argument("--latency-ms", type=float, default=20, help="added to every API answer (default 20)")
    parser.add_argument(
        "--storm-runs", type=int, default=1, help="runs of P2 (default 1: its baseline takes minutes)"
    )
    parser.add_argument("--storm", default="2000,500,200", help="P2's incidents,tickets,rollouts")
    parser.add_argument("--rate", type=float, default=50, help="P3's offered acknowledgements per second")
    parser.add_argument("--ack-handovers", type=int, default=10, help="P3's handovers the acks spread over")
    parser.add_argument(
        "--p3-runs",
        type=int,
        default=3,
        help="runs of P3 at --rate and of its floor, for medians (default 3)",
    )
    parser.add_argument("--waiting", type=int, default=100, help="P4's handovers waiting on people")
    parser.add_argument(
        "--rates", type=numbers, default=[10, 50, 100], help="P3 also at these rates, its slope (10,50,100)"
    )
    parser.add_argument(
        "--waitings", type=numbers, default=[10, 100, 1000], help="P4 also with these many, for its slope"
    )
    parser.add_argument("--grouped", type=int, default=300, help="P5's storm: incidents (default 300)")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="the worker as make run runs it, one process (default: as the deployments run it, two "
        "processes, HANDOVER_WORKER_RUNS=workflows and =activities)",
    )
    parser.add_argument("--only", nargs="*", default=["P1", "P2", "P3", "P4", "P5"], help="e.g. --only P1 P3")
    args = parser.parse_args()
    incidents, tickets, rollouts = (int(part) for part in args.storm.split(","))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        root = Path(directory)
        sandbox_process, sandbox = start_sandbox(root)
        stack = Stack(root=root, sandbox=sandbox, secrets=TOKENS)
        stack.latency_ms = args.latency_ms  # type: ignore[attr-defined]
        stack.split = not args.one_process  # type: ignore[attr-defined]
        try:
            start_temporal(stack)
            start_workers(stack)
            stack.start_endpoint()
            if "P1" in args.only:
                print("P1 reference handover", flush=True)
                scenario = storm(20, 10, 5, engineering_issues=False)
                request = HandoverRequest(outgoing=OUT, incoming=IN, requested_by="bench")
                results["P1"] = await compare(
                    stack, sandbox, scenario, request, planned_inputs(scenario), False, args.runs
                )
            if "P2" in args.only:
                print(f"P2 alert storm {args.storm}", flush=True)
                scenario = storm(incidents, tickets, rollouts)
                request = HandoverRequest(
                    outgoing=OUT,
                    incoming=IN,
                    requested_by="bench",
                    variant=Variant.EMERGENCY,
                    reason="incapacitated",
                )
                results["P2"] = await compare(
                    stack, sandbox, scenario, request, storm_inputs, True, args.storm_runs
                )
            if "P3" in args.only:
                slope = results["P3 slope"] = []
                for rate in sorted({args.rate, *args.rates}):
                    runs = args.p3_runs if rate == args.rate else 1
                    measured = await ack_latency_against_floor(stack, sandbox, rate, args.ack_handovers, runs)
                    slope.append(measured)
                    if rate == args.rate:
                        results["P3"] = measured
            if "P4" in args.only:
                slope = results["P4 slope"] = []
                for waiting in sorted({args.waiting, *args.waitings}):
                    measured = await waiting_memory_against_floor(stack, sandbox, waiting)
                    slope.append(measured)
                    if waiting == args.waiting:
                        results["P4"] = measured
            if "P5" in args.only:
                print(f"P5 a storm of {args.grouped} given by people: grouped, then scripted", flush=True)
                grouped = await grouped_storm(stack, sandbox, args.grouped)
                print(f"  grouped through the endpoint: {grouped['seconds']:.1f}s", flush=True)
                scripted = await scripted_storm(stack, sandbox, args.grouped)
                print(f"  one starter.py call per incident: {scripted['seconds']:.1f}s", flush=True)
                results["P5"] = {"grouped": grouped, "scripted": scripted}
        finally:
            stack.stop()
            _stop(sandbox_process)
    text, passed = table(args, results)
    print("\n" + text)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bench-table.txt").write_text(text + "\n")
    (ARTIFACTS / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
