"""Relaying an event to its handover when Temporal's visibility is a moment behind: a :+1: given
the moment the summary is posted can come before the summary's search attribute is indexed. The
visibility store (outside the unit) is a stand-in whose index catches up after a few looks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.common import TypedSearchAttributes

from handover import service, visibility
from handover.models import SlackReactionEvent

REACTION = SlackReactionEvent(user_id="U0BOB", channel="C0PLATOPS", ts="1764342000.000100", reaction="+1")


@dataclass
class Execution:
    id: str = "handover-alice@novalien.com"
    run_id: str = "run-1"
    start_time: datetime = datetime(2026, 12, 2, tzinfo=UTC)
    typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty


@dataclass
class Visibility:
    """Lists nothing for the first `behind` looks, then the handover."""

    behind: int
    looks: int = 0
    signals: list[tuple[str, str]] = field(default_factory=list)

    def list_workflows(self, query: str, limit: int, rpc_timeout=None):
        self.looks += 1
        found = [Execution()] if self.looks > self.behind else []

        async def listing():
            for execution in found:
                yield execution

        return listing()

    def get_workflow_handle(self, workflow_id: str):
        client = self

        class Handle:
            async def signal(self, name: str, event, rpc_timeout=None) -> None:
                client.signals.append((workflow_id, name))

        return Handle()


WHERE = {visibility.SUMMARY_TS: REACTION.ts}


async def test_a_patient_relay_finds_the_handover_visibility_indexes_a_moment_late():
    store = Visibility(behind=2)
    assert await service.relay(store, "slack_reaction", REACTION, WHERE, patient=True) == 1
    assert store.signals == [("handover-alice@novalien.com", "slack_reaction")]


async def test_an_impatient_relay_looks_once_and_a_patient_one_gives_up_within_two_seconds():
    store = Visibility(behind=1)
    assert await service.relay(store, "slack_reaction", REACTION, WHERE) == 0
    assert store.looks == 1 and store.signals == []
    never = Visibility(behind=99)
    began = time.monotonic()
    assert await service.relay(never, "slack_reaction", REACTION, WHERE, patient=True) == 0
    assert never.looks == 1 + len(service.RELOOK) and time.monotonic() - began < 2
