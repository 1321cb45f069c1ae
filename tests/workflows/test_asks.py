"""Each admin's asks in the thread (workflows/asks.py) over a whole handover on the time-skipping
server: posted once each, updated as inputs come in, closed when the handover ends, and quiet in
between: they never wake the handover while nothing changed (the 2-hour overlap is one timer)."""

from __future__ import annotations

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from handover import service
from handover.models import HandoverRequest, Phase, Variant
from tests.humans import INCOMING, OUTGOING, play_incoming, play_outgoing
from tests.writes import message_part, successful
from workflows.asks import EVERY
from workflows.incidents import GATHER_ACKNOWLEDGEMENTS

ENDED = {
    "asks:outgoing": "<@U0ALICE>: the handover has ended (completed); nothing more is asked of you.",
    "asks:incoming": "<@U0BOB>: the handover has ended (completed); nothing more is asked of you.",
}


@pytest.mark.parametrize("variant", [Variant.PLANNED, Variant.EMERGENCY])
async def test_the_asks_are_posted_once_kept_current_and_closed_at_the_end(
    time_skipping, fresh_sandbox, variant
):
    """An emergency asks nothing of the outgoing admin: no message for them, and none awaited."""
    env, task_queue = time_skipping
    reason = "incapacitated: no answer" if variant is Variant.EMERGENCY else None
    request = HandoverRequest(
        outgoing=OUTGOING, incoming=INCOMING, requested_by="tests", variant=variant, reason=reason
    )
    handle = await service.start(env.client, task_queue, request)
    if variant is Variant.PLANNED:
        await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    assert report.phase is Phase.COMPLETED

    writes = fresh_sandbox.writes("slack")
    posts = [message_part(w) for w in successful(writes, "slack", "POST", "chat.postMessage")]
    roles = ["asks:outgoing", "asks:incoming"] if variant is Variant.PLANNED else ["asks:incoming"]
    assert [part for part in posts if part.startswith("asks:")] == roles
    updates = successful(writes, "slack", "POST", "chat.update")
    last = {message_part(w): w["body"]["text"] for w in updates}
    assert last == {role: ENDED[role] for role in roles}
    assert all("action_id" not in str(w["body"]["blocks"]) for w in updates[-len(roles) :]), "no button left"

    timers = [
        event.timer_started_event_attributes.start_to_fire_timeout.ToSeconds()
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    pauses = [seconds for seconds in timers if seconds == 2]
    assert len(pauses) <= len(updates) + 2, (
        f"the asks woke the handover {len(pauses)} times for {len(updates)} updates"
    )


async def planned_handover(env, task_queue) -> list[HistoryEvent]:
    """A planned handover played to its end: its history's events."""
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    handle = await service.start(env.client, task_queue, request)
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    await handle.result()
    return [event async for event in handle.fetch_history_events()]


async def test_both_admins_messages_are_posted_one_after_the_other_and_updated_side_by_side(
    time_skipping, fresh_sandbox
):
    """The thread reads outgoing's asks, then incoming's; an update of both is one workflow task
    that starts both, not one that starts outgoing's and another, after it, incoming's."""
    shows: dict[int, list[tuple[str, bool]]] = {}  # workflow task -> (part, an update?) it started
    for event in await planned_handover(*time_skipping):
        attributes = event.activity_task_scheduled_event_attributes
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
            attributes.activity_type.name == "show_asks"
        ):
            post = json.loads(attributes.input.payloads[0].data)
            shows.setdefault(attributes.workflow_task_completed_event_id, []).append(
                (post["part"], post["ts"] is not None)
            )
    posts = [part for started in shows.values() for part, update in started if not update]
    assert posts == ["asks:outgoing", "asks:incoming"]
    for started in shows.values():
        if not all(update for _, update in started):
            assert len(started) == 1, f"a post started beside another: {started}"
    both = [started for started in shows.values() if len(started) == 2]
    assert both, f"no update of both admins' messages in one workflow task: {list(shows.values())}"
    assert all({part for part, _ in started} == {"asks:outgoing", "asks:incoming"} for started in both)


async def test_the_asks_and_the_gathered_acknowledgements_wait_on_one_timer(time_skipping, fresh_sandbox):
    """The follow-ups that wait a moment share the handover's beat: never two of its timers at
    once, each of which would wake the handover in a workflow task of its own."""
    assert GATHER_ACKNOWLEDGEMENTS == EVERY, "a beat lasts as long as the pause of whoever starts it"
    pending: set[str] = set()
    started = 0
    for event in await planned_handover(*time_skipping):
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timer = event.timer_started_event_attributes
            if timer.start_to_fire_timeout.ToTimedelta() == EVERY:
                assert not pending, f"timer {timer.timer_id} started while {pending} was pending"
                pending.add(timer.timer_id)
                started += 1
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            pending.discard(event.timer_fired_event_attributes.timer_id)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            pending.discard(event.timer_canceled_event_attributes.timer_id)
    assert started, "no pause at all: nothing was shown"
