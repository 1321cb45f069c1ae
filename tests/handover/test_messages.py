"""What the handover says, per variant."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from handover import messages
from handover.models import (
    ITEM_KINDS,
    Cancellation,
    Done,
    EmergencyReason,
    HandoverProgress,
    HandoverRequest,
    IncidentHandover,
    Outcome,
    Override,
    StatusParagraph,
    TicketAction,
    TicketHandover,
    TicketState,
    Variant,
)
from handover.settings import Settings
from tests.handover.examples import ALICE, BOB, INCIDENT, NOW, ticket

INCIDENTS = ITEM_KINDS[0]


def progress(**request) -> HandoverProgress:
    return HandoverProgress(
        handover_id="handover-alice@novalien.com",
        request=HandoverRequest(outgoing=ALICE.email, incoming=BOB.email, requested_by="t", **request),
        started_at=NOW,
        outgoing=ALICE,
        incoming=BOB,
    )


def test_emergency_needs_incapacitated_or_compromised():
    with pytest.raises(ValidationError, match="incapacitated or compromised"):
        HandoverRequest(outgoing=ALICE.email, incoming=BOB.email, requested_by="t", variant=Variant.EMERGENCY)
    request = HandoverRequest(
        outgoing=ALICE.email,
        incoming=BOB.email,
        requested_by="t",
        variant="emergency",
        reason="Compromised: laptop",
    )
    assert request.emergency_reason is EmergencyReason.COMPROMISED


def test_mid_shift_names_a_senior_among_the_two_and_a_major_incident():
    base = dict(outgoing=ALICE.email, incoming=BOB.email, requested_by="t")
    with pytest.raises(ValidationError, match="names the senior admin"):
        HandoverRequest(**base, variant=Variant.MID_SHIFT, senior=ALICE.email)
    with pytest.raises(ValidationError, match="outgoing or the incoming"):
        HandoverRequest(**base, variant=Variant.MID_SHIFT, senior="carol@novalien.com", major_incident="Q1")
    with pytest.raises(ValidationError, match="mid-shift handover only"):
        HandoverRequest(**base, senior=ALICE.email)
    with pytest.raises(ValidationError, match="at least 2 hours"):
        HandoverRequest(
            **base,
            variant=Variant.MID_SHIFT,
            senior=ALICE.email,
            major_incident="Q1",
            overlap=timedelta(1 / 48),
        )


def test_announcements_say_what_kind_of_handover_it_is():
    assert messages.announcement(progress()).startswith("On-call handover started: <@UA> → <@UB>.")
    assert messages.announcement(progress(variant=Variant.ROUTINE)).startswith(
        "Routine weekly on-call rotation"
    )
    emergency = messages.announcement(progress(variant=Variant.EMERGENCY, reason="compromised"))
    assert "the outgoing admin is compromised" in emergency and "as the handover service" in emergency
    mid = progress(variant=Variant.MID_SHIFT, senior=BOB.email, major_incident="Q1")
    mid.major_incident, mid.lead, mid.shadow = INCIDENT, BOB.email, ALICE.email
    assert "<@UB> leads, <@UA> shadows" in messages.announcement(mid)


def test_emergency_note_says_there_is_no_status_paragraph():
    note = messages.emergency_note(EmergencyReason.INCAPACITATED, ALICE, BOB, "h")
    assert "No status paragraph" in note and "(incapacitated)" in note and "\n" not in note


def test_cancel_notice_lists_what_moved_and_what_was_left():
    p = progress()
    p.incidents = [
        IncidentHandover(incident=INCIDENT, outcome=Outcome.HANDED_OVER),
        IncidentHandover(
            incident=INCIDENT.model_copy(update={"id": "Q2", "number": 4212}), outcome=Outcome.NOT_HANDED_OVER
        ),
    ]
    p.override = Override(id="PO1", user_id="PB", start=NOW, end=NOW + timedelta(hours=2))
    p.cancelled = Cancellation(by=ALICE.email, at=NOW, reason="wrong incoming")
    text = messages.cancelled_text(p)
    assert "cancelled by alice@novalien.com: wrong incoming." in text
    assert "Handed over: 1 of 2 incidents, 0 of 0 tickets, 0 of 0 rollouts." in text
    assert "• incident #4212 Disk pressure" in text
    assert "override PO1" in text and "left in place" in text


def test_plan_waits_by_person_and_variant():
    planned = HandoverRequest(outgoing=ALICE.email, incoming=BOB.email, requested_by="t")
    assert messages.plan_waits(planned, {"incidents": 3, "tickets": 1, "rollouts": 2}) == [
        "alice@novalien.com: 3 status paragraphs, 1 engineering issue, 2 rollout annotations",
        "bob@novalien.com: 3 incident acknowledgements, 2 rollout ownerships, :+1: on the summary",
    ]
    emergency = planned.model_copy(update={"variant": Variant.EMERGENCY, "reason": "incapacitated"})
    assert [
        w.split(":")[0] for w in messages.plan_waits(emergency, {"incidents": 3, "tickets": 1, "rollouts": 2})
    ] == ["bob@novalien.com"]


def test_long_lists_are_cut_in_slack_not_in_the_report():
    items = [IncidentHandover(incident=INCIDENT.model_copy(update={"id": f"Q{n}"})) for n in range(100)]
    text = messages.detail(INCIDENTS, items)
    assert text.count("\n• ") == messages.LIST_LIMIT and "and 60 more" in text


def test_the_report_says_what_the_variant_did():
    from handover.models import HandoverReport, OnCallCheck
    from handover.report import to_markdown

    p = progress(variant=Variant.ROUTINE)
    p.on_call = OnCallCheck(schedule_id="PPRIMARY", on_call=False, start=NOW, end=NOW + timedelta(hours=2))
    p.cancelled = Cancellation(by=ALICE.email, at=NOW, reason="wrong incoming")
    report = HandoverReport(**p.model_dump(), completed_at=NOW)
    text = to_markdown(report)
    assert "bob@novalien.com was **not** on call on PPRIMARY" in text
    assert "**Cancelled** by alice@novalien.com" in text


# --- the summary's thread: readable replies, never one wall ---------------------------------------


def storm_items(count: int) -> list[IncidentHandover]:
    """The storm scenario's incidents, each handed over with a status paragraph and acknowledged."""
    from sandbox.storm import storm

    generated = [i for i in storm(count, 0, 0)["pagerduty"]["incidents"] if i["id"].startswith("QS")]
    return [
        IncidentHandover(
            incident=INCIDENT.model_copy(
                update={
                    "id": i["id"],
                    "number": i["number"],
                    "title": i["title"],
                    "html_url": f"https://novalien.pagerduty.com/incidents/{i['id']}",
                }
            ),
            status=StatusParagraph(
                hypothesis=f"{i['title']}: the storage backend is saturated after the 14:00 deploy",
                last_action="drained the node and moved its VMs to vms-node-401",
                next_action="watch the disk latency for 30 minutes, then re-enable scheduling",
            ),
            acknowledged=Done(by=BOB.email, at=NOW),
            outcome=Outcome.HANDED_OVER,
        )
        for i in generated
    ]


def blocks(detail: str) -> list[str]:
    """The items of a detail as its author wrote them: a bullet line and its indented lines."""
    items: list[str] = []
    for line in detail.split("\n")[1:]:
        if items and line.startswith(" "):
            items[-1] += "\n" + line
        else:
            items.append(line)
    return items


def test_a_300_incident_storm_is_posted_in_readable_replies():
    detail = messages.detail(INCIDENTS, storm_items(300))
    assert len(detail) > 4 * messages.REPLY_CHARACTERS, "one wall of a message, as it was"
    replies = messages.in_replies(detail)
    assert len(replies) > 1 and all(len(reply) <= messages.REPLY_CHARACTERS for reply in replies)
    assert [reply.split("\n")[0] for reply in replies] == [
        f"*Incidents* (300, part {n} of {len(replies)})" for n in range(1, len(replies) + 1)
    ]
    listed = blocks(detail)
    assert len(listed) == messages.LIST_LIMIT + 1, "the first 40, and a line for the other 260"
    for item in listed:
        assert sum(item in reply for reply in replies) == 1, f"whole, and once: {item[:60]}"
    assert replies[-1].endswith("… and 260 more: see the handover report.")
    assert "\n".join("\n".join(reply.split("\n")[1:]) for reply in replies) == "\n".join(listed), (
        "nothing lost, nothing repeated, in order"
    )


def test_a_short_detail_is_one_reply_as_it_was():
    detail = messages.detail(INCIDENTS, storm_items(3))
    assert messages.in_replies(detail) == [detail] and detail.startswith("*Incidents* (3)\n")


def test_only_an_item_longer_than_a_reply_is_cut_and_between_its_lines():
    thread = "• 1764342000.000100 <@U0ALICE>: a busy thread\n" + "\n".join(
        f"   ↳ 14:{n:02d} UTC <@U0CAROL>: {'reply text ' * 15}" for n in range(60)
    )
    detail = "\n".join(
        [
            "*Context digest for <@U0BOB>* (built 2026-11-28 15:04 UTC)",
            "*Tickets: comments*",
            "• SUP-1 a ticket",
            "   (no comments)",
            thread,
            "Unclear? flag it.",
        ]
    )
    replies = messages.in_replies(detail, limit=1_000)
    assert all(len(reply) <= 1_000 for reply in replies)
    assert replies[0].startswith(
        f"*Context digest for <@U0BOB>* (built 2026-11-28 15:04 UTC, part 1 of {len(replies)})"
    )
    assert "*Tickets: comments*\n• SUP-1 a ticket\n   (no comments)" in replies[0], (
        "a heading stays with its item"
    )
    lines = [line for reply in replies for line in reply.split("\n")[1:]]
    assert lines == detail.split("\n")[1:], "cut between lines only"


def test_a_teams_own_scenario_gets_tokens_and_suggestions_for_its_own_admins(tmp_path):
    from pathlib import Path

    from devstack import stack as devstack

    scenario = tmp_path / "team.yaml"
    scenario.write_text(
        "platform:\n  admins:\n"
        "    - {email: Zoe@Kestrel.io, name: Zoë}\n"
        "    - {email: lukasz@kestrel.io, name: Łukasz}\n"
        "    - {email: gone@kestrel.io, name: Gone, active: false}\n"
        "    - {email: viewer@kestrel.io, name: Viewer, platform_admin: false}\n"
    )
    people = devstack.scenario_people(scenario)
    assert people == ["zoe@kestrel.io", "lukasz@kestrel.io"]
    assert devstack.scenario_people(devstack.DEFAULT_SCENARIO) == devstack.DEMO_ADMINS
    suggested = "\n".join(devstack.try_next(Settings(), True, people))
    assert "starter.py doctor zoe@kestrel.io lukasz@kestrel.io" in suggested
    assert "alice" not in suggested and "make demo" not in suggested
    own = Settings(PAGERDUTY_SCHEDULE_ID="PKSTPRI", SLACK_CHANNEL_ID="C0KSTOPS")
    assert "    export PAGERDUTY_SCHEDULE_ID=PKSTPRI SLACK_CHANNEL_ID=C0KSTOPS" in devstack.try_next(
        own, True, people
    )
    assert "starter.py doctor OUTGOING_EMAIL" in "\n".join(devstack.try_next(Settings(), False))
    assert Path(devstack.DEFAULT_SCENARIO).exists()


def test_a_left_alone_ticket_has_no_action_and_outcomes_carry_their_reason():
    from handover.messages import outcome_of

    closed = ticket(
        TicketState.SOLVED, "KT-4", assignee="zoe@kestrel.io", left_alone="solved: nothing to hand over"
    )
    item = TicketHandover(
        ticket=closed,
        action=TicketAction.REASSIGN,
        outcome=Outcome.SKIPPED,
        detail="solved: nothing to hand over; left alone",
    )
    assert item.action_taken == "left alone"
    assert outcome_of(item) == "skipped: solved: nothing to hand over; left alone"
    assert (
        outcome_of(item.model_copy(update={"outcome": Outcome.HANDED_OVER, "detail": None})) == "handed_over"
    )
