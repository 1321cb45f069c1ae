"""The crash suite: real processes, real signals.

For each step of the planned (with offboarding) and the emergency (compromised) handover, the
worker is killed with SIGKILL at the step's boundary (the moment its activity completed) and in the
middle of the step's activity (its write handled by the API, the answer not yet back); a new worker
is started and the handover must finish: completed, no write made twice, no input lost. Then the
Temporal dev server is stopped and started again (same database file) mid-handover; and all workers
are stopped while the incoming admin acknowledges through the endpoint, before a worker is started.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle

from handover import service
from handover.errors import NoWorker
from handover.models import HandoverRequest, InputKind
from tests.handovers import emergency
from tests.reliability.runs import (
    INCOMING,
    Run,
    in_flight,
    planned,
    run_handover,
    slow_once,
    until_completed,
    until_fired,
)
from tests.reliability.stack import Stack

pytestmark = pytest.mark.reliability


def compromised() -> HandoverRequest:
    return emergency("compromised: laptop stolen", "reliability", overlap=timedelta(seconds=3))


@dataclass(frozen=True)
class Step:
    name: str
    activity: str
    request: dict
    """The step's first request to an API (for the kill in the middle of it)."""


VALIDATE = Step("0 validate", "get_platform_admin", slow_once("platform", "GET", "/admins/*"))
FREEZE = Step("1 freeze", "freeze_assignments", slow_once("pagerduty", "POST", "/schedules/*/overrides"))
INCIDENTS = Step("2 incidents", "hand_over_incidents", slow_once("pagerduty", "POST", "/incidents/*/notes"))
TICKETS = Step("3 tickets", "hand_over_tickets", slow_once("platform", "PUT", "/tickets/*/assignee"))
SUMMARY = Step(
    "5 summary", "post_summary", slow_once("slack", "POST", "/chat.postMessage", '"part": "summary"')
)
"""The steps both variants take."""

PLANNED_STEPS = [
    VALIDATE,
    FREEZE,
    INCIDENTS,
    TICKETS,
    Step("4 rollouts", "annotate_rollouts", slow_once("platform", "POST", "/rollouts/*/annotations")),
    SUMMARY,
    Step("6 audit", "audit_impersonation", slow_once("platform", "GET", "/audit-log")),
]
EMERGENCY_STEPS = [
    VALIDATE,
    FREEZE,
    Step("3 end sessions", "end_sessions", slow_once("platform", "POST", "/impersonation-sessions/*/end")),
    Step("digest", "incident_history", slow_once("pagerduty", "GET", "/incidents/*/log_entries")),
    INCIDENTS,
    TICKETS,
    Step("4 rollouts", "transfer_rollout_ownership", slow_once("platform", "PUT", "/rollouts/*/owner")),
    SUMMARY,
]
VARIANTS = {
    "planned+offboarding": (planned, PLANNED_STEPS),
    "emergency compromised": (compromised, EMERGENCY_STEPS),
}
CASES = [
    pytest.param(variant, step, where, id=f"{variant}-{step.name}-{where}".replace(" ", "-"))
    for variant, (_, steps) in VARIANTS.items()
    for step in steps
    for where in ("boundary", "mid-activity")
]


async def test_kill_9_the_worker(stack: Stack, variant: str, step: Step, where: str):
    make_request, _ = VARIANTS[variant]

    async def hurt(stack: Stack, handle: WorkflowHandle, run: Run) -> None:
        if where == "boundary":
            await until_completed(stack, handle, step.activity)
        else:
            await until_fired(stack)
            if not await in_flight(handle, step.activity):
                run.problems.append(f"the kill came outside {step.activity}")
        assert stack.kill_workers() == 1
        await asyncio.sleep(1)
        stack.start_worker()

    run = await run_handover(
        stack,
        f"worker kill -9 at each step's {where} ({variant})",
        f"crash-{variant}-{step.name}-{where}".replace(" ", "-"),
        make_request(),
        hurt,
        faults=[step.request] if where == "mid-activity" else [],
    )
    run.assert_clean()


test_kill_9_the_worker = pytest.mark.parametrize(("variant", "step", "where"), CASES)(test_kill_9_the_worker)


@pytest.mark.parametrize("how", ["stopped", "killed"])
async def test_temporal_stops_mid_handover(stack: Stack, how: str):
    """Stopped (SIGTERM) or killed (-9), the dev server starts again from its database, which is in
    WAL mode with `synchronous=normal` (devstack.stack.dev_server_storage): nothing committed is lost."""
    with sqlite3.connect(stack.root / "temporal.db") as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    async def hurt(stack: Stack, handle: WorkflowHandle, run: Run) -> None:
        await until_completed(stack, handle, "hand_over_tickets")
        if how == "stopped":
            stack.stop_temporal()
        else:
            stack.kill_temporal()
        await asyncio.sleep(2)
        stack.start_temporal()
        await asyncio.sleep(5)
        if not any(worker.poll() is None for worker in stack.workers):
            run.problems.append(f"the worker did not survive Temporal {how}")
            stack.start_worker()

    run = await run_handover(
        stack,
        f"Temporal dev server {how} mid-handover and started again (same database)",
        f"crash-temporal-{how}",
        planned(),
        hurt,
    )
    run.assert_clean()


async def test_acknowledgements_through_the_endpoint_while_no_worker_runs(stack: Stack):
    held = {InputKind.INCIDENT_ACK, InputKind.ROLLOUT_OWNERSHIP}

    async def hurt(stack: Stack, handle: WorkflowHandle, run: Run) -> None:
        run.given.hold |= held
        client = await stack.client()
        while True:  # until every incident and rollout waits on incoming
            try:
                current = await service.progress(client, handle.id)
            except NoWorker:
                await asyncio.sleep(0.3)
                continue
            owed = [w for w in current.pending if w.kind in held]
            others = [w for w in current.pending if w.kind not in held]
            if (
                current.incidents
                and len(owed) == len(current.incidents) + len(current.rollouts)
                and not others
            ):
                break
            await asyncio.sleep(0.3)
        stack.stop_workers()
        async with stack.http(INCOMING) as endpoint:
            for wait in owed:
                path = (
                    f"/handovers/{handle.id}/incidents/{wait.item_id}/ack"
                    if wait.kind is InputKind.INCIDENT_ACK
                    else f"/handovers/{handle.id}/rollouts/{wait.item_id}/ownership"
                )
                answer = await endpoint.post(path)
                if answer.status_code != 202:
                    run.problems.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                run.given.inputs.add((wait.kind, wait.item_id or ""))
        stack.start_worker()
        run.given.hold -= held

    run = await run_handover(
        stack,
        "no worker: acknowledgements through the endpoint, then a worker",
        "crash-no-worker-acks",
        planned(),
        hurt,
    )
    run.assert_clean()
    assert run.acknowledgements >= 5
