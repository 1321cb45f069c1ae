"""The planned handover end to end: Temporal dev server, worker, sandbox over HTTPS.

Asserts on the sandbox's write log, i.e. on what PagerDuty, Slack and the platform API were
actually asked to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handover import service
from handover.models import HandoverRequest, Outcome, Phase
from tests.humans import INCOMING, OUTGOING, play_incoming, play_outgoing, wait_for
from tests.writes import message_part, reassignments, successful


def ok(writes: list[dict], api: str, method: str, path_part: str) -> list[dict]:
    return successful(writes, api, method, path_part)


async def test_planned_handover_writes_exactly_what_the_runbook_says(dev_server, fresh_sandbox, settings):
    client, task_queue = dev_server
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="e2e")
    handle = await service.start(client, task_queue, request)
    await play_outgoing(client, handle.id)
    await play_incoming(client, handle.id)
    done = await wait_for(client, handle.id, lambda p: p.phase is Phase.OVERLAP, timeout=60)
    writes = fresh_sandbox.writes()
    bob_pd = done.incoming.pagerduty_id

    # Step 1: exactly one override, incoming, for at least two hours.
    overrides = ok(writes, "pagerduty", "POST", "/overrides")
    assert len(overrides) == 1
    override = overrides[0]["body"]["overrides"][0]
    assert override["user"]["id"] == bob_pd
    assert datetime.fromisoformat(override["end"]) - datetime.fromisoformat(override["start"]) >= timedelta(
        hours=2
    )
    assert not ok(writes, "pagerduty", "DELETE", "/overrides"), "the outgoing admin is never removed"

    # Step 2: per incident one note with the three parts, posted before the reassignment, From outgoing.
    assert len(done.incidents) == 3
    for item in done.incidents:
        incident_id = item.incident.id
        notes = ok(writes, "pagerduty", "POST", f"/incidents/{incident_id}/notes")
        assert len(notes) == 1, incident_id
        content = notes[0]["body"]["note"]["content"]
        for part in ("Current hypothesis:", "Last action taken:", "Next action:"):
            assert part in content
        assert notes[0]["actor"] == OUTGOING
        reassigns = reassignments(writes, incident_id)
        assert len(reassigns) == 1, incident_id
        assert reassigns[0]["actor"] == OUTGOING
        assert notes[0]["seq"] < reassigns[0]["seq"], "the status note goes before the reassignment"
        live = fresh_sandbox.incident(incident_id)
        assert [a["assignee"]["id"] for a in live["assignments"]] == [bob_pd]
        assert live["status"] == "acknowledged"
        assert item.outcome is Outcome.HANDED_OVER and item.acknowledged.by == INCOMING

    # Step 3: tickets by state; the impersonation session ends before the reassignment.
    tickets = {t.ticket.id: t for t in done.tickets}
    assert len(tickets) == 5
    for ticket_id, item in tickets.items():
        reassigned = ok(writes, "platform", "PUT", f"/tickets/{ticket_id}/assignee")
        assert len(reassigned) == 1 and reassigned[0]["body"] == {"assignee": INCOMING}
        labels = ok(writes, "platform", "PUT", f"/tickets/{ticket_id}/labels/")
        links = ok(writes, "platform", "PUT", f"/tickets/{ticket_id}/engineering-issue")
        state_name = item.ticket.state.value
        if state_name == "waiting_on_customer":
            assert [w["path"].rsplit("/", 1)[1] for w in labels] == ["waiting_on_customer"]
        else:
            assert not labels
        if state_name == "waiting_on_engineering" and item.ticket.engineering_issue is None:
            assert [w["body"]["issue"] for w in links] == ["ENG-4242"]
        else:
            assert not links
        for session_id in item.sessions_to_end:
            ended = ok(writes, "platform", "POST", f"/impersonation-sessions/{session_id}/end")
            assert len(ended) == 1
            assert ended[0]["seq"] < reassigned[0]["seq"], "end the impersonation first (US-PLAT-10)"
    ended_all = ok(writes, "platform", "POST", "/impersonation-sessions/")
    assert len(ended_all) == sum(len(t.sessions_to_end) for t in tickets.values()) == 1, (
        "only the ticket's session"
    )

    # Step 4: every rollout annotated by outgoing, then owned by incoming.
    assert len(done.rollouts) == 3
    for item in done.rollouts:
        annotations = ok(writes, "platform", "POST", f"/rollouts/{item.rollout.id}/annotations")
        owners = ok(writes, "platform", "PUT", f"/rollouts/{item.rollout.id}/owner")
        assert len(annotations) == 1 and annotations[0]["actor"] == OUTGOING
        assert {"ramp_percent", "error_rate", "next_step"} <= set(annotations[0]["body"])
        assert len(owners) == 1 and owners[0]["body"]["owner"] == INCOMING
        assert annotations[0]["seq"] < owners[0]["seq"]

    # Step 5: exactly one summary with the runbook's sentence and N, M, K; details in its thread.
    posts = ok(writes, "slack", "POST", "chat.postMessage")
    summaries = [w for w in posts if message_part(w) == "summary"]
    assert len(summaries) == 1
    text = summaries[0]["body"]["text"]
    assert text.startswith("On-call: <@") and "→ <@" in text and " as of " in text
    assert (
        "3 incidents reassigned, 5 tickets reassigned, 3 rollouts in flight. Details in the thread." in text
    )
    replies = [w for w in posts if w["body"].get("thread_ts") == done.summary.ts]
    assert [message_part(w) for w in replies] == ["detail-1", "detail-2", "detail-3"]
    # Besides: the announcement, and in its thread what each person owes, and each admin's asks
    # (their buttons; kept current by updates). Nothing else.
    assert sorted(message_part(w) for w in posts) == sorted(
        [
            "announcement",
            "to-do",
            "asks:outgoing",
            "asks:incoming",
            "summary",
            "detail-1",
            "detail-2",
            "detail-3",
        ]
    )
    updates = ok(writes, "slack", "POST", "chat.update")
    assert {message_part(w) for w in updates} <= {"asks:outgoing", "asks:incoming"}

    # Nothing failed along the way.
    assert all(w["status"] < 300 for w in writes), [w for w in writes if w["status"] >= 300]

    # No token in the history: they live in the worker's settings, never in activity arguments.
    history = (await handle.fetch_history()).to_json()
    for secret in (settings.pagerduty_api_token, settings.slack_bot_token, settings.platform_api_token):
        assert secret.get_secret_value() not in history
    await handle.terminate("e2e: the overlap would run two hours")
