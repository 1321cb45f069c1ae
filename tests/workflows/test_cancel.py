"""Cancel mid-incidents: what moved is reported as moved, the rest is untouched, nothing half-done."""

from __future__ import annotations

import pytest

from handover import service
from handover.errors import AlreadyDone, NotAllowed
from handover.models import CancelInput, HandoverRequest, InputKind, Outcome, Phase, RolloutAnnotationInput
from tests.humans import INCOMING, OUTGOING, inventory, status_for, wait_for
from tests.writes import message_part, reassignments, slack_parts, successful


async def test_cancel_mid_incidents_reports_exactly_what_moved(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="ops-lead@novalien.com")
    handle = await service.start(env.client, task_queue, request)
    listed = await inventory(env.client, handle.id)
    first, *others = [i.incident.id for i in listed.incidents]
    rollout = listed.rollouts[0].rollout
    await service.send(env.client, handle.id, InputKind.STATUS, status_for(first))
    annotation = RolloutAnnotationInput(
        actor=OUTGOING, rollout_id=rollout.id, ramp_percent=25, error_rate=0.4, next_step="hold at 25%"
    )
    await service.send(env.client, handle.id, InputKind.ROLLOUT_ANNOTATION, annotation)

    def moved_so_far(p) -> bool:
        tickets_moved = sum(t.reassigned is not None for t in p.tickets)
        return bool(p.incidents[0].reassigned and p.rollouts[0].annotation_id) and tickets_moved == 4

    await wait_for(env.client, handle.id, moved_so_far)

    with pytest.raises(NotAllowed, match="the requester or either admin"):
        await service.send(
            env.client, handle.id, InputKind.CANCEL, CancelInput(actor="dave@novalien.com", reason="not mine")
        )
    await service.send(
        env.client,
        handle.id,
        InputKind.CANCEL,
        CancelInput(actor="ops-lead@novalien.com", reason="wrong incoming"),
    )
    report = await handle.result()

    assert report.phase is Phase.CANCELLED and report.cancelled.by == "ops-lead@novalien.com"
    outcomes = {i.incident.id: i.outcome for i in report.incidents}
    assert outcomes == {first: Outcome.HANDED_OVER, **{other: Outcome.NOT_HANDED_OVER for other in others}}
    tickets = {t.ticket.id: t.outcome for t in report.tickets}
    assert tickets.pop("SUP-1051") is Outcome.NOT_HANDED_OVER, "it waited for its engineering issue"
    assert set(tickets.values()) == {Outcome.HANDED_OVER}
    assert {r.outcome for r in report.rollouts} == {Outcome.NOT_HANDED_OVER}, "annotated is not transferred"

    writes = fresh_sandbox.writes()
    for incident_id, outcome in outcomes.items():
        notes = successful(writes, "pagerduty", "POST", f"/incidents/{incident_id}/notes")
        moved = reassignments(writes, incident_id)
        expected = 1 if outcome is Outcome.HANDED_OVER else 0
        assert (len(notes), len(moved)) == (expected, expected), f"{incident_id} is half-done"
    assert successful(writes, "platform", "", "/tickets/SUP-1051/") == []
    assert successful(writes, "platform", "PUT", "/owner") == []
    assert "summary" not in slack_parts(writes)
    notice = next(w for w in fresh_sandbox.writes("slack") if message_part(w) == "cancelled")
    assert "cancelled by ops-lead@novalien.com: wrong incoming." in notice["body"]["text"]
    assert "Handed over: 1 of 3 incidents, 4 of 5 tickets, 0 of 3 rollouts." in notice["body"]["text"]

    with pytest.raises(AlreadyDone):
        await service.send(env.client, handle.id, InputKind.STATUS, status_for(others[0]))
