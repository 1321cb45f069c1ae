"""A kind of item added later (declared as docs/architecture.md says: a model and a row in
ITEM_KINDS with its patch) is counted, reminded, summed up and reported with no other edit; and a
handover that has none of it reads exactly as before. (tests/workflows cannot add one to a
running worker; docs/architecture.md says how a real one was tried.)"""

from __future__ import annotations

import pytest

from handover import decisions, messages, models, report
from handover.models import (
    ITEM_KINDS,
    Cancellation,
    Done,
    HandoverProgress,
    HandoverRequest,
    IncidentHandover,
    InputKind,
    ItemHandover,
    ItemKind,
    Model,
    Outcome,
    Owing,
    Phase,
)
from tests.handover.examples import ALICE, BOB, INCIDENT, NOW
from workflows import lookups

NOTE = InputKind.CANCEL
"""(A real kind has InputKind members of its own: here, one no kind's items owe stands in.)"""


class ChangeRequest(Model):
    id: str
    title: str
    left_alone: str | None = None


class ChangeRequestHandover(ItemHandover):
    kind = "change_request"
    change_request: ChangeRequest
    stage: str = "waiting for a note"
    noted: Done | None = None

    def owed(self, owing: Owing):
        if self.noted is None and owing.from_outgoing:
            yield NOTE, owing.outgoing, self.change_request.id, owing.listed

    @property
    def what(self) -> str:
        return self.change_request.title


CHANGE_REQUESTS = ItemKind(
    ChangeRequestHandover,
    "change_requests",
    title="Change requests",
    counted=lambda n: messages._plural(n, "open change request"),
    none="No open change requests.",
    columns=("Change request", "Outcome"),
    owes={NOTE: "change request note"},
    about=lambda item, item_id: f"for change request {item_id}",
    listing="list_change_requests",
    patch="change-requests",
)


class Progress(HandoverProgress):
    change_requests: list[ChangeRequestHandover] = []


@pytest.fixture
def four_kinds(monkeypatch):
    kinds = (*ITEM_KINDS, CHANGE_REQUESTS)
    for module in (models, decisions, messages, report):
        monkeypatch.setattr(module, "ITEM_KINDS", kinds)


def handover(**more) -> Progress:
    return Progress(
        handover_id="handover-alice@novalien.com",
        request=HandoverRequest(outgoing=ALICE.email, incoming=BOB.email, requested_by="t"),
        started_at=NOW,
        inventory_at=NOW,
        phase=Phase.HANDING_OVER,
        outgoing=ALICE,
        incoming=BOB,
        incidents=[IncidentHandover(incident=INCIDENT)],
        cancelled=Cancellation(by=ALICE.email, at=NOW, reason="wrong incoming"),
        **more,
    )


def texts(progress: Progress) -> list[str]:
    pending = decisions.pending_inputs(progress.model_copy(update={"cancelled": None}))
    return [
        messages.to_do(progress, pending),
        *messages.details(progress),
        messages.cancelled_text(progress),
        messages.current_details(progress, []),
        report.to_markdown(progress),
    ]


def test_a_handover_with_none_of_a_later_kind_reads_as_before(monkeypatch):
    before = texts(handover())
    kinds = (*ITEM_KINDS, CHANGE_REQUESTS)
    for module in (models, decisions, messages, report):
        monkeypatch.setattr(module, "ITEM_KINDS", kinds)
    assert texts(handover()) == before


def test_a_later_kind_is_counted_owed_summed_up_and_reported(four_kinds):
    progress = handover(
        change_requests=[
            ChangeRequestHandover(change_request=ChangeRequest(id="CR-1", title="Rotate the edge keys")),
            ChangeRequestHandover(
                change_request=ChangeRequest(id="CR-2", title="Drain hv-02"), outcome=Outcome.HANDED_OVER
            ),
        ]
    )
    to_do, *details, cancelled, current, markdown = texts(progress)
    assert to_do.startswith("Found 1 open incident, 0 pinned tickets, 0 rollouts in flight and 2 open change")
    owed = decisions.pending_inputs(progress.model_copy(update={"cancelled": None}))
    assert [(w.owner, w.item_id) for w in owed] == [(ALICE.email, INCIDENT.id), (ALICE.email, "CR-1")]
    assert details[-1].startswith("*Change requests* (2)\n• Rotate the edge keys")
    assert (
        "Handed over: 0 of 1 incidents, 0 of 0 tickets, 0 of 0 rollouts, 1 of 2 change requests." in cancelled
    )
    assert progress.change_requests[0].label == "change request CR-1"  # the base's: the kind gave none
    assert "2 change requests: 1 handed_over, 1 pending" in current
    table = "| Change request | Outcome |\n|---|---|\n| Rotate the edge keys | pending |"
    assert f"## Change requests (2)\n\n{table}" in markdown
    assert "<@UA>: 1 status paragraph, 1 change request note" in to_do
    reminder = messages.reminder(progress, ALICE.email, owed, escalate=False, now=NOW)
    assert "• change request note for change request CR-1" in reminder


def test_each_input_is_owed_by_one_kind_and_each_kind_is_listed_by_an_activity():
    owed = [input_kind for kind in ITEM_KINDS for input_kind in kind.owes]
    assert len(owed) == len(set(owed)), "an input an item owes belongs to one kind"
    for kind in ITEM_KINDS:
        assert lookups.listing(kind).__name__ == kind.listing
    with pytest.raises(LookupError, match="'list_change_requests', not an activity of"):
        lookups.listing(CHANGE_REQUESTS)
