"""Slack and PagerDuty events, as the endpoint relays them (signals), and the reaction watch."""

from __future__ import annotations

from slack_sdk import WebClient

from handover import service
from handover.models import HandoverRequest, InputKind, PagerDutyEvent, SlackActionEvent, SlackReactionEvent
from tests.humans import INCOMING, OUTGOING, inventory, play_outgoing, wait_for
from tests.writes import message_part


async def incoming_done_but_the_summary(client, workflow_id) -> None:
    """Incoming acknowledges and takes ownership of everything; the summary is left unacknowledged."""
    from handover.models import IncidentAckInput, RolloutOwnershipInput

    while True:
        current = await service.progress(client, workflow_id)
        if current.summary is not None:
            return
        for wait in current.pending:
            if wait.kind is InputKind.INCIDENT_ACK:
                await service.send(
                    client, workflow_id, wait.kind, IncidentAckInput(actor=INCOMING, incident_id=wait.item_id)
                )
            elif wait.kind is InputKind.ROLLOUT_OWNERSHIP:
                await service.send(
                    client,
                    workflow_id,
                    wait.kind,
                    RolloutOwnershipInput(actor=INCOMING, rollout_id=wait.item_id),
                )


async def at_the_summary(env, task_queue):
    handle = await service.start(
        env.client, task_queue, HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="t")
    )
    await play_outgoing(env.client, handle.id)
    await incoming_done_but_the_summary(env.client, handle.id)
    return handle, await wait_for(env.client, handle.id, lambda p: p.summary is not None)


async def test_incoming_thumbs_up_event_acknowledges_the_summary_and_others_do_not(
    time_skipping, fresh_sandbox
):
    env, task_queue = time_skipping
    handle, current = await at_the_summary(env, task_queue)
    ts = current.summary.ts
    await handle.signal(
        "slack_reaction", SlackReactionEvent(user_id="U0CAROL", channel="C0PLATOPS", ts=ts, reaction="+1")
    )
    await handle.signal(
        "slack_reaction",
        SlackReactionEvent(user_id="U0BOB", channel="C0PLATOPS", ts="1.000001", reaction="+1"),
    )
    await handle.signal(
        "slack_reaction", SlackReactionEvent(user_id="U0BOB", channel="C0PLATOPS", ts=ts, reaction="eyes")
    )
    refused = await wait_for(env.client, handle.id, lambda p: p.rejected)
    assert refused.summary.acknowledged is None
    assert [r.actor for r in refused.rejected] == ["slack:U0CAROL"], "unrelated events leave no trace"
    await handle.signal(
        "slack_reaction",
        SlackReactionEvent(user_id="U0BOB", channel="C0PLATOPS", ts=ts, reaction="+1::skin-tone-4"),
    )
    report = await handle.result()
    assert report.summary.acknowledged.by == INCOMING


async def test_the_acknowledge_button_acknowledges_the_summary(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle, current = await at_the_summary(env, task_queue)
    summary = next(w for w in fresh_sandbox.writes("slack") if message_part(w) == "summary")
    button = summary["body"]["blocks"][1]["elements"][0]
    assert button["value"] == handle.id
    old_button = SlackActionEvent(
        user_id="U0BOB", action_id=button["action_id"], channel="C0PLATOPS", message_ts="1600000000.000001"
    )
    await handle.signal("slack_action", old_button)  # last week's summary: changes nothing
    assert (await service.progress(env.client, handle.id)).summary.acknowledged is None
    this_button = old_button.model_copy(update={"message_ts": current.summary.ts})
    await handle.signal("slack_action", this_button)
    report = await handle.result()
    assert report.summary.acknowledged.by == INCOMING


async def test_the_reaction_watch_sees_the_thumbs_up_when_slack_cannot_reach_us(
    time_skipping_watching, fresh_sandbox
):
    env, task_queue = time_skipping_watching
    handle, current = await at_the_summary(env, task_queue)
    bob = WebClient(
        token="xoxp-sandbox-bob", base_url=fresh_sandbox.slack_url, ssl=fresh_sandbox.ssl_context()
    )
    bob.reactions_add(channel=current.summary.channel, timestamp=current.summary.ts, name="thumbsup")
    report = await handle.result()  # the next watch attempt reads the reaction
    assert report.summary.acknowledged.by == INCOMING


async def test_incoming_acknowledging_in_pagerduty_is_the_explicit_ack(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(
        env.client, task_queue, HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="t")
    )
    incident = (await inventory(env.client, handle.id)).incidents[0].incident.id
    await play_outgoing(env.client, handle.id)
    await wait_for(env.client, handle.id, lambda p: p.incidents[0].reassigned is not None)
    await handle.signal(
        "pagerduty_event",
        PagerDutyEvent(event_type="incident.acknowledged", incident_id=incident, agent_id="PCAROLN"),
    )
    await handle.signal(
        "pagerduty_event",
        PagerDutyEvent(event_type="incident.resolved", incident_id=incident, agent_id="PBOBOKA"),
    )
    await handle.signal(
        "pagerduty_event",
        PagerDutyEvent(event_type="incident.acknowledged", incident_id=incident, agent_id="PBOBOKA"),
    )
    acked = await wait_for(env.client, handle.id, lambda p: p.incidents[0].acknowledged is not None)
    assert acked.incidents[0].acknowledged.by == INCOMING and acked.rejected == []
    await handle.terminate("test done")
