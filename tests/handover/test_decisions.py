"""The runbook's pure decisions: ticket actions, the note and the summary sentence."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from handover import decisions, messages
from handover.models import (
    Done,
    HandoverProgress,
    HandoverRequest,
    ImpersonationSession,
    IncidentHandover,
    InputKind,
    Override,
    Phase,
    StatusParagraph,
    TicketAction,
    TicketState,
)
from tests.handover.examples import ALICE, BOB, INCIDENT, NOW, request, ticket


def session(ticket_id: str | None, session_id: str = "S-1") -> ImpersonationSession:
    return ImpersonationSession(
        id=session_id, admin=ALICE.email, ticket_id=ticket_id, state="open", started_at=NOW
    )


@pytest.mark.parametrize(
    ("state", "sessions", "action"),
    [
        (TicketState.WAITING_ON_CUSTOMER, [], TicketAction.LABEL_WAITING_ON_CUSTOMER),
        (TicketState.WAITING_ON_ENGINEERING, [], TicketAction.LINK_ENGINEERING_ISSUE),
        (TicketState.ACTIVE, [session("T-1")], TicketAction.END_IMPERSONATION_FIRST),
        (TicketState.ACTIVE, [session("T-other")], TicketAction.REASSIGN),
        (TicketState.ACTIVE, [], TicketAction.REASSIGN),
        (TicketState.OPEN, [session("T-1")], TicketAction.REASSIGN),
    ],
)
def test_ticket_action_follows_the_runbook(state, sessions, action):
    assert decisions.ticket_action(ticket(state), sessions) is action


def test_sessions_to_end_are_only_the_tickets_own():
    sessions = [session("T-1", "S-2"), session("T-2", "S-3"), session("T-1", "S-1")]
    assert decisions.sessions_to_end(ticket(TicketState.ACTIVE), sessions) == ["S-1", "S-2"]


def test_status_note_is_one_paragraph_with_the_three_parts():
    note = messages.status_note(
        StatusParagraph(hypothesis="DB pool exhausted", last_action="rolled back", next_action="watch p99"),
        ALICE,
        BOB,
        "handover-alice@novalien.com",
    )
    assert "\n" not in note
    assert "Current hypothesis: DB pool exhausted." in note
    assert "Last action taken: rolled back." in note
    assert "Next action: watch p99." in note
    assert note.startswith("On-call handover from Alice Moreau to Bob Okafor.")


def test_summary_is_the_runbook_sentence():
    text = messages.summary_text(ALICE, BOB, NOW, incidents=3, tickets=5, rollouts=1)
    assert text == (
        "On-call: <@UA> → <@UB> as of 2026-11-28 15:04 UTC. 3 incidents reassigned, "
        "5 tickets reassigned, 1 rollout in flight. Details in the thread."
    )


def test_summary_mentions_by_name_without_a_slack_account():
    text = messages.summary_text(ALICE.model_copy(update={"slack_id": None}), BOB, NOW, 0, 0, 0)
    assert text.startswith("On-call: @Alice Moreau → <@UB>")


def test_request_refuses_handing_over_to_oneself():
    with pytest.raises(ValidationError, match="same admin"):
        HandoverRequest(outgoing="Alice@Novalien.com", incoming="alice@novalien.com", requested_by="t")


def test_planned_overlap_minimum_is_enforced_outside_demo_mode():
    with pytest.raises(ValidationError, match="at least 2 hours") as refused:
        request(overlap=timedelta(minutes=30))
    assert 'pass --demo (HTTP: "demo": true)' in str(refused.value), "says how to get a shorter one"
    assert request(overlap=timedelta(minutes=1), demo=True).overlap == timedelta(minutes=1)


def test_emails_are_checked_and_normalised():
    assert request().outgoing == "alice@novalien.com"
    with pytest.raises(ValidationError, match="not an email"):
        HandoverRequest(outgoing="alice", incoming=BOB.email, requested_by="t")


def test_pending_inputs_name_who_owes_what():
    incident = INCIDENT
    progress = HandoverProgress(
        handover_id="h",
        request=request(),
        started_at=NOW,
        phase=Phase.HANDING_OVER,
        outgoing=ALICE,
        incoming=BOB,
        override=Override(id="O", user_id="PB", start=NOW, end=NOW + timedelta(hours=2)),
        incidents=[
            IncidentHandover(incident=incident),
            IncidentHandover(
                incident=incident.model_copy(update={"id": "Q2"}), status_given=Done(by=ALICE.email, at=NOW)
            ),
        ],
    )
    pending = decisions.pending_inputs(progress)
    assert [(p.kind, p.owner, p.item_id) for p in pending] == [
        (InputKind.STATUS, ALICE.email, "Q1"),
        (InputKind.INCIDENT_ACK, BOB.email, "Q2"),
    ]
    progress.phase = Phase.COMPLETED
    assert decisions.pending_inputs(progress) == []


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(hours=2), "2h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(span, text):
    assert messages.format_duration(span) == text


def test_a_compromised_outgoing_admin_cannot_cancel_the_handover():
    from handover import decisions
    from handover.models import HandoverRequest, Variant

    planned = HandoverRequest(outgoing="a@x.com", incoming="b@x.com", requested_by="Pipeline")
    assert decisions.cancel_allowed_from(planned) == ("a@x.com", "b@x.com", "pipeline")
    compromised = planned.model_copy(update={"variant": Variant.EMERGENCY, "reason": "compromised: phished"})
    assert "a@x.com" not in decisions.cancel_allowed_from(compromised)
    assert decisions.cancel_allowed_from(compromised) == ("b@x.com", "pipeline")
