"""HandoverWorkflow on the time-skipping test server, with the real activities and the sandbox.

What is proven here needs time to pass (a week without a status paragraph, the 2-hour overlap)
or reads the workflow history (rejected inputs leave no event).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError

from handover import service
from handover.errors import AlreadyDone, NotAllowed, NotReady, UnknownAdmin, UnknownItem
from handover.models import (
    HandoverRequest,
    IncidentAckInput,
    InputKind,
    Outcome,
    Phase,
    RolloutOwnershipInput,
    SummaryAckInput,
)
from tests.humans import INCOMING, OUTGOING, inventory, play_incoming, play_outgoing, status_for, wait_for


def planned(**changes) -> HandoverRequest:
    return HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests", **changes)


async def update_events(handle) -> list[EventType.ValueType]:
    kinds = []
    async for event in handle.fetch_history_events():
        if "UPDATE" in EventType.Name(event.event_type):
            kinds.append(event.event_type)
    return kinds


async def test_waits_a_week_for_a_missing_status_paragraph(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, planned())
    first = (await inventory(env.client, handle.id)).incidents[0].incident.id
    await play_outgoing(env.client, handle.id, skip={first})

    await env.sleep(timedelta(days=7))

    waiting = await service.progress(env.client, handle.id)
    assert waiting.phase is Phase.HANDING_OVER
    assert (InputKind.STATUS, OUTGOING, first) in [(p.kind, p.owner, p.item_id) for p in waiting.pending]
    assert waiting.summary is None
    assert fresh_sandbox.incident(first)["assignments"][0]["assignee"]["id"] != waiting.incoming.pagerduty_id

    await service.send(env.client, handle.id, InputKind.STATUS, status_for(first))
    await play_incoming(env.client, handle.id)
    report = await handle.result()

    assert report.phase is Phase.COMPLETED
    assert all(
        item.outcome is Outcome.HANDED_OVER for item in report.incidents + report.tickets + report.rollouts
    )
    assert report.completed_at >= report.overlap_ends_at
    # The override covered the whole week, not only the first two hours: no gap, no lapse.
    windows = [report.override, *report.extensions]
    assert len(windows) > 50
    assert all(earlier.end == later.start for earlier, later in zip(windows, windows[1:], strict=False))
    assert windows[-1].end >= report.completed_at
    posted = [w for w in fresh_sandbox.writes() if w["path"].endswith("/overrides") and w["status"] < 300]
    assert len(posted) == len(windows), "each window once"


async def test_completes_only_when_the_overlap_has_run_out(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, planned(overlap=timedelta(hours=3)))
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    current = await wait_for(env.client, handle.id, lambda p: p.phase is Phase.OVERLAP)
    assert current.overlap_ends_at - current.override.start == timedelta(hours=3)

    report = await handle.result()  # the test server skips the remaining overlap
    assert report.completed_at >= report.overlap_ends_at
    assert report.summary.acknowledged.by == INCOMING


async def test_rejected_inputs_are_errors_and_leave_no_history(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, planned())
    current = await inventory(env.client, handle.id)
    incident = current.incidents[0].incident.id
    rollout = current.rollouts[0].rollout.id
    before = await update_events(handle)

    refused = [
        (InputKind.STATUS, status_for(incident).model_copy(update={"actor": INCOMING}), NotAllowed),
        (InputKind.STATUS, status_for("QUNKNOWN"), UnknownItem),
        (InputKind.INCIDENT_ACK, IncidentAckInput(actor=INCOMING, incident_id=incident), NotReady),
        (InputKind.INCIDENT_ACK, IncidentAckInput(actor=OUTGOING, incident_id=incident), NotAllowed),
        (InputKind.ROLLOUT_OWNERSHIP, RolloutOwnershipInput(actor=INCOMING, rollout_id=rollout), NotReady),
        (InputKind.SUMMARY_ACK, SummaryAckInput(actor=INCOMING), NotReady),
        (InputKind.SUMMARY_ACK, SummaryAckInput(actor="carol@novalien.com"), NotAllowed),
    ]
    for kind, given, error in refused:
        with pytest.raises(error):
            await service.send(env.client, handle.id, kind, given)
    assert await update_events(handle) == before, "a rejected update must not reach history"

    await service.send(env.client, handle.id, InputKind.STATUS, status_for(incident))
    accepted = await update_events(handle)
    assert len(accepted) == len(before) + 2  # accepted + completed, for the one good input

    with pytest.raises(AlreadyDone, match="was given by alice@novalien.com"):
        await service.send(env.client, handle.id, InputKind.STATUS, status_for(incident))
    assert await update_events(handle) == accepted
    await handle.terminate("test done")


async def test_a_rejected_signal_is_recorded_not_applied(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, planned())
    incident = (await inventory(env.client, handle.id)).incidents[0].incident.id
    await handle.signal(
        InputKind.STATUS.value, status_for(incident).model_copy(update={"actor": "dave@novalien.com"})
    )
    current = await wait_for(env.client, handle.id, lambda p: p.rejected)
    assert current.rejected[0].actor == "dave@novalien.com"
    assert current.rejected[0].item_id == incident
    assert "outgoing admin" in current.rejected[0].reason
    assert next(i for i in current.incidents if i.incident.id == incident).status is None
    await handle.terminate("test done")


@pytest.mark.parametrize(
    ("incoming", "error", "message"),
    [
        ("nobody@novalien.com", UnknownAdmin, "not a PagerDuty user"),
        ("dave@novalien.com", NotAllowed, "not an active platform admin"),
    ],
)
async def test_step_0_refuses_unknown_and_non_admins_without_side_effects(
    time_skipping, fresh_sandbox, incoming, error, message
):
    env, task_queue = time_skipping
    handle = await service.start(env.client, task_queue, planned().model_copy(update={"incoming": incoming}))
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert failure.value.cause.type == error.__name__
    assert message in failure.value.cause.message
    assert fresh_sandbox.writes() == []


async def test_signals_sent_while_no_worker_was_up_are_applied_once_one_is(
    time_skipping, fresh_sandbox, settings, activity_executor
):
    """The signal twin exists for the no-worker case: inputs queued before the handover could take
    them (admins not validated, incidents not listed yet) are held and applied, not rejected."""
    from handover.models import IncidentAckInput
    from tests.conftest import worker

    env, _ = time_skipping
    handle = await service.start(env.client, "no-worker-yet", planned())
    await handle.signal(InputKind.STATUS.value, status_for("Q1DISK7"))
    await handle.signal(InputKind.INCIDENT_ACK.value, IncidentAckInput(actor=INCOMING, incident_id="Q1DISK7"))
    await handle.signal(InputKind.STATUS.value, status_for("QNOSUCH"))
    async with worker(env.client, "no-worker-yet", settings, activity_executor):
        current = await wait_for(
            env.client,
            handle.id,
            lambda p: any(i.acknowledged for i in p.incidents if i.incident.id == "Q1DISK7"),
        )
        disk = next(i for i in current.incidents if i.incident.id == "Q1DISK7")
        assert disk.status_given.by == OUTGOING and disk.acknowledged.by == INCOMING
        assert [(r.item_id, "not part of" in r.reason) for r in current.rejected] == [("QNOSUCH", True)]
        await play_outgoing(env.client, handle.id)
        await play_incoming(env.client, handle.id)
        report = await handle.result()
    assert all(item.outcome is Outcome.HANDED_OVER for item in report.incidents)


async def test_a_refusal_after_step_0_still_returns_a_report_with_every_outcome(
    time_skipping, fresh_sandbox, settings, activity_executor
):
    """PagerDuty refuses the override (no such schedule): nothing moves, the report says why."""
    from tests.conftest import worker

    env, _ = time_skipping
    wrong = settings.model_copy(update={"pagerduty_schedule_id": "PNOSUCH"})
    async with worker(env.client, "misconfigured", wrong, activity_executor):
        handle = await service.start(env.client, "misconfigured", planned())
        report = await handle.result()
    assert report.phase is Phase.FAILED
    assert "PagerDuty refused the request (404)" in report.error
    writes = [w for w in fresh_sandbox.writes() if w["status"] < 300]
    assert [w["api"] for w in writes] == ["slack", "slack"], "the announcement and the failure notice only"
    assert "stopped: PagerDuty refused" in writes[1]["body"]["text"]
