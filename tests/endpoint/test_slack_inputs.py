"""Whole handovers given through Slack alone — no console, no CLI — on the dev server: the asks'
buttons and forms, pressed and submitted in the sandbox's Slack, which signs each interaction as
Slack does and posts it to the endpoint over HTTP. The wrong person, a refused submission, a
duplicate press, and presses while no worker runs."""

from __future__ import annotations

import uuid

import pytest

from endpoint.slack import QUEUED
from handover import service
from handover.models import HandoverRequest, Outcome, Phase
from handover.slack_ui import NO_WORKER
from tests.conftest import SLACK_SIGNING_SECRET, worker
from tests.endpoint.test_api import ID, start
from tests.humans import INCOMING, OUTGOING, wait_for
from tests.slack_people import InSlack, asks, block, initial, items, offers, text

WRITTEN = {
    "hypothesis": "the backup bucket key rotated and WAL archiving stalled",
    "last_action": "freed 40 GB by moving old WAL to scratch",
    "next_action": "restore the bucket key and watch archiving catch up",
}


@pytest.fixture
def slack(endpoint, fresh_sandbox):
    """The sandbox's Slack, its app's Request URL the endpoint's interactivity route."""
    fresh_sandbox.slack_app(f"{endpoint.url}/slack/interactivity", SLACK_SIGNING_SECRET)
    return fresh_sandbox


async def test_a_whole_handover_through_slack_alone(endpoint, slack):
    alice, bob, carol = InSlack(slack, "U0ALICE"), InSlack(slack, "U0BOB"), InSlack(slack, "U0CAROL")
    await start(endpoint)
    mine = await asks(slack, "outgoing", offers("handover.write_group_status"))
    assert text(mine).startswith("<@U0ALICE>, the handover needs from you: 3 status paragraphs")

    # Someone else's button opens no form: they are told why, and nothing reaches the handover.
    await carol.press(mine, "handover.write_group_status")
    told = await carol.reply()
    assert "carol@novalien.com cannot give this input: status paragraphs come from the outgoing admin" in told
    assert carol.views() == []

    # A status for one incident: its form drafts the last action from PagerDuty's latest note.
    drafted = await alice.form(mine, "handover.write_status", "Q1DISK7")
    assert initial(drafted, "last_action").startswith("WAL archiving stalled after the 02:00 base backup")
    sent = await alice.submit(drafted, **WRITTEN)
    assert sent["view"]["title"]["text"] == "Sent" and sent["errors"] == {}

    # One status for the others: refused first (a part in one word), shown under its field.
    several = await alice.form(mine, "handover.write_group_status")
    ids = [option["value"] for option in block(several, "incident_ids")["element"]["options"]]
    assert sorted(ids) == ["Q2API5X", "Q3CERT9"]
    refused = await alice.submit(several, incident_ids=ids, **{**WRITTEN, "hypothesis": "dunno"})
    assert list(refused["errors"]) == ["hypothesis"] and refused["view"]["id"] == several["id"]
    accepted = await alice.submit(several, incident_ids=ids, **WRITTEN)
    assert "status paragraph received for 2 incidents" in text(accepted["view"]["blocks"][0])

    # Engineering issues and annotations, the annotation pre-filled with the console's figures.
    mine = await asks(slack, "outgoing", offers("handover.link_issue"))
    for ticket in items(mine, "handover.link_issue"):
        linked = await alice.submit(await alice.form(mine, "handover.link_issue", ticket), issue="ENG-4242")
        assert linked["view"]["title"]["text"] == "Sent", linked
    for rollout in items(mine, "handover.annotate"):
        form = await alice.form(mine, "handover.annotate", rollout)
        ramp = slack.store.state.platform.rollouts[rollout].ramp_percent
        assert initial(form, "ramp_percent") == f"{ramp:g}"
        noted = await alice.submit(form, next_step="to 50% on Monday if errors stay under 0.5%")
        assert noted["view"]["title"]["text"] == "Sent", noted

    # Incoming: the wrong person, then all at once, then a duplicate press.
    theirs = await asks(slack, "incoming", offers("handover.ack_all"))
    await carol.press(theirs, "handover.ack_all")
    assert "carol@novalien.com cannot give this input" in await carol.reply()
    await bob.press(theirs, "handover.ack_all")
    assert await bob.reply() == ":white_check_mark: 3 incidents acknowledged; PagerDuty is updated."
    await bob.press(theirs, "handover.ack_all")
    assert (await bob.reply()).startswith(
        ":no_entry: Not taken: every incident of this handover is acknowledged"
    )
    theirs = await asks(slack, "incoming", offers("handover.own_all"))
    await bob.press(theirs, "handover.own_all")
    assert (await bob.reply()).startswith(":white_check_mark: ownership of 3 rollouts taken")
    theirs = await asks(slack, "incoming", offers("handover.ack_summary"))
    await bob.press(theirs, "handover.ack_summary")
    assert await bob.reply() == ":white_check_mark: summary acknowledged."

    done = await wait_for(endpoint.client, ID, lambda p: p.phase is Phase.OVERLAP, timeout=60)
    assert done.summary.acknowledged.by == INCOMING
    for item in done.all_items():
        assert item.outcome is not Outcome.PENDING, item
    assert {i.status_given.by for i in done.incidents} == {OUTGOING}
    assert {i.acknowledged.by for i in done.incidents} == {INCOMING}
    assert {r.owned.by for r in done.rollouts if r.owned} == {INCOMING}
    assert {i.acknowledged.via for i in done.incidents} == {"acknowledge all"}

    # The asks were updated to show who did what, and when.
    mine = await asks(slack, "outgoing", lambda m: "nothing more is needed" in text(m))
    assert "status for #4211 — <@U0ALICE> at" in text(mine)
    theirs = await asks(slack, "incoming", lambda m: "acknowledged — <@U0BOB>" in text(m))
    writes = slack.control().get("/writes", params={"system": "slack"}).json()["writes"]
    assert any("chat.update" in w["path"] for w in writes)


async def test_presses_while_no_worker_runs_are_kept_and_taken_when_one_is_back(
    endpoint, slack, settings, activity_executor
):
    alice, bob = InSlack(slack, "U0ALICE"), InSlack(slack, "U0BOB")
    queue = f"slack-{uuid.uuid4()}"
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    async with worker(endpoint.client, queue, settings, activity_executor):
        handle = await service.start(endpoint.client, queue, request)
        mine = await asks(slack, "outgoing", offers("handover.write_group_status"))
        several = await alice.form(mine, "handover.write_group_status")
        ids = [option["value"] for option in block(several, "incident_ids")["element"]["options"]]
        await alice.submit(several, incident_ids=ids, **WRITTEN)
        theirs = await asks(slack, "incoming", offers("handover.ack_all"))
    # No worker now: the press and the form are kept, and say so.
    await bob.press(theirs, "handover.ack_all")
    assert await bob.reply() == QUEUED
    blank = await alice.form(mine, "handover.annotate", "RO-311")
    assert NO_WORKER in text(blank["blocks"][0]) and initial(blank, "ramp_percent") is None
    kept = await alice.submit(
        blank, ramp_percent="25", error_rate="0.4", next_step="hold at 25% until Monday"
    )
    assert kept["view"]["title"]["text"] == "Kept for later", (kept.get("failure"), kept["errors"])
    async with worker(endpoint.client, queue, settings, activity_executor):
        back = await wait_for(
            endpoint.client,
            ID,
            lambda p: (
                all(i.acknowledged for i in p.incidents)
                and any(r.annotated for r in p.rollouts if r.rollout.id == "RO-311")
            ),
        )
    assert {i.acknowledged.by for i in back.incidents} == {INCOMING}
    await handle.terminate("test done")
