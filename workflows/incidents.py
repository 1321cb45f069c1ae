"""Step 2: walk through open incidents — per incident, the outgoing admin's status paragraph, the
note posted and the incident reassigned, the incoming admin's explicit acknowledgement. Just
before the summary, a re-scan picks up incidents that reached the outgoing admin meanwhile."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import (
        IncidentAckBatch,
        IncidentHandoverBatch,
        IncidentNote,
        PagerDutyActivities,
    )
    from handover import decisions, messages
    from handover.models import Done, IncidentHandover, InputKind, Outcome

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.batches import BATCH_SIZE, as_ready, finish, run_batch
from workflows.lookups import LOOKUP
from workflows.state import HandoverState, left_alone, reason

STATUSES = (InputKind.STATUS, InputKind.GROUP_STATUS)
ACKS = (InputKind.INCIDENT_ACK, InputKind.ALL_INCIDENTS_ACK)
"""The inputs that make an incident ready for its reassignment, and for its acknowledgement."""
GATHER_ACKNOWLEDGEMENTS = timedelta(seconds=2)
"""How long an acknowledgement waits for others to go to PagerDuty with it, in one bulk update, at
most: it waits for the handover's beat, which the asks' pause may have started already."""
RESCAN_PATCH = "rescan-found-at"
"""`workflow.patched` id: an incident the re-scan finds is owed from when it was found, and told in
the thread; handovers started before replay without."""


DRAFTS_PATCH = "status-drafts"
"""`workflow.patched` id: handovers started before status forms had drafts replay without reading them."""
DRAFTS = {**LOOKUP, "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3)}
"""A draft is a nicety: three tries, then the forms start blank."""
DRAFTS_READ = 200
"""Incidents whose latest note is read for a draft, at most (a storm's first listed: the rest are
given one status paragraph for many)."""


async def read_drafts(handover: HandoverState) -> None:
    """Each incident's latest PagerDuty note, as the draft of its status form's last action. In the
    background: the handover never waits for it, and a failure only leaves the forms blank."""
    progress = handover.progress
    if not decisions.outgoing_can_answer(progress.request):
        return
    waiting = [i for i in progress.incidents if i.outcome is Outcome.PENDING and i.status_given is None]
    if not waiting:
        return
    ids = [item.incident.id for item in waiting[:DRAFTS_READ]]
    try:
        drafts = await workflow.execute_activity_method(PagerDutyActivities.latest_notes, ids, **DRAFTS)
    except ActivityError as error:
        if not isinstance(error.cause, CancelledError):  # (cancelled: the handover ended first)
            handover.log(logging.WARNING, "no drafts for the status forms: %s", reason(error))
        return
    notes = {draft.incident_id: draft.note for draft in drafts}
    for item in waiting:
        item.draft = notes.get(item.incident.id)


async def hand_over_incidents(handover: HandoverState, items: list[IncidentHandover]) -> None:
    """Per incident: status paragraph (outgoing), note + reassign, explicit ack (incoming)."""
    no_status_needed = not decisions.outgoing_can_answer(handover.progress.request)
    await handover.side_by_side(
        as_ready(
            handover,
            items,
            _reassign,
            when=lambda i: i.status is not None or no_status_needed,
            done=lambda i: i.reassigned is not None,
        ),
        as_ready(
            handover,
            items,
            _acknowledge,
            when=lambda i: i.acknowledged is not None and i.reassigned is not None,
            # Acknowledgements come one by one (a click, a PagerDuty ack): gathered for a moment
            # into one bulk update, instead of an activity each.
            gather=GATHER_ACKNOWLEDGEMENTS,
            more_coming=lambda: any(i.acknowledged is None and i.outcome is Outcome.PENDING for i in items),
        ),
    )


def _handover_batch(handover: HandoverState, notes: list[IncidentNote]) -> IncidentHandoverBatch:
    return IncidentHandoverBatch(
        from_email=handover.acting_as,
        outgoing_id=handover.outgoing.pagerduty_id,
        incoming_id=handover.incoming.pagerduty_id,
        items=notes,
    )


def _ack_batch(handover: HandoverState, items: list[IncidentHandover]) -> IncidentAckBatch:
    return IncidentAckBatch(
        from_email=handover.incoming.email,
        incoming_id=handover.incoming.pagerduty_id,
        outgoing_id=handover.outgoing.pagerduty_id,
        incident_ids=[item.incident.id for item in items],
    )


async def _reassign(handover: HandoverState, batch: list[IncidentHandover]) -> None:
    # A reassignment without a status paragraph is not a handover: the note goes first.
    progress = handover.progress
    why = progress.request.emergency_reason
    notes = []
    for item in batch:
        if item.status is not None:
            note = messages.status_note(item.status, handover.outgoing, handover.incoming, progress.key)
        else:
            assert why is not None
            note = messages.emergency_note(
                why, handover.outgoing, handover.incoming, progress.key, messages.channel_of(progress)
            )
        notes.append(IncidentNote(incident_id=item.incident.id, note=note))
        item.stage = "posting the note and reassigning"
    work = _handover_batch(handover, notes)
    results = await run_batch(
        handover, PagerDutyActivities.hand_over_incidents, work, [n.incident_id for n in notes], STATUSES
    )
    for item, result in zip(batch, results, strict=True):
        if result.outcome is Outcome.HANDED_OVER:
            item.note_id = result.ref
            item.kept = result.kept
            item.reassigned = Done(by=handover.acting_as, at=workflow.now())
            item.stage = "waiting for acknowledgement" if item.acknowledged is None else "acknowledging"
        else:
            finish(item, result)


async def _acknowledge(handover: HandoverState, batch: list[IncidentHandover]) -> None:
    work = _ack_batch(handover, batch)
    results = await run_batch(
        handover, PagerDutyActivities.acknowledge_incidents, work, work.incident_ids, ACKS
    )
    for item, result in zip(batch, results, strict=True):
        finish(item, result)


async def rescan_incidents(handover: HandoverState) -> None:
    """Just before the summary: incidents assigned to outgoing during the window, the same way."""
    progress = handover.progress
    while True:
        found = await workflow.execute_activity_method(
            PagerDutyActivities.list_open_incidents, handover.outgoing.pagerduty_id, **LOOKUP
        )
        known = {item.incident.id for item in progress.incidents}
        back = {i.id for i in found if i.id in known and i.left_alone is None}
        strays = [
            item
            for item in progress.incidents
            if item.incident.id in back and item.outcome is Outcome.HANDED_OVER and item.note_id
        ]
        if strays and workflow.patched(RESCAN_PATCH):
            await _reassign_again(handover, strays)
        new = [left_alone(IncidentHandover(incident=i, rescanned=True)) for i in found if i.id not in known]
        if not new:
            return
        handover.log(logging.INFO, "re-scan found %d new incidents", len(new))
        progress.incidents.extend(new)
        if workflow.patched(RESCAN_PATCH):
            # Owed from now, not from the inventory; and the outgoing admin hears of them
            # first in the thread, not from an escalation.
            for item in new:
                item.found_at = workflow.now()
            found_now = [item for item in new if item.outcome is Outcome.PENDING]
            if found_now:
                await handover.post(
                    f"rescan:{found_now[0].incident.id}", messages.rescanned(progress, found_now), thread=True
                )
        await hand_over_incidents(handover, new)


async def _reassign_again(handover: HandoverState, items: list[IncidentHandover]) -> None:
    """Incidents handed over that are the outgoing admin's again (someone assigned them back,
    or another handover sharing one wrote over our reassignment): reassigned once more, from
    what they are now. Their note stands."""
    handover.log(logging.INFO, "re-scan found %d handed-over incidents back with outgoing", len(items))
    for start in range(0, len(items), BATCH_SIZE):
        batch = items[start : start + BATCH_SIZE]
        notes = [IncidentNote(incident_id=i.incident.id, note="", note_id=i.note_id) for i in batch]
        ids = [i.incident.id for i in batch]
        results = await run_batch(
            handover, PagerDutyActivities.hand_over_incidents, _handover_batch(handover, notes), ids, STATUSES
        )
        again = []
        for item, result in zip(batch, results, strict=True):
            if result.outcome is Outcome.HANDED_OVER:
                item.kept = result.kept
                item.detail = "assigned back to the outgoing admin after its handover; reassigned again"
                again.append(item)
            elif result.outcome is Outcome.FAILED:
                finish(item, result)
            else:  # resolved or moved on meanwhile: it was handed over all the same
                item.detail = result.detail
        # A reassignment un-acknowledges it in PagerDuty: incoming's acknowledgement, again.
        acknowledged = [i for i in again if i.acknowledged is not None]
        if acknowledged:
            acks = _ack_batch(handover, acknowledged)
            answers = await run_batch(
                handover, PagerDutyActivities.acknowledge_incidents, acks, acks.incident_ids, ACKS
            )
            for item, result in zip(acknowledged, answers, strict=True):
                if result.outcome is Outcome.FAILED:
                    finish(item, result)
