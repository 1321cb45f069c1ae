"""What each admin owes, where they already are: a message each in the announcement's thread, with
a button per input (handover/slack_ui.py), kept current as inputs come in and items finish (who
did what and when), and closed when the handover ends."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.slack import AsksPost, SlackActivities
    from handover import slack_ui
    from handover.slack_ui import SlackAsk

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import BEAT_PATCH, HandoverState, reason

ASKS_PATCH = "slack-asks"
"""`workflow.patched` id: handovers started before the asks were posted in Slack replay without."""
SIDE_BY_SIDE_PATCH = "asks-side-by-side"
"""`workflow.patched` id: the admins' posted messages are updated side by side, not one after the
other (one workflow task fewer for each update); handovers started before replay one by one."""
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
        changed = {
            role: ask
            for role, ask in current().items()
            # (not unchanged; and not the end of a handover that never asked them anything)
            if ask is not None and shown.get(role) != ask and not (ending and role not in posted)
        }
        posts = {
            role: AsksPost(
                handover_id=progress.key,
                part=f"asks:{role}",
                text=ask.text,
                blocks=ask.blocks,
                thread_ts=progress.thread_ts,
                ts=posted.get(role),
            )
            for role, ask in changed.items()
        }
        # Messages already posted are updated side by side; new ones are posted one after the
        # other, so that the thread reads outgoing's, then incoming's.
        updating = workflow.patched(SIDE_BY_SIDE_PATCH)
        started = {
            role: _show(post, ending) for role, post in posts.items() if updating and post.ts is not None
        }
        for role, post in posts.items():
            try:
                posted[role] = await (started.get(role) or _show(post, ending))
            except ActivityError as error:
                handover.log(logging.WARNING, "could not show the %s admin's asks: %s", role, reason(error))
            shown[role] = changed[role]  # (shown or not: the next change is the next try)
        if ending:
            return
        # A burst of inputs is one update: wait a moment before looking again.
        if workflow.patched(BEAT_PATCH):
            await handover.until_beat(EVERY, lambda: handover.stop_reminders)
        else:
            try:
                await workflow.wait_condition(lambda: handover.stop_reminders, timeout=EVERY)
            except TimeoutError:
                pass
        await workflow.wait_condition(lambda: handover.stop_reminders or moved())


def _show(post: AsksPost, ending: bool) -> ActivityHandle[str]:
    options = LAST_SHOW if ending else SHOW
    return workflow.start_activity_method(SlackActivities.show_asks, post, **options)
