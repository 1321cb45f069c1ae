"""Replay: every recorded history still replays on the current workflow code.

A handover waits on people for hours or days, so a worker deploy almost always meets handovers
that started on the old code. Temporal replays each one's history on the new code; if the new code
asks for different commands (activities, timers, their order) the handover is stuck with a
non-determinism error. These tests replay real runs of every variant (tests/replay/histories/,
made by scripts/record_histories.py) and fail the same way. A failure here means: put the change
behind `workflow.patched(...)` — never re-record to make it pass (docs/patching.md, "Changing
the workflow while handovers wait").
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from handover.runner import WorkflowRunner
from sandbox.state import DEMO_SCENARIO, read_scenario_file

# The changed copies below are workflows defined in this module, which the workflow sandbox
# imports again: pass the workflow's own modules through, as workflows/handover.py does, so that
# both sides see one `handover.models`.
with workflow.unsafe.imports_passed_through():
    from handover.models import HandoverReport, HandoverRequest
    from workflows import lookups, reminders
    from workflows.autopilot import AutopilotWorkflow
    from workflows.handover import HandoverWorkflow
    from workflows.plan import PlanWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
PLANNED = Path(__file__).parent / "histories" / "planned.json"

REQUIRED = {
    "planned",
    "planned-offboarding",
    "routine",
    "emergency-incapacitated",
    "emergency-compromised",
    "mid-shift",
    "cancelled",
    "planned-slack-reaction",
    "plan",
    "autopilot",
}
"""Every variant, cancel, the events, the plan and the autopilot: one history each at least."""


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    workflow_id = data["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId")
    assert workflow_id, f"{path.name}: no workflow id in its start event; record it again"
    return WorkflowHistory.from_json(workflow_id, data)


def replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows or (HandoverWorkflow, PlanWorkflow, AutopilotWorkflow)),
        data_converter=pydantic_data_converter,
        workflow_runner=WorkflowRunner(),  # (as the worker runs them)
    )


def test_every_variant_has_a_recorded_history():
    assert REQUIRED <= {path.stem for path in HISTORIES}, "run scripts/record_histories.py"


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays_on_the_current_workflow_code(path: Path):
    history = load(path)
    assert history.events[-1].event_type in (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,  # (the autopilot: a run per change)
    ), "recordings are whole runs"
    await replayer().replay_workflow(history)


# --- the replay can fail: a change without a patch is caught ----------------------------------


@workflow.defn(name="HandoverWorkflow")
class HandoverWithAPause(HandoverWorkflow):
    """The workflow as someone might change it: a durable timer before step 0, with no patch."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        await workflow.sleep(1)
        return await super().run(request)


@workflow.defn(name="HandoverWorkflow")
class HandoverWithAnExtraLookup(HandoverWorkflow):
    """The workflow as someone might change it: one more activity before the first, with no patch."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        await lookups.service_identity()
        return await super().run(request)


@workflow.defn(name="HandoverWorkflow")
class HandoverAsIs(HandoverWorkflow):
    """The control: a copy made the same way, unchanged."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        return await super().run(request)


async def test_an_unchanged_copy_replays():
    """So the failures below come from the changes, not from how the copies are made."""
    await replayer(HandoverAsIs, PlanWorkflow).replay_workflow(load(PLANNED))


@pytest.mark.parametrize("changed", [HandoverWithAPause, HandoverWithAnExtraLookup])
async def test_an_unpatched_change_fails_the_replay_with_a_non_determinism_error(changed: type):
    history = load(PLANNED)
    with pytest.raises(workflow.NondeterminismError, match="Nondeterminism error"):
        await replayer(changed, PlanWorkflow).replay_workflow(history)


# --- a patched change: the `waiting-on` search attribute --------------------------------------

WAITING_ON = Path(__file__).parent / "histories" / "planned-waiting-on.json"


@workflow.defn(name="HandoverWorkflow")
class HandoverWaitingOnUnpatched(HandoverWorkflow):
    """The `waiting-on` change as it would be without `workflow.patched`: publishing who owes
    an input from the start of every handover, whatever its history says."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        self._publishing = asyncio.create_task(reminders.keep_waiting_on_current(self._handover))
        return await super().run(request)


def upserted(history: WorkflowHistory) -> set[str]:
    """The search attributes a history's upserts name."""
    names: set[str] = set()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            names |= set(fields.indexed_fields)
    return names


async def test_the_waiting_on_patch_replays_handovers_from_before_it_and_after_it():
    before, after = load(PLANNED), load(WAITING_ON)
    assert "HandoverWaitingOn" not in upserted(before)
    assert "HandoverWaitingOn" in upserted(after)  # recorded on the patched code
    await replayer().replay_workflow(before)
    await replayer().replay_workflow(after)
    # Without the patch the same change strands every handover already waiting:
    with pytest.raises(workflow.NondeterminismError):
        await replayer(HandoverWaitingOnUnpatched, PlanWorkflow).replay_workflow(before)


# --- no secret in any history ------------------------------------------------------------------


def sandbox_tokens() -> set[str]:
    """The demo scenario's API tokens and Slack user tokens."""
    scenario = read_scenario_file(DEMO_SCENARIO)
    tokens = {value for value in scenario["tokens"].values() if isinstance(value, str)}
    tokens |= set(scenario["tokens"].get("pagerduty_user_tokens") or {})  # a user's own PagerDuty key
    tokens |= {user["user_token"] for user in scenario["slack"]["users"] if user.get("user_token")}
    return tokens


def readable(node: Any) -> Iterator[str]:
    """Every string in a history's JSON, and what each one decodes to as base64: payloads (inputs,
    results, details, headers, memo) are base64 in the JSON form."""
    if isinstance(node, dict):
        for value in node.values():
            yield from readable(value)
    elif isinstance(node, list):
        for value in node:
            yield from readable(value)
    elif isinstance(node, str):
        yield node
        try:
            yield base64.b64decode(node, validate=True).decode("utf-8", "replace")
        except ValueError:
            pass


def leaked(history_json: str, tokens: set[str]) -> set[str]:
    text = "\n".join(readable(json.loads(history_json)))
    return {token for token in tokens if token in text}


def test_the_token_list_is_the_sandboxs():
    tokens = sandbox_tokens()
    assert {"sandbox-pagerduty-token", "xoxb-sandbox-bot-token", "sandbox-platform-token"} <= tokens
    assert {"xoxp-sandbox-alice", "xoxp-sandbox-bob"} <= tokens


def test_the_token_check_sees_inside_payloads():
    payloads = pydantic_data_converter.payload_converter.to_payloads([{"note": "xoxb-sandbox-bot-token"}])
    event = HistoryEvent(event_id=1, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    event.workflow_execution_signaled_event_attributes.input.CopyFrom(Payloads(payloads=payloads))
    history_json = WorkflowHistory("w", History(events=[event]).events).to_json()
    assert "xoxb-sandbox-bot-token" not in history_json, "(base64 in the JSON: a plain search misses it)"
    assert leaked(history_json, sandbox_tokens()) == {"xoxb-sandbox-bot-token"}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
def test_history_holds_no_token(path: Path):
    assert leaked(path.read_text(), sandbox_tokens()) == set()
