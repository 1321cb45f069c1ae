"""What each admin sees and presses in Slack (handover/slack_ui.py), as plain functions: the asks
list what each owes with a button each, who did what and when; the forms are pre-filled with the
drafts; a submission reads back into the same declared input the endpoint's routes take."""

from __future__ import annotations

import json

import pytest

from handover import inputs, slack_ui
from handover.errors import InvalidInput
from handover.models import Done, Phase, Rollout, RolloutHandover, StatusParagraph
from handover.slack_ui import FormErrors, Pressed
from tests.handover.examples import ALICE, NOW, request
from tests.handover.test_inputs import progress, storm

STATUS = StatusParagraph(hypothesis="NFS full", last_action="paused shipper", next_action="grow volume")


def buttons(blocks: list[dict]) -> list[tuple[str, str]]:
    """(action id, value) of every button, in order."""
    found = []
    for block in blocks:
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory")]
        found += [(e["action_id"], e["value"]) for e in elements if e and e.get("type") == "button"]
    return found


def texts(blocks: list[dict]) -> str:
    parts = [block.get("text", {}).get("text", "") for block in blocks]
    parts += [
        e.get("text", "") for block in blocks for e in block.get("elements", []) if "action_id" not in e
    ]
    return "\n".join(parts)


def test_the_outgoing_admin_gets_a_button_for_each_status_and_one_for_several():
    known = storm(("P1", "Disk full on db-1"), ("P2", "Disk full on db-2"), ("P3", "Latency"))
    ask = slack_ui.asks(known, "outgoing")
    assert ask.text == "<@UA>, the handover needs from you: 3 status paragraphs."
    pressed = buttons(ask.blocks)
    assert [action for action, _ in pressed] == ["handover.write_status"] * 3 + [
        "handover.write_group_status"
    ]
    assert json.loads(pressed[0][1]) == {"h": "h", "r": "", "i": "P1"}
    assert "One status for several (1 suggested" in json.dumps(ask.blocks)
    assert slack_ui.asks(known, "incoming").text == (
        "<@UB>: nothing is ready for you yet. 3 more once <@UA> has written them up."
    )


def test_the_asks_say_who_did_what_and_when_and_offer_what_is_ready():
    known = storm(("P1", "Disk full on db-1"), ("P2", "Disk full on db-2"), ("P3", "Latency"))
    for item in known.incidents[:2]:
        item.status, item.status_given = STATUS, Done(by=ALICE.email, at=NOW)
    outgoing = slack_ui.asks(known, "outgoing")
    assert "status for #4211 — <@UA> at 15:04 UTC" in texts(outgoing.blocks)
    assert [action for action, _ in buttons(outgoing.blocks)] == ["handover.write_status"]
    incoming = slack_ui.asks(known, "incoming")
    assert incoming.text.startswith("<@UB>, ready for you: 2 incidents to acknowledge. 1 more once <@UA>")
    assert [action for action, _ in buttons(incoming.blocks)] == ["handover.ack_all"] + [
        "handover.ack_incident"
    ] * 2
    assert "_Hypothesis:_ NFS full" in texts(incoming.blocks)
    known.phase = Phase.COMPLETED
    ended = slack_ui.asks(known, "incoming")
    assert ended.text == "<@UB>: the handover has ended (completed); nothing more is asked of you."
    assert buttons(ended.blocks) == []


def test_a_storm_lists_a_few_and_counts_the_rest():
    known = storm(*[(f"P{n}", f"Disk full on db-{n}") for n in range(300)])
    ask = slack_ui.asks(known, "outgoing")
    assert len(ask.blocks) <= 50, "Slack takes 50 blocks a message"
    assert len(buttons(ask.blocks)) == slack_ui.SHOWN + 1
    assert "…and 292 more: one status for several, or the console." in texts(ask.blocks)
    assert len(json.dumps(ask.blocks)) < 12_000


def test_titles_from_pagerduty_are_inert_in_slack():
    known = storm(("P1", "<!channel> db & <https://evil|click>"))
    line = slack_ui.asks(known, "outgoing").blocks[1]["text"]["text"]
    assert "&lt;!channel&gt; db &amp; &lt;https://evil|click&gt;" in line


def test_an_emergency_asks_nothing_of_the_outgoing_admin():
    known = progress().model_copy(
        update={"request": request(variant="emergency", reason="incapacitated: sick")}
    )
    assert slack_ui.asks(known, "outgoing") is None
    assert [a for a, _ in buttons(slack_ui.asks(known, "incoming").blocks)] == ["handover.ack_incident"]


def test_the_status_form_is_drafted_from_pagerdutys_latest_note():
    known = progress()
    known.incidents[0].draft = "Freed 40 GB by moving old WAL"
    form = slack_ui.form(Pressed("h", "", inputs.STATUS, "P1"), known)
    last = next(b for b in form["blocks"] if b.get("block_id") == "last_action")
    assert last["element"]["initial_value"] == "Freed 40 GB by moving old WAL"
    assert "draft" in last["hint"]["text"]
    assert json.loads(form["private_metadata"]) == {"h": "h", "r": "", "k": "submit_status", "i": "P1"}
    assert len(form["title"]["text"]) <= 24
    blank = slack_ui.form(Pressed("h", "", inputs.STATUS, "P1"), None)
    assert blank["blocks"][0]["elements"][0]["text"] == slack_ui.NO_WORKER


def test_the_annotation_form_has_the_consoles_figures_and_unknown():
    rollout = Rollout(
        id="RO-1", flag="new-scheduler", state="ramping", ramp_percent=25, error_rate=None, owner=ALICE.email
    )
    known = progress().model_copy(update={"rollouts": [RolloutHandover(rollout=rollout)]})
    form = slack_ui.form(Pressed("h", "", inputs.ROLLOUT_ANNOTATION, "RO-1"), known)
    initial = {
        b["block_id"]: b["element"].get("initial_value") for b in form["blocks"] if b["type"] == "input"
    }
    assert initial == {"ramp_percent": "25", "error_rate": "unknown", "next_step": None}
    state = {
        "ramp_percent": {"value": {"type": "plain_text_input", "value": "30%"}},
        "error_rate": {"value": {"type": "plain_text_input", "value": "unknown"}},
        "next_step": {"value": {"type": "plain_text_input", "value": "50% on Monday if quiet"}},
    }
    written = slack_ui.written(Pressed("h", "", inputs.ROLLOUT_ANNOTATION, "RO-1"), state, known)
    assert written == {"ramp_percent": 30.0, "error_rate": None, "next_step": "50% on Monday if quiet"}
    state["ramp_percent"]["value"]["value"] = "lots"
    with pytest.raises(FormErrors) as refused:
        slack_ui.written(Pressed("h", "", inputs.ROLLOUT_ANNOTATION, "RO-1"), state, known)
    assert list(refused.value.errors) == ["ramp_percent"]


def test_one_status_for_a_suggested_group_reads_the_group_as_it_is_now():
    known = storm(("P1", "Disk full on db-1"), ("P2", "Disk full on db-2"), ("P3", "Disk full on db-3"))
    form = slack_ui.form(Pressed("h", "", inputs.GROUP_STATUS, None), known)
    group = next(b for b in form["blocks"] if b.get("block_id") == "group")
    key = group["element"]["options"][0]["value"]
    known.incidents[2].status_given = Done(by=ALICE.email, at=NOW)  # given meanwhile, elsewhere
    state = {
        "group": {"value": {"type": "static_select", "selected_option": {"value": key}}},
        "incident_ids": {"value": {"type": "multi_static_select", "selected_options": []}},
        "hypothesis": {"value": {"type": "plain_text_input", "value": "the NFS mount is full"}},
        "last_action": {"value": {"type": "plain_text_input", "value": "paused the log shipper"}},
        "next_action": {"value": {"type": "plain_text_input", "value": "grow the volume"}},
    }
    written = slack_ui.written(Pressed("h", "", inputs.GROUP_STATUS, None), state, known)
    assert written["incident_ids"] == ["P1", "P2"]
    state["group"]["value"]["selected_option"] = None
    with pytest.raises(FormErrors) as refused:
        slack_ui.written(Pressed("h", "", inputs.GROUP_STATUS, None), state, known)
    assert refused.value.errors == {"incident_ids": "pick a group or some incidents"}
    state["hypothesis"]["value"]["value"] = "x"
    state["incident_ids"]["value"]["selected_options"] = [{"value": "P1"}]
    with pytest.raises(FormErrors) as short:
        slack_ui.written(Pressed("h", "", inputs.GROUP_STATUS, None), state, known)
    assert list(short.value.errors) == ["hypothesis"]


def test_a_button_or_form_not_ours_is_refused():
    with pytest.raises(InvalidInput):
        Pressed.of_button("handover.write_status", '{"h": "autopilot-x", "i": "P1"}')
    with pytest.raises(InvalidInput):
        Pressed.of_button("someone.else", '{"h": "handover-a@b.c"}')
    with pytest.raises(InvalidInput):
        Pressed.of_form('{"h": "handover-a@b.c", "k": "no_such_input"}')
    known = progress().model_copy(update={"handover_id": "handover-alice@novalien.com"})
    pressed = Pressed.of_button("handover.ack_incident", slack_ui.value(known, "P1"))
    assert (pressed.handover_id, pressed.declared, pressed.item_id) == (
        known.handover_id,
        inputs.INCIDENT_ACK,
        "P1",
    )


def test_the_fingerprint_moves_with_what_the_asks_show_and_only_then():
    known = storm(("P1", "Disk full on db-1"), ("P2", "Disk full on db-2"))
    before = slack_ui.fingerprint(known)
    known.incidents[0].stage = "posting the note"  # not shown by the asks
    assert slack_ui.fingerprint(known) == before
    known.incidents[0].status_given = Done(by=ALICE.email, at=NOW)
    assert slack_ui.fingerprint(known) != before


def test_asks_with_nothing_left_to_ask_say_so_without_buttons():
    settled = slack_ui.settled(progress(), "incoming")
    assert settled.text == "<@UB>: nothing more is needed from you here." and buttons(settled.blocks) == []
