"""The summary's thread in an alert storm, on the time-skipping test server with the sandbox: every
reply a person can read (a few thousand characters), parts that say so, each posted once."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from handover import messages, service
from handover.models import AllItemsInput, InputKind, SummaryAckInput
from sandbox.state import DEMO_SCENARIO
from sandbox.storm import storm
from tests.handovers import emergency
from tests.humans import INCOMING
from tests.writes import message_part, successful


async def test_a_300_incident_storm_s_summary_replies_are_each_readable(time_skipping, fresh_sandbox):
    fresh_sandbox.reset(storm(300, 0, 0))
    try:
        env, task_queue = time_skipping
        request = emergency("incapacitated", overlap=timedelta(hours=1))
        handle = await service.start(env.client, task_queue, request)
        await handle.signal(InputKind.ALL_INCIDENTS_ACK.value, AllItemsInput(actor=INCOMING))
        await handle.signal(InputKind.SUMMARY_ACK.value, SummaryAckInput(actor=INCOMING))
        report = await handle.result()
        posts = successful(fresh_sandbox.writes(), "slack", "POST", "chat.postMessage")
    finally:
        fresh_sandbox.reset(DEMO_SCENARIO)

    assert len(report.incidents) == 300 and report.summary is not None
    replies = [p for p in posts if (p["body"].get("thread_ts") == report.summary.ts)]
    details = [p for p in replies if (message_part(p) or "").startswith("detail-")]
    assert Counter(message_part(p) for p in details).most_common(1)[0][1] == 1, "each posted once"
    assert all(len(p["body"]["text"]) <= messages.REPLY_CHARACTERS for p in details), [
        len(p["body"]["text"]) for p in details
    ]
    headers = [p["body"]["text"].split("\n")[0] for p in details]
    incidents = [h for h in headers if h.startswith("*Incidents* (300")]
    assert len(incidents) > 1 and incidents == [
        f"*Incidents* (300, part {n} of {len(incidents)})" for n in range(1, len(incidents) + 1)
    ]
    assert any(re.match(r"\*Context digest for <@U0BOB>\* \(built .*, part 1 of \d+\)", h) for h in headers)
    assert details[-1]["body"]["text"].rstrip().endswith("asks the channel for a team-wide catch-up.")
