"""handover/runner.py: a run answers for its payloads' serialization contexts without entering its
sandbox, and the answers are the SDK's own."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

from handover import runner
from workflows.handover import HandoverWorkflow

HISTORY = Path(__file__).parents[1] / "replay" / "histories" / "emergency-incapacitated-slack-asks.json"


class Recorded(PayloadCodec, WithSerializationContext):
    """Passes payloads through; writes down the context of each sequence it is given."""

    def __init__(self, contexts: list, context: SerializationContext | None = None) -> None:
        self.contexts, self.context = contexts, context

    def with_context(self, context: SerializationContext) -> Recorded:
        return Recorded(self.contexts, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.contexts.append(("encode", self.context))
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.contexts.append(("decode", self.context))
        return list(payloads)


async def replayed(runs_with: SandboxedWorkflowRunner, monkeypatch: pytest.MonkeyPatch) -> tuple[list, int]:
    """The contexts a replay of HISTORY gives the codec, and how often it entered a sandbox to ask."""
    entered = []
    run_code = _Instance._run_code

    def counted(self, code: str, **extra):
        if "get_serialization_context" in code or "get_external_store_context" in code:
            entered.append(code)
        return run_code(self, code, **extra)

    monkeypatch.setattr(_Instance, "_run_code", counted)
    contexts: list = []
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=Recorded(contexts))
    history = WorkflowHistory.from_json("handover", HISTORY.read_text())
    replay = Replayer(workflows=[HandoverWorkflow], data_converter=converter, workflow_runner=runs_with)
    await replay.replay_workflow(history)
    return contexts, len(entered)


async def test_a_run_answers_for_its_payloads_contexts_as_the_sdk_does_without_entering_its_sandbox(
    monkeypatch: pytest.MonkeyPatch,
):
    theirs, their_entries = await replayed(SandboxedWorkflowRunner(), monkeypatch)
    ours, our_entries = await replayed(runner.WorkflowRunner(), monkeypatch)
    assert ours == theirs
    kinds = {type(context).__name__ for _, context in ours}
    assert {"WorkflowSerializationContext", "ActivitySerializationContext"} <= kinds
    assert their_entries > 100  # (the SDK's way: a trip into the sandbox per payload sequence)
    assert our_entries == 0


async def test_a_run_without_the_instance_where_it_is_looked_for_asks_the_sdks_way(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(runner, "_IN_SANDBOX", "__not_where_the_sdk_keeps_it")
    theirs, _ = await replayed(SandboxedWorkflowRunner(), monkeypatch)
    ours, our_entries = await replayed(runner.WorkflowRunner(), monkeypatch)
    assert ours == theirs
    assert our_entries > 100
