"""The reliability suite's stack (real processes) and its run book: start a handover, hurt the
service on cue, let the people finish, and record what happened for `make reliability`'s table.

When the session ends, every workflow history on the stack's Temporal and every log line of its
workers, endpoint and Temporal are searched for each of the session's secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from devstack.people import Given, RestartingDesk, play
from handover import service
from handover.models import HandoverProgress, HandoverReport, HandoverRequest, InputKind, Outcome, Phase
from tests.handovers import alice_to_bob
from tests.reliability.stack import Stack, record, running_stack, scenario_with
from tests.writes import duplicates

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "reliability"
FAULTS_25 = [
    {"kind": "error", "rate": 0.10},
    {"kind": "rate_limit", "rate": 0.06, "retry_after": 1},
    {"kind": "drop", "rate": 0.04},
    {"kind": "lost_response", "rate": 0.06},
    {"kind": "slow", "rate": 0.03, "delay": 3},
]
"""About a quarter of all requests to every API fail (26 % drawn in order), each way the sandbox
can fail them."""

OUTGOING, INCOMING = "alice@novalien.com", "bob@novalien.com"


def planned() -> HandoverRequest:
    """A planned handover with offboarding on the demo scenario; the overlap is cut to 3 s."""
    return alice_to_bob("reliability", offboarding=True, demo=True, overlap=timedelta(seconds=3))


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("reliability")) as stack:
        yield stack
        await _scan_for_secrets(stack)


async def _scan_for_secrets(stack: Stack) -> None:
    """Every history on this Temporal, and every log line, searched for every secret."""
    client = await stack.client()
    texts: dict[str, str] = {}
    executions = set(stack.started)
    async for execution in client.list_workflows(""):  # (and whatever else ran: plans, ...)
        executions.add((execution.id, execution.run_id))
    for workflow_id, run_id in sorted(executions):
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        texts[f"history {workflow_id}/{run_id}"] = history.to_json()
    for log in stack.log_files():
        texts[f"log {log.name}"] = log.read_text(errors="replace")
    texts["canary"] = f"a line that leaks {stack.secrets['SLACK_SIGNING_SECRET']}"  # the scan must see it
    found = [
        f"{name} in {where}"
        for name, value in stack.secret_values().items()
        for where, text in texts.items()
        if value in text
    ]
    assert found.pop(found.index("SLACK_SIGNING_SECRET in canary")) and texts.pop("canary")
    histories = sum(where.startswith("history") for where in texts)
    record(
        ARTIFACTS,
        f"secrets-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}",
        {
            "scenario": "secrets: every history and log line searched",
            "kind": "secrets",
            "histories": histories,
            "logs": len(texts) - histories,
            "lines": sum(text.count("\n") for text in texts.values()),
            "secrets": len(stack.secret_values()),
            "found": found,
        },
    )


@dataclass
class Run:
    """One handover through the reliability suite, and what became of it."""

    scenario: str
    name: str
    report: HandoverReport | None = None
    given: Given = field(default_factory=Given)
    problems: list[str] = field(default_factory=list)
    faults: dict = field(default_factory=dict)

    def check(self, writes: list[dict]) -> None:
        report = self.report
        if report is None or report.phase is not Phase.COMPLETED:
            self.problems.append(f"ended {report.phase.value if report else 'never'}")
            return
        items = report.incidents + report.tickets + report.rollouts
        left = [i for i in items if i.outcome is not Outcome.HANDED_OVER]
        if left:
            self.problems.append(f"{len(left)} items not handed over")
        self.duplicates = duplicates(writes)
        self.lost = lost(self.given, report)

    duplicates: dict = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)

    @property
    def acknowledgements(self) -> int:
        return sum(kind in ACKNOWLEDGEMENTS for kind, _ in self.given.inputs)

    def save(self) -> None:
        record(
            ARTIFACTS,
            self.name,
            {
                "scenario": self.scenario,
                "kind": "run",
                "completed": not self.problems,
                "problems": self.problems,
                "duplicates": sum(count - 1 for count in self.duplicates.values()),
                "duplicated": [str(key) for key in self.duplicates],
                "acknowledgements": self.acknowledgements,
                "inputs": len(self.given.inputs),
                "lost": self.lost,
                "faults": self.faults,
            },
        )

    def assert_clean(self) -> None:
        assert not self.problems, self.problems
        assert self.duplicates == {}, self.duplicates
        assert self.lost == [], self.lost


ACKNOWLEDGEMENTS = {InputKind.INCIDENT_ACK, InputKind.ROLLOUT_OWNERSHIP, InputKind.SUMMARY_ACK}


def lost(given: Given, report: HandoverReport) -> list[str]:
    """Inputs the people gave (and the service took) whose effect is not in the report."""
    lost = []
    incidents = {i.incident.id: i for i in report.incidents}
    rollouts = {r.rollout.id: r for r in report.rollouts}
    tickets = {t.ticket.id: t for t in report.tickets}
    for kind, item in sorted(given.inputs):
        if kind is InputKind.INCIDENT_ACK:
            ok = incidents[item].acknowledged is not None
        elif kind is InputKind.STATUS:
            ok = incidents[item].status_given is not None
        elif kind is InputKind.ROLLOUT_OWNERSHIP:
            ok = rollouts[item].owned is not None
        elif kind is InputKind.ROLLOUT_ANNOTATION:
            ok = rollouts[item].annotated is not None
        elif kind is InputKind.ENGINEERING_LINK:
            ok = tickets[item].engineering_issue_given is not None
        elif kind is InputKind.SUMMARY_ACK:
            ok = report.summary is not None and report.summary.acknowledged is not None
        else:
            ok = True
        if not ok:
            lost.append(f"{kind.value} {item}")
    return lost


def ended(current: HandoverProgress) -> bool:
    return isinstance(current, HandoverReport)


Hurt = Callable[[Stack, WorkflowHandle, "Run"], Awaitable[None]]


async def run_handover(
    stack: Stack,
    scenario: str,
    name: str,
    request: HandoverRequest,
    hurt: Hurt | None = None,
    faults: list[dict] | None = None,
    timeout: float = 300,
) -> Run:
    """Start `request` on a fresh sandbox, hurt the service with `hurt` while the people play
    their part, and check the end: completed, nothing doubled, nothing they gave lost."""
    stack.sandbox.reset(scenario_with(stack.secrets))
    with stack.sandbox.control() as control:
        plan = {"seed": zlib.crc32(name.encode()), "faults": faults or []}
        control.put("/faults", json=plan).raise_for_status()
    if not any(worker.poll() is None for worker in stack.workers):
        stack.start_worker()
    run = Run(scenario=scenario, name=name)
    client = await stack.client()
    handle = await service.start(client, stack.task_queue, request)
    stack.started.append((handle.id, handle.first_execution_run_id or handle.result_run_id or ""))
    # The people give whatever is pending, whoever owes it, until the handover ends; Temporal and
    # the worker may be restarted meanwhile (`hurt`).
    desk = RestartingDesk(stack.client, handle.id)
    people = asyncio.create_task(play(desk, until=ended, given=run.given, timeout=timeout, pause=0.3))
    try:
        if hurt is not None:
            await hurt(stack, handle, run)
        run.report = await people
    except AssertionError as error:
        run.problems.append(str(error))
    finally:
        people.cancel()
        with stack.sandbox.control() as control:
            run.faults = control.get("/faults").json()
            control.delete("/faults").raise_for_status()
        if not any(worker.poll() is None for worker in stack.workers):
            stack.start_worker()
    run.check(stack.sandbox.writes())
    run.save()
    return run


# --- cues: when to hurt ------------------------------------------------------------------------


async def activity_events(handle: WorkflowHandle) -> tuple[dict[int, str], set[int]]:
    """Scheduled activities (event id -> type) and the ids of those completed."""
    scheduled: dict[int, str] = {}
    completed: set[int] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed.add(event.activity_task_completed_event_attributes.scheduled_event_id)
    return scheduled, completed


async def until_completed(stack: Stack, handle: WorkflowHandle, activity: str, timeout: float = 120) -> None:
    """Until the first `activity` of the handover has completed: the step's boundary."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        scheduled, completed = await activity_events(handle)
        if any(scheduled[i] == activity for i in completed):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{activity} never completed")


async def until_fired(stack: Stack, timeout: float = 120) -> None:
    """Until the sandbox's first fault rule (a slow answer to the step's request) has fired: the
    request was handled and the worker is waiting for an answer it will not get."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with stack.sandbox.control() as control:
            if control.get("/faults").json()["fired_by_rule"][0]:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the step's request never came")


async def in_flight(handle: WorkflowHandle, activity: str) -> bool:
    scheduled, completed = await activity_events(handle)
    return any(kind == activity and i not in completed for i, kind in scheduled.items())


def slow_once(api: str, method: str, path: str, body_contains: str | None = None) -> dict:
    """The step's request is handled (the write happens) but answered 30 s late: past the worker's
    HTTP timeout, and past the worker's death."""
    rule = {"kind": "slow", "rate": 1, "times": 1, "delay": 30, "api": api, "method": method, "path": path}
    if body_contains:
        rule["body_contains"] = body_contains
    return rule


def artifacts_of(kind: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(ARTIFACTS.glob("*.json")) if kind in path.name]
