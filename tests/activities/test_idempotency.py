"""Every write activity, run twice against the sandbox, writes once: look before you write.

A retry after a crash or a lost response runs the activity again with the same input; the
second run must find what the first one wrote and not write it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pagerduty import (
    FreezeRequest,
    IncidentAckBatch,
    IncidentHandoverBatch,
    IncidentNote,
    PagerDutyActivities,
)
from activities.platform import (
    AnnotationBatch,
    AnnotationWork,
    AuditQuery,
    OwnershipBatch,
    OwnershipWork,
    PlatformActivities,
    TicketBatch,
    TicketWork,
)
from activities.slack import SlackActivities, SummaryPost
from handover.models import Outcome, RolloutAnnotation, TicketAction
from sandbox.storm import storm
from tests.humans import assign_in_pagerduty

ALICE, BOB = "alice@novalien.com", "bob@novalien.com"
ALICE_PD, BOB_PD = "PALICEM", "PBOBOKA"


def twice(function, argument):
    """The activity, then its retry (attempt 2: Temporal's only way to run the same input again)."""
    env = ActivityEnvironment()
    first = env.run(function, argument)
    env.info = dataclasses.replace(env.info, attempt=2)
    second = env.run(function, argument)
    return first, second


def successful(sandbox, api: str | None = None) -> list[dict]:
    return [w for w in sandbox.writes(api) if w["status"] < 300]


def reassigning(incidents: list[str], note: str | None = None) -> IncidentHandoverBatch:
    """Alice's `incidents` for Bob, each with `note` (by default, one that names the incident)."""
    return IncidentHandoverBatch(
        from_email=ALICE,
        outgoing_id=ALICE_PD,
        incoming_id=BOB_PD,
        items=[IncidentNote(incident_id=i, note=note or f"status of {i} [handover-test]") for i in incidents],
    )


def test_freeze_assignments_creates_one_override(settings, fresh_sandbox):
    start = datetime.now(UTC).replace(microsecond=0)
    window = FreezeRequest(user_id=BOB_PD, start=start, end=start + timedelta(hours=2))
    first, second = twice(PagerDutyActivities(settings).freeze_assignments, window)
    assert first.id == second.id
    assert len(successful(fresh_sandbox)) == 1


def test_hand_over_incidents_notes_and_reassigns_once(settings, fresh_sandbox):
    batch = reassigning(["Q1DISK7"], "status paragraph [handover-test]")
    first, second = twice(PagerDutyActivities(settings).hand_over_incidents, batch)
    assert first[0].outcome is second[0].outcome is Outcome.HANDED_OVER
    assert first[0].ref == second[0].ref
    writes = successful(fresh_sandbox)
    assert [(w["method"], w["path"]) for w in writes] == [
        ("POST", "/incidents/Q1DISK7/notes"),
        ("PUT", "/incidents"),
    ]


def test_acknowledge_incidents_acknowledges_once(settings, fresh_sandbox):
    pagerduty = PagerDutyActivities(settings)
    ActivityEnvironment().run(
        pagerduty.hand_over_incidents,
        IncidentHandoverBatch(
            from_email=ALICE, incoming_id=BOB_PD, items=[IncidentNote(incident_id="Q2API5X", note="n")]
        ),
    )
    before = len(successful(fresh_sandbox))
    batch = IncidentAckBatch(from_email=BOB, incoming_id=BOB_PD, incident_ids=["Q2API5X"])
    twice(pagerduty.acknowledge_incidents, batch)
    assert len(successful(fresh_sandbox)) == before + 1
    assert fresh_sandbox.incident("Q2API5X")["status"] == "acknowledged"


def bobs_storm(sandbox, incidents: int, acknowledged: int) -> None:
    """An alert storm of `incidents` handed over to Bob, the first `acknowledged` acknowledged by
    him in PagerDuty already."""
    world = storm(incidents, 0, 0)
    for incident in world["pagerduty"]["incidents"]:
        if incident["id"].startswith("QS"):
            incident.update(assignees=[BOB_PD], status="triggered")
    sandbox.reset(world)
    for n in range(acknowledged):
        acknowledge(sandbox, f"QS{n:05d}", BOB)


def reads(pagerduty: PagerDutyActivities, monkeypatch) -> list[tuple[str, int | None]]:
    """What `pagerduty` asks PagerDuty for from now on: (path, offset) per GET."""
    asked: list[tuple[str, int | None]] = []
    request = pagerduty._request

    def recorded(method: str, path: str, **options):
        if method == "GET":
            asked.append((path, (options.get("params") or {}).get("offset")))
        return request(method, path, **options)

    monkeypatch.setattr(pagerduty, "_request", recorded)
    return asked


def test_a_batch_of_acknowledgements_lists_only_incomings_incidents_still_to_acknowledge(
    settings, fresh_sandbox, monkeypatch
):
    """In an alert storm incoming already holds many acknowledged incidents: a gathered batch lists
    incoming's triggered ones, not all of them again, and one incoming acknowledged in PagerDuty
    meanwhile is read, not acknowledged twice."""
    bobs_storm(fresh_sandbox, 30, 21)  # (QS00020, in the batch, acknowledged in PagerDuty meanwhile)
    pagerduty = PagerDutyActivities(settings)
    asked = reads(pagerduty, monkeypatch)
    before = len(successful(fresh_sandbox))
    batch = IncidentAckBatch(
        from_email=BOB, incoming_id=BOB_PD, incident_ids=[f"QS{n:05d}" for n in range(20, 30)]
    )
    results = ActivityEnvironment().run(pagerduty.acknowledge_incidents, batch)
    assert asked == [("/incidents", 0), ("/incidents/QS00020", None)]  # (the listing: QS00021..29)
    assert all(r.outcome is Outcome.HANDED_OVER for r in results)
    [write] = successful(fresh_sandbox)[before:]
    assert sorted(i["id"] for i in write["body"]["incidents"]) == [f"QS{n:05d}" for n in range(21, 30)]
    assert all(fresh_sandbox.incident(f"QS{n:05d}")["status"] == "acknowledged" for n in range(30))


@pytest.mark.parametrize("batch_size, pages", [(10, 1), (30, 3)])
def test_a_small_batch_past_a_listings_first_page_reads_the_rest_one_by_one(
    settings, fresh_sandbox, monkeypatch, batch_size, pages
):
    """Incoming holds 250 triggered incidents: ten of them, all but one past the first page, are
    read one by one after it; thirty are too many to read, and the listing is read to its end."""
    bobs_storm(fresh_sandbox, 250, 0)
    pagerduty = PagerDutyActivities(settings)
    in_order = [i["id"] for i in pagerduty._open_incidents(BOB_PD)]  # (as the listing's pages have them)
    wanted = in_order[99 :: 150 // batch_size][:batch_size]  # (the first page's last, the rest past it)
    asked = reads(pagerduty, monkeypatch)
    batch = IncidentAckBatch(from_email=BOB, incoming_id=BOB_PD, incident_ids=wanted)
    results = ActivityEnvironment().run(pagerduty.acknowledge_incidents, batch)
    listing = [offset for path, offset in asked if path == "/incidents"]
    assert sorted(listing) == [0, 100, 200][:pages]
    read_one_by_one = {path.rpartition("/")[2] for path, offset in asked if path != "/incidents"}
    assert read_one_by_one == (set() if pages > 1 else set(wanted[1:]))
    assert [r.outcome for r in results] == [Outcome.HANDED_OVER] * batch_size
    assert all(fresh_sandbox.incident(i)["status"] == "acknowledged" for i in wanted)


def test_a_resolved_incident_is_skipped_not_reassigned(settings, fresh_sandbox):
    batch = reassigning(["Q4OLDRS"], "n")
    result = ActivityEnvironment().run(PagerDutyActivities(settings).hand_over_incidents, batch)
    assert result[0].outcome is Outcome.SKIPPED
    assert "resolved" in result[0].detail
    assert successful(fresh_sandbox) == []


def test_hand_over_tickets_writes_each_change_once(settings, fresh_sandbox):
    batch = TicketBatch(
        handover_id="handover-test",
        outgoing=ALICE,
        incoming=BOB,
        acting_as=ALICE,
        items=[
            TicketWork(ticket_id="SUP-1042", action=TicketAction.LABEL_WAITING_ON_CUSTOMER),
            TicketWork(
                ticket_id="SUP-1051", action=TicketAction.LINK_ENGINEERING_ISSUE, engineering_issue="ENG-1"
            ),
            TicketWork(
                ticket_id="SUP-1055",
                action=TicketAction.END_IMPERSONATION_FIRST,
                sessions_to_end=["IMP-4471"],
            ),
        ],
    )
    first, second = twice(PlatformActivities(settings).hand_over_tickets, batch)
    assert [r.outcome for r in first] == [Outcome.HANDED_OVER] * 3 == [r.outcome for r in second]
    paths = [w["path"] for w in successful(fresh_sandbox)]
    # Tickets are handed over side by side: each one's writes in order, each write once.
    per_ticket = {
        "SUP-1042": ["/tickets/SUP-1042/assignee", "/tickets/SUP-1042/labels/waiting_on_customer"],
        "SUP-1051": ["/tickets/SUP-1051/assignee", "/tickets/SUP-1051/engineering-issue"],
        "SUP-1055": ["/impersonation-sessions/IMP-4471/end", "/tickets/SUP-1055/assignee"],
    }
    assert sorted(paths) == sorted(path for writes in per_ticket.values() for path in writes)
    for writes in per_ticket.values():
        assert [p for p in paths if p in writes] == writes
    # The repeat ended the (already ended) session again: harmless by contract, and reported once.
    assert second[2].sessions_ended == ["IMP-4471"]


def test_rollout_annotation_and_ownership_are_written_once(settings, fresh_sandbox):
    platform = PlatformActivities(settings)
    annotation = RolloutAnnotation(ramp_percent=25, error_rate=0.4, next_step="+15% tomorrow")
    batch = AnnotationBatch(
        handover_id="handover-test",
        acting_as=ALICE,
        items=[AnnotationWork(rollout_id="RO-311", annotation=annotation)],
    )
    first, second = twice(platform.annotate_rollouts, batch)
    assert first[0].ref == second[0].ref
    ownership = OwnershipBatch(
        incoming=BOB, items=[OwnershipWork(rollout_id="RO-311", annotation_id=first[0].ref)]
    )
    twice(platform.transfer_rollout_ownership, ownership)
    writes = successful(fresh_sandbox)
    created = [
        w for w in writes if w["path"] == "/rollouts/RO-311/annotations" and not w["result"].get("replayed")
    ]
    assert len(created) == 1
    assert len([w for w in writes if w["path"] == "/rollouts/RO-311/owner"]) == 1


def test_post_summary_posts_the_summary_and_its_thread_once(settings, fresh_sandbox):
    post = SummaryPost(
        handover_id="handover-test",
        since=datetime.now(UTC) - timedelta(minutes=1),
        text="On-call: summary",
        details=["incidents", "tickets", "rollouts"],
    )
    first, second = twice(SlackActivities(settings).post_summary, post)
    assert first.ts == second.ts
    messages = successful(fresh_sandbox, "slack")
    assert len(messages) == 4
    assert [m["body"].get("thread_ts") for m in messages] == [None, first.ts, first.ts, first.ts]


def test_audit_gap_is_a_retryable_error_naming_the_missing_sessions(settings, fresh_sandbox):
    query = AuditQuery(session_ids=["IMP-4471"], since=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(ApplicationError) as gap:
        ActivityEnvironment().run(PlatformActivities(settings).audit_impersonation, query)
    assert gap.value.type == "AuditGap" and not gap.value.non_retryable
    assert list(gap.value.details[0]) == ["IMP-4471"]

    ActivityEnvironment().run(
        PlatformActivities(settings).hand_over_tickets,
        TicketBatch(
            handover_id="h",
            outgoing=ALICE,
            incoming=BOB,
            acting_as=ALICE,
            items=[
                TicketWork(
                    ticket_id="SUP-1055",
                    action=TicketAction.END_IMPERSONATION_FIRST,
                    sessions_to_end=["IMP-4471"],
                )
            ],
        ),
    )
    result = ActivityEnvironment().run(PlatformActivities(settings).audit_impersonation, query)
    assert result.complete and result.checked_sessions == ["IMP-4471"]


def test_a_later_handover_of_the_same_admin_annotates_afresh(settings, fresh_sandbox):
    """The Idempotency-Key names the handover's run: next week's handover is not last week's."""
    platform = PlatformActivities(settings)
    for week, ramp in (
        ("handover-alice@novalien.com#run1", 25.0),
        ("handover-alice@novalien.com#run2", 50.0),
    ):
        annotation = RolloutAnnotation(ramp_percent=ramp, error_rate=0.4, next_step=f"after {ramp}%")
        batch = AnnotationBatch(
            handover_id=week,
            acting_as=ALICE,
            items=[AnnotationWork(rollout_id="RO-311", annotation=annotation)],
        )
        ActivityEnvironment().run(platform.annotate_rollouts, batch)
    created = [w for w in successful(fresh_sandbox) if w["path"] == "/rollouts/RO-311/annotations"]
    assert [w["body"]["ramp_percent"] for w in created] == [25.0, 50.0]
    assert not any(w["result"].get("replayed") for w in created)


# --- each handover's override is its own ------------------------------------------------------


def overrides_posted(sandbox) -> list[str]:
    return [
        i
        for w in successful(sandbox, "pagerduty")
        if w["path"].endswith("/overrides")
        for i in w["result"]["override_ids"]
    ]


def test_an_override_seconds_away_from_another_handovers_is_not_taken(settings, fresh_sandbox):
    """Two handovers to Bob, started seconds apart: each makes its own override."""
    start = datetime.now(UTC).replace(microsecond=0)
    freeze = PagerDutyActivities(settings).freeze_assignments
    carols = ActivityEnvironment().run(
        freeze, FreezeRequest(user_id=BOB_PD, start=start, end=start + timedelta(hours=2))
    )
    later = start + timedelta(seconds=7)
    alices = ActivityEnvironment().run(
        freeze, FreezeRequest(user_id=BOB_PD, start=later, end=later + timedelta(hours=2))
    )
    assert alices.id != carols.id
    assert (alices.start, alices.end) == (later, later + timedelta(hours=2))
    assert overrides_posted(fresh_sandbox) == [carols.id, alices.id]


def test_a_retry_after_a_lost_answer_takes_its_own_override_not_another_handovers(settings, fresh_sandbox):
    start = datetime.now(UTC).replace(microsecond=0)
    window = FreezeRequest(user_id=BOB_PD, start=start, end=start + timedelta(hours=2))
    freeze = PagerDutyActivities(settings).freeze_assignments
    other = ActivityEnvironment().run(freeze, window)  # another handover's, for the very same window
    lost = {
        "kind": "lost_response",
        "rate": 1,
        "api": "pagerduty",
        "method": "POST",
        "path": "/schedules/*/overrides",
    }
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=20))
    beats: list = []
    env.on_heartbeat = lambda *details: beats.append(list(details))
    with fresh_sandbox.faults(lost):
        with pytest.raises(ApplicationError):
            env.run(freeze, window)  # it wrote, but never heard
    assert len(overrides_posted(fresh_sandbox)) == 2
    assert [{"before": [other.id]}] in beats, "what was there is heartbeated before the write"
    raised = beats[-1]
    crashed = [{"before": raised[0]["before"]}]  # the last heartbeat before the write, no EXACT
    for checkpoint in (raised, crashed):
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(
            retry.info, attempt=2, heartbeat_timeout=timedelta(seconds=20), heartbeat_details=checkpoint
        )
        mine = retry.run(freeze, window)
        assert mine.id != other.id and mine.id in overrides_posted(fresh_sandbox)
        assert len(overrides_posted(fresh_sandbox)) == 2, "no third override"


# --- PagerDuty's bulk answer is read ----------------------------------------------------------

THREE = ["Q1DISK7", "Q2API5X", "Q3CERT9"]


def test_an_incident_the_bulk_answer_leaves_out_is_written_on_its_own(settings, fresh_sandbox):
    partial = {"kind": "partial", "rate": 1, "api": "pagerduty", "method": "PUT", "path": "/incidents"}
    with fresh_sandbox.faults(partial):
        results = ActivityEnvironment().run(
            PagerDutyActivities(settings).hand_over_incidents, reassigning(THREE)
        )
    assert [r.outcome for r in results] == [Outcome.HANDED_OVER] * 3
    for incident in THREE:
        assert [a["assignee"]["id"] for a in fresh_sandbox.incident(incident)["assignments"]] == [BOB_PD]
    puts = [w["path"] for w in successful(fresh_sandbox, "pagerduty") if w["method"] == "PUT"]
    assert puts[0] == "/incidents" and len(puts) > 1, "the ones left out, one by one"


def test_an_incident_pagerduty_does_not_change_is_not_reported_handed_over(settings, fresh_sandbox):
    partial = {"kind": "partial", "rate": 1, "api": "pagerduty", "method": "PUT", "path": "/incidents*"}
    with fresh_sandbox.faults(partial):
        results = ActivityEnvironment().run(
            PagerDutyActivities(settings).hand_over_incidents, reassigning(THREE)
        )
    unchanged = [
        i
        for i in THREE
        if [a["assignee"]["id"] for a in fresh_sandbox.incident(i)["assignments"]] != [BOB_PD]
    ]
    assert unchanged, "the fault leaves some incidents as they were"
    for result in results:
        if result.item_id in unchanged:
            assert result.outcome is Outcome.FAILED
            assert "did not apply the change" in result.detail
        else:
            assert result.outcome is Outcome.HANDED_OVER


# --- an acknowledgement is incoming's own, on an incident still theirs --------------------------


def acknowledge(sandbox, incident_id: str, by: str) -> None:
    import httpx

    token = sandbox.store.state.tokens.pagerduty_token
    with httpx.Client(verify=sandbox.ssl_context()) as client:
        client.put(
            f"{sandbox.pagerduty_url}/incidents/{incident_id}",
            json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
            headers={"Authorization": f"Token token={token}", "From": by},
        ).raise_for_status()


def test_an_acknowledgement_pagerduty_shows_as_someone_elses_is_not_taken_for_incomings(
    settings, fresh_sandbox
):
    assign_in_pagerduty(fresh_sandbox, "Q2API5X", [BOB_PD, "PCAROLN"])
    acknowledge(fresh_sandbox, "Q2API5X", "carol@novalien.com")  # Carol's, not Bob's
    partial = {"kind": "partial", "rate": 1, "api": "pagerduty", "method": "PUT", "path": "/incidents*"}
    batch = IncidentAckBatch(from_email=BOB, incoming_id=BOB_PD, incident_ids=["Q2API5X"])
    with fresh_sandbox.faults(partial):
        [result] = ActivityEnvironment().run(PagerDutyActivities(settings).acknowledge_incidents, batch)
    acknowledgers = [a["acknowledger"]["id"] for a in fresh_sandbox.incident("Q2API5X")["acknowledgements"]]
    assert BOB_PD not in acknowledgers
    assert result.outcome is Outcome.FAILED and "did not apply" in result.detail


def test_an_incident_moved_on_before_incoming_acknowledged_is_not_acknowledged_as_theirs(
    settings, fresh_sandbox
):
    assign_in_pagerduty(fresh_sandbox, "Q2API5X", BOB_PD, by=ALICE)
    assign_in_pagerduty(fresh_sandbox, "Q2API5X", "PCAROLN")  # Carol takes it before Bob acknowledges
    before = len(successful(fresh_sandbox))
    batch = IncidentAckBatch(from_email=BOB, incoming_id=BOB_PD, incident_ids=["Q2API5X"])
    [result] = ActivityEnvironment().run(PagerDutyActivities(settings).acknowledge_incidents, batch)
    assert result.outcome is Outcome.SKIPPED and "reassigned to Carol Nguyen" in result.detail
    assert len(successful(fresh_sandbox)) == before, "nothing written: Carol's page is hers"


async def test_the_autopilots_start_run_twice_starts_one_handover(dev_server, settings):
    """The autopilot's one write is a start in Temporal: a retry after a start it did not hear of
    (the worker killed at once after) returns the same handover, started, and starts no other;
    a later change's start for the same admin, while that one runs, is told it is running."""
    from activities.autopilot import AutopilotActivities
    from handover.models import Boundary, ScheduledStart

    client, task_queue = dev_server
    change = Boundary(
        at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2), outgoing=ALICE, incoming=BOB
    )
    work = ScheduledStart(
        schedule_id="PPRIMARY",
        boundary=change,
        overlap=timedelta(hours=4),
        requested_by="autopilot:PPRIMARY",
        task_queue=task_queue,
    )
    start = AutopilotActivities(settings).start_scheduled_handover
    first = await ActivityEnvironment(client).run(start, work)
    again = await ActivityEnvironment(client).run(start, work)
    assert (first.started, again.started) == (True, True) and first.handover_id == again.handover_id
    for _ in range(50):  # (visibility follows the start within moments)
        runs = [
            e
            async for e in client.list_workflows(
                f'WorkflowId = "{first.handover_id}" AND TaskQueue = "{task_queue}"'
            )
        ]
        if runs:
            break
        await asyncio.sleep(0.1)
    assert len(runs) == 1, "one handover, whatever the retries (this test's: the server is shared)"
    next_week = work.model_copy(
        update={"boundary": change.model_copy(update={"at": change.at + timedelta(days=7)})}
    )
    refused = await ActivityEnvironment(client).run(start, next_week)
    assert (refused.started, refused.handover_id, refused.blocked) == (False, first.handover_id, False)
    assert "running already" in refused.detail
