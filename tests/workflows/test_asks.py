"""Each admin's asks in the thread (workflows/asks.py) over a whole handover on the time-skipping
server: posted once each, updated as inputs come in, closed when the handover ends, and quiet in
between: they never wake the handover while nothing changed (the 2-hour overlap is one timer)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType

from handover import service
from handover.models import HandoverRequest, Phase, Variant
from tests.humans import INCOMING, OUTGOING, play_incoming, play_outgoing
from tests.writes import message_part, successful

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
