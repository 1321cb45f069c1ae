"""Reminders on the time-skipping server: a pending acknowledgement is reminded in the thread,
then escalated to the channel, at the configured times, and nothing follows once it arrives.

"At the configured time" allows a minute: inputs falling due within a minute of each other are
chased in one message (decisions.BATCHING)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from handover import service
from handover.models import HandoverRequest, InputKind, ReminderPolicy
from tests.humans import INCOMING, OUTGOING, play_incoming, play_outgoing, wait_for
from tests.writes import message_part

POLICY = ReminderPolicy(
    remind_after=timedelta(minutes=30),
    escalate_after=timedelta(hours=2),
    repeat_every=timedelta(hours=4),
    max_escalations=3,
)


def chasers(sandbox) -> list[tuple[str, str, datetime, dict]]:
    """(level, owner, workflow time, write) for every reminder and escalation posted."""
    found = []
    for write in sandbox.writes("slack"):
        part = message_part(write) or ""
        level, _, rest = part.partition(":")
        if level in ("reminder", "escalation"):
            owner, _, at = rest.partition(":")
            found.append((level, owner, datetime.fromisoformat(at), write))
    return found


async def eventually(condition, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_pending_acknowledgement_is_reminded_then_escalated_then_left_alone(
    time_skipping, fresh_sandbox
):
    env, task_queue = time_skipping
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests", reminders=POLICY)
    handle = await service.start(env.client, task_queue, request)
    await play_outgoing(env.client, handle.id)
    waiting = await wait_for(
        env.client, handle.id, lambda p: any(w.kind is InputKind.INCIDENT_ACK for w in p.pending) and not any(
            w.owner == OUTGOING for w in p.pending
        )
    )  # fmt: skip
    since = min(w.since for w in waiting.pending if w.owner == INCOMING)

    await env.sleep(timedelta(minutes=29))
    await asyncio.sleep(1)
    assert chasers(fresh_sandbox) == [], "nothing before remind_after"

    await env.sleep(timedelta(minutes=2))
    await eventually(lambda: len(chasers(fresh_sandbox)) == 1)
    level, owner, at, write = chasers(fresh_sandbox)[0]
    assert (level, owner) == ("reminder", INCOMING)
    assert abs(at - (since + POLICY.remind_after)) < timedelta(minutes=1)
    assert write["body"]["thread_ts"] == waiting.thread_ts, "a reminder is a mention in the handover's thread"
    assert (
        write["body"]["text"].startswith("<@U0BOB>, a reminder")
        and "acknowledgement for incident" in write["body"]["text"]
    )

    await env.sleep(timedelta(minutes=90))
    await eventually(lambda: len(chasers(fresh_sandbox)) == 2)
    level, owner, at, write = chasers(fresh_sandbox)[1]
    assert (level, owner) == ("escalation", INCOMING)
    assert abs(at - (since + POLICY.escalate_after)) < timedelta(minutes=1)
    assert "thread_ts" not in write["body"], "an escalation goes to the channel"
    assert write["body"]["text"].startswith("<!here>") and "<@U0BOB>" in write["body"]["text"]

    answered_at = await env.get_current_time()
    await play_incoming(env.client, handle.id)
    report = await handle.result()  # the test server skips the rest of the overlap
    assert report.completed_at > answered_at
    after = [c for c in chasers(fresh_sandbox) if c[2] >= answered_at]
    assert after == [], "no reminder once the inputs arrived"
    assert len(chasers(fresh_sandbox)) == 2
