"""Each variant's branch points, on the time-skipping test server with the sandbox.

routine: no override, the on-call check. emergency: override at once, no status waited for, one
digest. compromised: every session of outgoing ended before any reassignment, writes as the
service. mid-shift: a skipped week without mitigation, then the handover. offboarding: a missing
audit event reported as a gap. Plus the re-scan and the team-wide catch-up.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from handover import service
from handover.models import (
    InputKind,
    MitigatedInput,
    Outcome,
    Phase,
    UnclearThreadInput,
    Variant,
)
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.handovers import alice_to_bob, emergency, mid_shift
from tests.humans import (
    INCOMING,
    OUTGOING,
    assign_in_pagerduty,
    inventory,
    play_incoming,
    play_outgoing,
    status_for,
    wait_for,
)
from tests.writes import message_part, reassignments, slack_parts, successful

SERVICE = "oncall-handover@novalien.com"


def demo_with(change) -> dict:
    scenario = read_scenario_file(DEMO_SCENARIO)
    change(scenario)
    return scenario


async def test_routine_makes_no_override_and_checks_incoming_is_on_call(time_skipping, fresh_sandbox):
    def bob_takes_over_within_the_hour(scenario: dict) -> None:
        scenario["pagerduty"]["schedules"][0]["rotation_start"] = "-167h30m"

    fresh_sandbox.reset(demo_with(bob_takes_over_within_the_hour))
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()

    writes = fresh_sandbox.writes()
    assert successful(writes, "pagerduty", "", "/overrides") == []
    assert report.override is None and report.overlap_ends_at is None
    assert report.on_call.on_call is True
    assert all(item.status is not None for item in report.incidents), "status paragraphs are still required"
    assert all(i.outcome is Outcome.HANDED_OVER for i in report.incidents + report.tickets + report.rollouts)


async def test_routine_reports_an_incoming_admin_who_is_not_on_call(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, alice_to_bob(variant=Variant.ROUTINE))
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    assert report.on_call.on_call is False
    texts = [
        w["body"]["text"] for w in successful(fresh_sandbox.writes(), "slack", "POST", "chat.postMessage")
    ]
    warnings = [t for t in texts if "is not on call on schedule PPRIMARY" in t]
    assert len(warnings) == 2, "in the to-do list and in the summary's thread"


async def test_emergency_overrides_at_once_waits_for_no_status_and_posts_one_digest(
    time_skipping, fresh_sandbox
):
    env, task_queue = time_skipping
    request = emergency("incapacitated: hospital", overlap=timedelta(hours=1))
    handle = await service.start(env.client, task_queue, request)
    # Nobody has said anything: the incidents are reassigned all the same.
    current = await wait_for(
        env.client, handle.id, lambda p: p.incidents and all(i.reassigned for i in p.incidents) and p.digest
    )
    writes = fresh_sandbox.writes()
    assert len(successful(writes, "pagerduty", "POST", "/overrides")) == 1
    assert current.override.end - current.override.start == timedelta(hours=1)
    for item in current.incidents:
        assert item.status is None
        note = successful(writes, "pagerduty", "POST", f"/incidents/{item.incident.id}/notes")
        assert "No status paragraph" in note[0]["body"]["note"]["content"]
        assert note[0]["actor"] == OUTGOING, "incapacitated, not compromised: still written as outgoing"
    assert all(r.annotated.by == OUTGOING and "Not known" in r.annotation.next_step for r in current.rollouts)
    digest = current.digest
    assert {c.incident_id for c in digest.incidents} == {i.incident.id for i in current.incidents}
    assert {c.ticket_id for c in digest.tickets} == {t.ticket.id for t in current.tickets}
    assert digest.channel and any(thread.replies for thread in digest.channel)
    assert not any(w.kind in (InputKind.STATUS, InputKind.ROLLOUT_ANNOTATION) for w in current.pending)

    await play_incoming(env.client, handle.id)
    report = await handle.result()
    parts = slack_parts(fresh_sandbox.writes())
    assert parts.count("detail-4") == 1, "the digest, once, in the summary's thread"
    digest_post = next(w for w in fresh_sandbox.writes("slack") if message_part(w) == "detail-4")
    assert digest_post["body"]["thread_ts"] == report.summary.ts
    assert "Context digest" in digest_post["body"]["text"]


async def test_compromised_ends_every_session_first_and_writes_as_the_service(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, emergency("compromised"))
    await inventory(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()

    writes = fresh_sandbox.writes()
    ended = successful(writes, "platform", "POST", "/impersonation-sessions/")
    assert sorted(w["path"].split("/")[2] for w in ended) == ["IMP-4471", "IMP-4480"]
    assert report.sessions_ended_first == ["IMP-4471", "IMP-4480"]
    last_end = max(w["seq"] for w in ended)
    moves = successful(writes, "platform", "PUT", "/tickets/") + [
        w for item in report.incidents for w in reassignments(writes, item.incident.id)
    ]
    assert moves and all(w["seq"] > last_end for w in moves), "no reassignment before every session ended"
    by_outgoing = [w for w in writes if w["actor"] == OUTGOING]
    assert by_outgoing == [], "a compromised admin's name signs nothing"
    assert all(w["actor"] == SERVICE for w in ended + moves)
    notes = successful(writes, "pagerduty", "POST", "/notes")
    assert len(notes) == 3 and all(w["actor"] == SERVICE for w in notes)


async def test_mid_shift_waits_a_skipped_week_then_hands_over_after_mitigation(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    request = mid_shift(INCOMING, "Q2API5X", timedelta(hours=6))
    handle = await service.start(env.client, task_queue, request)
    outage = await wait_for(env.client, handle.id, lambda p: p.phase is Phase.OUTAGE)
    assert (outage.lead, outage.shadow) == (INCOMING, OUTGOING)
    announcement = fresh_sandbox.writes("slack")[0]["body"]["text"]
    assert "<@U0BOB> leads, <@U0ALICE> shadows" in announcement and "#4214" in announcement

    await env.sleep(timedelta(days=7))

    waiting = await service.progress(env.client, handle.id)
    assert waiting.phase is Phase.OUTAGE and waiting.mitigated is None
    assert [(w.kind, w.owner) for w in waiting.pending] == [(InputKind.MITIGATED, INCOMING)]
    assert successful(fresh_sandbox.writes(), "pagerduty") == [], "nothing moves during the outage"
    with pytest.raises(Exception, match="cannot call the outage mitigated"):
        await service.send(
            env.client, handle.id, InputKind.MITIGATED, MitigatedInput(actor="carol@novalien.com")
        )

    await service.send(
        env.client, handle.id, InputKind.MITIGATED, MitigatedInput(actor=OUTGOING, note="failed over")
    )
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    assert report.mitigated.by == OUTGOING and report.mitigation_note == "failed over"
    assert report.override.start >= report.mitigated.at.replace(microsecond=0), (
        "the handover follows mitigation"
    )
    assert report.mitigated.at - report.started_at >= timedelta(days=7)
    assert all(i.outcome is Outcome.HANDED_OVER for i in report.incidents + report.tickets + report.rollouts)


async def test_offboarding_reports_a_missing_audit_event_as_a_gap(time_skipping, fresh_sandbox):
    def audit_log_lags_a_day(scenario: dict) -> None:
        scenario["platform"]["audit_lag_seconds"] = 86400

    fresh_sandbox.reset(demo_with(audit_log_lags_a_day))
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, alice_to_bob(offboarding=True))
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    assert report.audit.missing_sessions == ["IMP-4471"]
    gap = [w for w in fresh_sandbox.writes("slack") if message_part(w) == "audit"]
    assert (
        len(gap) == 1
        and "IMP-4471" in gap[0]["body"]["text"]
        and gap[0]["body"]["thread_ts"] == report.summary.ts
    )


async def test_offboarding_with_a_prompt_audit_log_reports_no_gap(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, alice_to_bob(offboarding=True))
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    assert report.audit.complete and report.audit.checked_sessions == ["IMP-4471"]


async def test_rescan_picks_up_an_incident_assigned_to_outgoing_during_the_window(
    time_skipping, fresh_sandbox, settings
):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, alice_to_bob())
    listed = await inventory(env.client, handle.id)
    assert "Q6KAFKA" not in {i.incident.id for i in listed.incidents}
    assign_in_pagerduty(fresh_sandbox, "Q6KAFKA", "PALICEM")
    await play_outgoing(env.client, handle.id)
    incoming = asyncio.create_task(play_incoming(env.client, handle.id))
    rescanned = await wait_for(env.client, handle.id, lambda p: any(i.rescanned for i in p.incidents))
    assert [i.incident.id for i in rescanned.incidents if i.rescanned] == ["Q6KAFKA"]
    assert rescanned.summary is None, "the summary waits for the re-scanned incident"
    await service.send(env.client, handle.id, InputKind.STATUS, status_for("Q6KAFKA"))
    await incoming
    report = await handle.result()
    kafka = next(i for i in report.incidents if i.incident.id == "Q6KAFKA")
    assert kafka.outcome is Outcome.HANDED_OVER and len(reassignments(fresh_sandbox.writes(), "Q6KAFKA")) == 2
    assert "4 incidents reassigned" in report.summary.text


async def test_an_unclear_thread_is_posted_for_a_catch_up_exactly_once(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, emergency("incapacitated"))
    current = await wait_for(env.client, handle.id, lambda p: p.digest is not None)
    thread = next(t for t in current.digest.channel if t.replies)
    flag = UnclearThreadInput(
        actor=INCOMING, thread_ts=thread.ts, question="Who restarted the edge proxies, and why?"
    )
    accepted = await service.send(env.client, handle.id, InputKind.UNCLEAR_THREAD, flag)
    assert accepted.message == "posted to the channel for a catch-up"
    with pytest.raises(Exception, match="was flagged by bob@novalien.com already"):
        await service.send(env.client, handle.id, InputKind.UNCLEAR_THREAD, flag)
    await handle.signal(InputKind.UNCLEAR_THREAD.value, flag)  # the signal twin, a duplicate too
    await wait_for(env.client, handle.id, lambda p: p.rejected)
    posts = [w for w in fresh_sandbox.writes("slack") if (message_part(w) or "").startswith("catch-up:")]
    assert len(posts) == 1
    assert thread.ts in posts[0]["body"]["text"] and "thread_ts" not in posts[0]["body"]


async def test_a_catch_up_slack_refuses_can_be_flagged_again_and_never_fails_the_handover(
    time_skipping, fresh_sandbox
):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, emergency("incapacitated"))
    current = await wait_for(env.client, handle.id, lambda p: p.digest is not None)
    flag = UnclearThreadInput(
        actor=INCOMING, thread_ts=current.digest.channel[0].ts, question="What was decided?"
    )

    def channel_gone(scenario: dict) -> None:
        scenario["slack"]["channels"][0]["id"] = "C0RENAMED"

    fresh_sandbox.reset(demo_with(channel_gone))
    with pytest.raises(Exception, match="flag the thread again"):
        await service.send(env.client, handle.id, InputKind.UNCLEAR_THREAD, flag)
    await handle.signal(InputKind.UNCLEAR_THREAD.value, flag)
    refused = await wait_for(env.client, handle.id, lambda p: p.rejected)
    assert "channel_not_found" in refused.rejected[0].reason and refused.unclear_threads == []
    assert (await handle.describe()).status.name == "RUNNING", "a refused post never fails the handover"

    fresh_sandbox.reset(DEMO_SCENARIO)
    accepted = await service.send(env.client, handle.id, InputKind.UNCLEAR_THREAD, flag)
    assert accepted.message == "posted to the channel for a catch-up"
    assert [f.thread_ts for f in (await service.progress(env.client, handle.id)).unclear_threads] == [
        flag.thread_ts
    ]
