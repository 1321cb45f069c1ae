"""Every variant end to end on the Temporal dev server, the worker and the sandbox over HTTPS,
asserting the write log: what PagerDuty, Slack and the platform API were actually asked to do."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pagerduty

from handover import service
from handover.models import HandoverReport, Outcome, Phase, Variant
from tests.handovers import alice_to_bob, emergency, mid_shift
from tests.humans import INCOMING, OUTGOING, inventory, play_incoming, play_outgoing, wait_for
from tests.writes import message_part, reassignments, slack_parts, successful

SERVICE = "oncall-handover@novalien.com"


def all_handed_over(progress) -> bool:
    return all(
        i.outcome is Outcome.HANDED_OVER for i in progress.incidents + progress.tickets + progress.rollouts
    )


async def test_routine_rotation(dev_server, fresh_sandbox):
    client, task_queue = dev_server
    handle = await service.start(client, task_queue, alice_to_bob("e2e", variant=Variant.ROUTINE))
    await play_outgoing(client, handle.id)
    await play_incoming(client, handle.id)
    report = await handle.result()  # no overlap timer: PagerDuty's rotation owns the overlap
    writes = fresh_sandbox.writes()
    assert successful(writes, "pagerduty", "", "/overrides") == []
    assert report.on_call is not None and all_handed_over(report)
    for item in report.incidents:
        note = successful(writes, "pagerduty", "POST", f"/incidents/{item.incident.id}/notes")
        assert len(note) == 1 and "Current hypothesis:" in note[0]["body"]["note"]["content"]
        assert [w["actor"] for w in reassignments(writes, item.incident.id)] == [OUTGOING]
    assert slack_parts(writes).count("summary") == 1


async def emergency_handover(dev_server, fresh_sandbox, reason: str) -> tuple[HandoverReport, list[dict]]:
    """An emergency handover for `reason`, played to its end: its report and the write log."""
    client, task_queue = dev_server
    request = emergency(reason, "e2e", overlap=timedelta(seconds=3))
    handle = await service.start(client, task_queue, request)
    await inventory(client, handle.id)
    await play_incoming(client, handle.id)
    return await handle.result(), fresh_sandbox.writes()


async def test_emergency_incapacitated(dev_server, fresh_sandbox):
    report, writes = await emergency_handover(dev_server, fresh_sandbox, "incapacitated")
    # One override for the window, and one more for each extension while the handover ran past
    # it (a 3 s overlap on a slow machine is extended): each written once, each continuing the last.
    windows = [
        (w["body"]["overrides"][0]["start"], w["body"]["overrides"][0]["end"])
        for w in successful(writes, "pagerduty", "POST", "/overrides")
    ]
    written = [report.override, *report.extensions]
    assert [(o.start, o.end) for o in written] == [
        (datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in windows
    ]
    assert all(later.start == earlier.end for earlier, later in itertools.pairwise(written))
    assert all_handed_over(report) and all(i.status is None for i in report.incidents)
    for item in report.incidents:
        note = successful(writes, "pagerduty", "POST", f"/incidents/{item.incident.id}/notes")
        assert len(note) == 1 and "Emergency on-call handover" in note[0]["body"]["note"]["content"]
    digest = [w for w in fresh_sandbox.writes("slack") if "Context digest" in w["body"]["text"]]
    # Posted once in the summary's thread: one reply, or its parts each once when it outgrows one
    # (its length depends on what the channel's last hour holds when it is read).
    assert digest and all(w["body"]["thread_ts"] == report.summary.ts for w in digest)
    if len(digest) > 1:
        headers = [w["body"]["text"].split("\n")[0] for w in digest]
        assert all(f"part {n} of {len(digest)})" in h for n, h in enumerate(headers, 1)), headers
    assert successful(writes, "platform", "POST", "/impersonation-sessions/IMP-4480") == [], "not compromised"


async def test_emergency_compromised(dev_server, fresh_sandbox):
    report, writes = await emergency_handover(dev_server, fresh_sandbox, "compromised")
    ended = successful(writes, "platform", "POST", "/impersonation-sessions/")
    assert sorted(w["path"] for w in ended) == [
        "/impersonation-sessions/IMP-4471/end",
        "/impersonation-sessions/IMP-4480/end",
    ]
    first_move = min(
        w["seq"]
        for w in successful(writes, "platform", "PUT", "/tickets/")
        + [w for i in report.incidents for w in reassignments(writes, i.incident.id)]
    )
    assert max(w["seq"] for w in ended) < first_move
    assert not [w for w in writes if w["actor"] == OUTGOING]
    # Everything is written as the service or by incoming (acks, ownership); the override names no one.
    actors = {w["actor"] for w in writes if w["api"] != "slack"}
    assert actors == {SERVICE, INCOMING, None}, actors
    assert all_handed_over(report)


async def test_mid_shift_starts_the_handover_when_the_major_incident_resolves(dev_server, fresh_sandbox):
    client, task_queue = dev_server
    request = mid_shift(OUTGOING, "Q6KAFKA", timedelta(seconds=1), requested_by="e2e")
    handle = await service.start(client, task_queue, request)
    await wait_for(client, handle.id, lambda p: p.phase is Phase.OUTAGE)
    assert successful(fresh_sandbox.writes(), "pagerduty") == []
    carol = pagerduty.RestApiV2Client(
        "sandbox-pagerduty-token", base_url=fresh_sandbox.pagerduty_url, verify=fresh_sandbox.ssl_context()
    )
    carol.rput(
        "/incidents/Q6KAFKA",
        json={"type": "incident_reference", "status": "resolved"},
        headers={"From": "carol@novalien.com"},
    )
    mitigated = await wait_for(
        client, handle.id, lambda p: p.mitigated is not None and p.incidents, timeout=30
    )
    assert mitigated.mitigated.by == "PagerDuty" and "resolved" in mitigated.mitigation_note
    await play_outgoing(client, handle.id)
    await play_incoming(client, handle.id)
    done = await wait_for(client, handle.id, lambda p: p.phase is Phase.OVERLAP, timeout=60)
    writes = fresh_sandbox.writes()
    assert all_handed_over(done)
    assert len(successful(writes, "pagerduty", "POST", "/overrides")) == 1
    parts = slack_parts(writes)
    assert parts[0] == "announcement" and parts.count("summary") == 1
    announcement = next(w for w in writes if message_part(w) == "announcement")
    assert "<@U0ALICE> leads, <@U0BOB> shadows" in announcement["body"]["text"]
    await handle.terminate("e2e: the overlap would run two hours")


async def test_offboarding_audit(dev_server, fresh_sandbox):
    client, task_queue = dev_server
    handle = await service.start(client, task_queue, alice_to_bob("e2e", offboarding=True))
    await play_outgoing(client, handle.id)
    await play_incoming(client, handle.id)
    done = await wait_for(client, handle.id, lambda p: p.phase is Phase.OVERLAP, timeout=60)
    assert done.audit.complete and done.audit.checked_sessions == ["IMP-4471"]
    audit = [w for w in fresh_sandbox.writes("slack") if message_part(w) == "audit"]
    assert len(audit) == 1 and "logged for all 1 session" in audit[0]["body"]["text"]
    await handle.terminate("e2e: the overlap would run two hours")
