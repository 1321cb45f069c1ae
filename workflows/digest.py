"""Emergency: context for incoming instead of status paragraphs — a digest of PagerDuty incident
history, ticket comments and the last hour of the channel; incoming flags unclear threads, each
posted to the channel for a team-wide catch-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import PagerDutyActivities
    from activities.platform import PlatformActivities
    from activities.slack import SlackActivities
    from handover import inputs, messages
    from handover.models import ContextDigest, Done, InputAccepted, UnclearThread, UnclearThreadInput

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.batches import BATCH
from workflows.state import HandoverState, reason

CHANNEL_LOOKBACK = timedelta(hours=1)
"""Emergency digest: the last hour of #novavms-platform-ops."""


async def build_digest(handover: HandoverState) -> None:
    """PagerDuty history and notes, ticket comments, the last hour of the channel."""
    progress = handover.progress
    # What a person can read: the digest shows at most LIST_LIMIT of each (an alert storm
    # has thousands), so only those are read — high urgency first, newest first.
    incidents_read = [
        i.incident.id
        for i in sorted(
            messages.theirs(progress.incidents),
            key=lambda i: (i.incident.urgency != "high", -i.incident.created_at.timestamp()),
        )[: messages.LIST_LIMIT]
    ]
    tickets_read = [t.ticket.id for t in messages.theirs(progress.tickets)[: messages.LIST_LIMIT]]
    incidents, tickets, channel = await asyncio.gather(
        workflow.execute_activity_method(PagerDutyActivities.incident_history, incidents_read, **BATCH),
        workflow.execute_activity_method(PlatformActivities.ticket_comments, tickets_read, **BATCH),
        workflow.execute_activity_method(
            SlackActivities.recent_channel, workflow.now() - CHANNEL_LOOKBACK, **BATCH
        ),
        return_exceptions=True,  # a digest with a gap beats no handover
    )
    parts = (("PagerDuty history", incidents), ("ticket comments", tickets), ("the channel", channel))
    progress.digest = ContextDigest(
        built_at=workflow.now(),
        incidents=incidents if isinstance(incidents, list) else [],
        tickets=tickets if isinstance(tickets, list) else [],
        channel=channel if isinstance(channel, list) else [],
        gaps=[f"{name}: {reason(part)}" for name, part in parts if isinstance(part, BaseException)],
    )


async def flag_unclear_thread(handover: HandoverState, given: UnclearThreadInput) -> InputAccepted:
    """The one input that writes before it is recorded: the catch-up is posted first, recorded once
    posted (a failed post leaves nothing behind to block a retry)."""
    inputs.check_unclear_thread(handover.progress, given)
    flag = UnclearThread(
        thread_ts=given.thread_ts, question=given.question, flagged=Done(by=given.actor, at=workflow.now())
    )
    flag.posted_ts = await handover.post(
        f"catch-up:{given.thread_ts}", messages.catch_up(handover.progress, flag)
    )
    return inputs.UNCLEAR_THREAD.accepted(given, inputs.record_unclear_thread(handover.progress, flag))


async def flag_unclear_thread_update(handover: HandoverState, given: UnclearThreadInput) -> InputAccepted:
    try:
        return await flag_unclear_thread(handover, given)
    except ActivityError as error:
        raise ApplicationError(f"not posted ({reason(error)}); flag the thread again") from None


async def flag_unclear_thread_signal(handover: HandoverState, given: UnclearThreadInput) -> None:
    if handover.rejected(inputs.UNCLEAR_THREAD, given, hold=False):
        return
    try:
        await flag_unclear_thread(handover, given)
    except ActivityError as error:
        handover.reject(inputs.UNCLEAR_THREAD, given, f"not posted ({reason(error)}); flag the thread again")
