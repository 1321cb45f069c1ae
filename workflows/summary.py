"""Step 5: post the handover summary — the runbook's sentence in the channel, the details in its
thread; the incoming admin acknowledges it (:+1: in Slack, the button, the console or the CLI).

Also the events the endpoint relays (Slack reactions and buttons, PagerDuty acknowledgements):
each comes as a Signal to every running handover; one not about this handover is ignored here
without a trace."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.slack import ReactionWatch, SlackActivities, SummaryPost
    from handover import decisions, inputs, messages
    from handover.models import (
        Done,
        IncidentAckInput,
        InputKind,
        Outcome,
        PagerDutyEvent,
        Phase,
        SlackActionEvent,
        SlackReactionEvent,
        Summary,
        SummaryAckInput,
    )

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.batches import BATCH
from workflows.state import HandoverState

REACTION_POLL = timedelta(minutes=1)
"""The pause between two watches of the summary's reactions."""


async def post_summary(handover: HandoverState) -> None:
    """The runbook's sentence in the channel, details in its thread; incoming :+1:s it."""
    progress = handover.progress
    now = workflow.now()
    moved = {kind: sum(i.outcome is Outcome.HANDED_OVER for i in items) for kind, items in progress.items()}
    text = messages.summary_text(
        handover.outgoing,
        handover.incoming,
        now,
        incidents=moved["incident"],
        tickets=moved["ticket"],
        rollouts=moved["rollout"],
    )
    details = messages.details(progress)
    if progress.on_call is not None and not progress.on_call.on_call:
        details.append(messages.on_call_warning(progress))
    if progress.digest is not None:
        details.append(messages.digest_text(progress, progress.digest))
    post = SummaryPost(
        handover_id=progress.key,
        since=progress.started_at,
        text=text,
        blocks=messages.summary_blocks(text, progress.handover_id),
        # Readable replies, not one wall each. (The same one activity: replays are unchanged.)
        details=[reply for detail in details for reply in messages.in_replies(detail)],
    )
    posted = await workflow.execute_activity_method(SlackActivities.post_summary, post, **BATCH)
    summary = progress.summary = Summary(channel=posted.channel, ts=posted.ts, text=text, posted_at=now)
    handover.set_phase(Phase.SUMMARY)
    # The :+1: comes as a Slack event, a button press, the console or the CLI; where Slack
    # cannot reach the endpoint, the summary's reactions are also watched.
    if handover.incoming.slack_id:
        watch = ReactionWatch(channel=summary.channel, ts=summary.ts, user_id=handover.incoming.slack_id)
        reaction = await handover.watch_until(
            SlackActivities.wait_for_thumbs_up,
            watch,
            REACTION_POLL,
            done=lambda: summary.acknowledged is not None,
        )
        if reaction is not None and summary.acknowledged is None:
            summary.acknowledged = Done(by=handover.incoming.email, at=workflow.now())
            handover.log(logging.INFO, "summary acknowledged with :%s: in Slack", reaction)
    await handover.wait(lambda: summary.acknowledged is not None)


# --- events relayed by the endpoint --------------------------------------------------------------


def on_slack_reaction(handover: HandoverState, event: SlackReactionEvent) -> None:
    if _is_the_summary(handover, event.channel, event.ts) and decisions.is_thumbs_up(event.reaction):
        _acknowledged_in_slack(handover, event.user_id, f":{event.reaction}:")


def on_slack_action(handover: HandoverState, event: SlackActionEvent) -> None:
    if event.action_id == decisions.ACKNOWLEDGE_SUMMARY_ACTION and _is_the_summary(
        handover, event.channel, event.message_ts
    ):
        _acknowledged_in_slack(handover, event.user_id, "the Acknowledge button")


def _is_the_summary(handover: HandoverState, channel: str, ts: str) -> bool:
    """This handover's summary, not last week's (the workflow id is reused per admin)."""
    summary = handover.progress.summary
    return summary is not None and ts == summary.ts and channel in (summary.channel, "")


def _acknowledged_in_slack(handover: HandoverState, slack_user: str, how: str) -> None:
    summary, incoming = handover.progress.summary, handover.progress.incoming
    if summary is None or incoming is None or summary.acknowledged is not None:
        return
    if slack_user != incoming.slack_id:
        why = f"only the incoming admin ({incoming.email}) acknowledges the summary, with {how}"
        handover.record_rejection(InputKind.SUMMARY_ACK, f"slack:{slack_user}", None, why)
        return
    handover.take_signal(inputs.SUMMARY_ACK, SummaryAckInput(actor=incoming.email))


def on_pagerduty_event(handover: HandoverState, event: PagerDutyEvent) -> None:
    """Incoming acknowledging a handed-over incident in PagerDuty is their explicit ack."""
    incoming = handover.progress.incoming
    if event.event_type != "incident.acknowledged" or incoming is None:
        return
    item = next((i for i in handover.progress.incidents if i.incident.id == event.incident_id), None)
    if item is None or item.reassigned is None or item.acknowledged is not None:
        return  # not ours, not handed over yet, or our own mirror of an ack we had
    if event.agent_id != incoming.pagerduty_id:
        return  # someone else acknowledged it: not incoming's acknowledgement of the handover
    handover.take_signal(
        inputs.INCIDENT_ACK, IncidentAckInput(actor=incoming.email, incident_id=event.incident_id)
    )
