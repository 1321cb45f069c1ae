"""Humans are slow; the service is not: whoever owes an input is reminded in the thread, then the
channel hears of it; and who owes what is published for `starter.py list --waiting-on` and the UI."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handover import decisions, messages, visibility
    from handover.models import ReminderMark

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import HandoverState, reason

WAITING_ON_PATCH = "waiting-on"
"""`workflow.patched` id: handovers started before `HandoverWaitingOn` existed replay without it
(and never set it: `starter.py list --waiting-on` finds only handovers started since)."""
LOOK_AHEAD_PATCH = "reminder-look-ahead"
"""`workflow.patched` id: reminders look ahead a quarter of the shortest interval at most (was a
minute, which chased every input at once with `--remind-after 1m`)."""


async def keep_waiting_on_current(handover: HandoverState) -> None:
    """Keeps `HandoverWaitingOn` (and the UI's current details) up to date as inputs come in
    and items finish; one upsert per change of who owes, not per input."""
    progress = handover.progress
    published: list[str] = []

    def changed() -> bool:
        return decisions.waiting_on(progress) != published

    while True:
        await workflow.wait_condition(lambda: progress.phase.ended or changed())
        owing = decisions.waiting_on(progress)
        if owing != published:
            published = owing
            key = visibility.WAITING_ON
            workflow.upsert_search_attributes([key.value_set(owing) if owing else key.value_unset()])
            workflow.set_current_details(messages.current_details(progress, owing))
        if progress.phase.ended:
            return


async def remind_and_escalate(handover: HandoverState) -> None:
    """A thread mention after `remind_after`, the channel after `escalate_after`, and again."""
    progress = handover.progress
    while not handover.stop_reminders:
        now = workflow.now()
        # (Handovers started before the look-ahead shrank with short intervals replay with a minute.)
        ahead = None if workflow.patched(LOOK_AHEAD_PATCH) else decisions.BATCHING
        remind, escalate = decisions.due_reminders(progress, now, ahead)
        for escalated, waits in ((False, remind), (True, escalate)):
            for owner in sorted({wait.owner for wait in waits}):
                mine = [wait for wait in waits if wait.owner == owner]
                level = "escalation" if escalated else "reminder"
                text = messages.reminder(progress, owner, mine, escalated, now)
                try:
                    await handover.post(f"{level}:{owner}:{now.isoformat()}", text, thread=not escalated)
                except ActivityError as error:
                    handover.log(logging.WARNING, "could not post a %s: %s", level, reason(error))
                for wait in mine:
                    mark = progress.reminders.setdefault(decisions.reminder_key(wait), ReminderMark())
                    if escalated:
                        mark.escalated_at = now
                        mark.escalations += 1
                    else:
                        mark.reminded_at = now
        due = decisions.next_reminder_at(progress)
        if due is None:
            await workflow.wait_condition(
                lambda: handover.stop_reminders or decisions.next_reminder_at(progress) is not None
            )
            continue
        try:
            await workflow.wait_condition(
                lambda due=due: (
                    handover.stop_reminders or _earlier(decisions.next_reminder_at(progress), due)
                ),
                timeout=max(due - workflow.now(), timedelta(seconds=1)),
            )
        except TimeoutError:
            pass


def _earlier(candidate: datetime | None, planned: datetime) -> bool:
    return candidate is not None and candidate < planned
