"""What each admin owes, where they already are: a message each in the announcement's thread, with
a button per input (handover/slack_ui.py), kept current as inputs come in and items finish (who
did what and when), and closed when the handover ends."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.slack import AsksPost, SlackActivities
    from handover import slack_ui
    from handover.slack_ui import SlackAsk

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import HandoverState, reason

ASKS_PATCH = "slack-asks"
"""`workflow.patched` id: handovers started before the asks were posted in Slack replay without."""
ROLES = ("outgoing", "incoming")
EVERY = timedelta(seconds=2)
"""An admin's message is updated at most this often: a burst of inputs (an alert storm's clicks)
is one update, not one each."""
SHOW = dict(
    start_to_close_timeout=timedelta(seconds=30),
    # A message is a convenience: if Slack will not take it for a while, the next change tries again.
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=20), maximum_attempts=5),
)
LAST_SHOW = dict(
    start_to_close_timeout=timedelta(seconds=15),
    # The last update holds the report back: two tries, then the report goes out without it.
    retry_policy=RetryPolicy(maximum_attempts=2),
)


async def keep_asks_current(handover: HandoverState) -> None:
    """Posts each admin's asks once the inventory is taken, updates them as they change (at most
    every EVERY), and a last time when the handover ends."""
    progress = handover.progress
    await workflow.wait_condition(lambda: progress.inventory_at is not None or handover.stop_reminders)
    if progress.inventory_at is None or progress.thread_ts is None:
        return  # (ended before the inventory, or the announcement could not be posted)
    shown: dict[str, SlackAsk | None] = {}
    posted: dict[str, str] = {}
    seen = None

    def current() -> dict[str, SlackAsk | None]:
        asks = {role: slack_ui.asks(progress, role) for role in ROLES}
        # Posted, then nothing left to ask (items finished without them): say so, buttons gone.
        return {
            role: slack_ui.settled(progress, role) if ask is None and role in posted else ask
            for role, ask in asks.items()
        }

    def moved() -> bool:
        """Cheap (it is asked at every step of the handover): anything the asks show changed."""
        return slack_ui.fingerprint(progress) != seen

    while True:
        ending = handover.stop_reminders
        seen = slack_ui.fingerprint(progress)  # (before rendering: a change meanwhile is a change)
        for role, ask in current().items():
            if ask is None or shown.get(role) == ask or (ending and role not in posted):
                continue  # (unchanged; or the handover ended and never asked them anything)
            post = AsksPost(
                handover_id=progress.key,
                part=f"asks:{role}",
                text=ask.text,
                blocks=ask.blocks,
                thread_ts=progress.thread_ts,
                ts=posted.get(role),
            )
            try:
                options = LAST_SHOW if ending else SHOW
                posted[role] = await workflow.execute_activity_method(
                    SlackActivities.show_asks, post, **options
                )
            except ActivityError as error:
                handover.log(logging.WARNING, "could not show the %s admin's asks: %s", role, reason(error))
            shown[role] = ask  # (shown or not: the next change is the next try)
        if ending:
            return
        try:  # A burst of inputs is one update: wait a moment before looking again.
            await workflow.wait_condition(lambda: handover.stop_reminders, timeout=EVERY)
        except TimeoutError:
            pass
        await workflow.wait_condition(lambda: handover.stop_reminders or moved())
