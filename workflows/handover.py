"""The runbook "Hand over platform on-call duties", as one durable workflow.

Read it next to the runbook: `run` is the procedure, one method per step, named after it; the
runbook's variations are branches at the steps they change (`request.variant`). Deterministic:
all I/O is in activities, time is `workflow.now()` and durable timers.

Human inputs are Updates with validators (a wrong actor, unknown item, duplicate or malformed
input is rejected before anything reaches history) and each has a Signal twin with the same name
and payload, for channels that must not fail when no worker is up; one `_check_*` and one
`_apply_*` behind both. A signal that fails its check is recorded in `progress.rejected`.

Waiting on people: every wait goes through `_wait`, which a cancel ends. A cancel never stops an
activity half-way: a batch in flight finishes, everything not started is left untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import (
        FreezeRequest,
        IncidentAckBatch,
        IncidentHandoverBatch,
        IncidentNote,
        OnCallQuery,
        PagerDutyActivities,
    )
    from activities.platform import (
        AnnotationBatch,
        AnnotationWork,
        AuditQuery,
        EndSessions,
        OwnershipBatch,
        OwnershipWork,
        PlatformActivities,
        TicketBatch,
        TicketWork,
    )
    from activities.slack import ReactionWatch, SlackActivities, SlackPost, SummaryPost
    from handover import decisions, messages, visibility
    from handover.errors import AlreadyDone, HandoverError, NotAllowed, NotReady, UnknownItem
    from handover.models import (
        Admin,
        AllItemsInput,
        AuditResult,
        CancelInput,
        Cancellation,
        ContextDigest,
        Done,
        EngineeringLinkInput,
        HandoverProgress,
        HandoverReport,
        HandoverRequest,
        IncidentAckInput,
        IncidentHandover,
        IncidentStatusInput,
        InputAccepted,
        InputKind,
        ItemResult,
        MitigatedInput,
        Outcome,
        PagerDutyEvent,
        Phase,
        RejectedInput,
        ReminderMark,
        RolloutAnnotation,
        RolloutAnnotationInput,
        RolloutHandover,
        RolloutOwnershipInput,
        SlackActionEvent,
        SlackReactionEvent,
        StatusParagraph,
        Summary,
        SummaryAckInput,
        TicketAction,
        TicketHandover,
        UnclearThread,
        UnclearThreadInput,
        Variant,
    )
    from workflows import lookups
    from workflows.lookups import LOOKUP

T = TypeVar("T")

BATCH_SIZE = 250
"""Items per activity call; PagerDuty's bulk `PUT /incidents` takes at most 250."""

BATCH = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
AUDIT = dict(
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=20),
    # The audit log lags behind the session end: tolerate about five minutes of it.
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
    ),
)
WATCH_ATTEMPT = dict(
    # One attempt of a watch (the major incident, the summary's reactions) lasts at most
    # HANDOVER_WATCH_SECONDS (10 minutes at most) and heartbeats at every read.
    start_to_close_timeout=timedelta(minutes=15),
    heartbeat_timeout=timedelta(minutes=2),
)
REACTION_POLL = timedelta(minutes=1)
"""The pause between two watches of the summary's reactions."""
GATHER_ACKNOWLEDGEMENTS = timedelta(seconds=2)
"""How long an acknowledgement waits for others to go to PagerDuty with it, in one bulk update."""
GATHER_PATCH = "gather-acknowledgements"
"""`workflow.patched` id: handovers started before acknowledgements were gathered replay without."""
WAITING_ON_PATCH = "waiting-on"
"""`workflow.patched` id: handovers started before `HandoverWaitingOn` existed replay without it
(and never set it: `starter.py list --waiting-on` finds only handovers started since)."""
RESCAN_PATCH = "rescan-found-at"
"""`workflow.patched` id: an incident the re-scan finds is owed from when it was found, and told in
the thread; handovers started before replay without."""
LOOK_AHEAD_PATCH = "reminder-look-ahead"
"""`workflow.patched` id: reminders look ahead a quarter of the shortest interval at most (was a
minute, which chased every input at once with `--remind-after 1m`)."""
RENEW_BEFORE = timedelta(minutes=15)
"""The override is extended this long (or a quarter of the overlap) before it would run out while
the handover goes on."""
CHANNEL_LOOKBACK = timedelta(hours=1)
"""Emergency digest: the last hour of #novavms-platform-ops."""


class Cancelled(Exception):
    """Raised at a wait point once the handover is cancelled; `run` winds down."""


class Halted(Exception):
    """Raised at a wait point once a sibling step failed for good; `run` winds down."""


@workflow.defn
class HandoverWorkflow:
    @workflow.init
    def __init__(self, request: HandoverRequest) -> None:
        self._progress = HandoverProgress(
            handover_id=workflow.info().workflow_id,
            run_id=workflow.info().run_id,
            request=request,
            started_at=workflow.now(),
        )
        self._open_sessions: list[str] = []
        self._stop_reminders = False
        self._publishing: asyncio.Task[None] | None = None
        self._stop_freezing = False
        self._failure: HandoverError | ActivityError | None = None
        self._held: list[tuple[InputKind, Any, Callable[[Any], Any], Callable[[Any], Any]]] = []
        """Signals that came before the handover could take them; checked again as it moves on."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        if workflow.patched(WAITING_ON_PATCH):
            self._publishing = asyncio.create_task(self.keep_waiting_on_current())
        try:
            await self.validate()
        except (HandoverError, ActivityError) as error:
            # Step 0 refused the request: nothing was done, the requester hears why.
            self._progress.error = _reason(error)
            self._set_phase(Phase.FAILED)
            raise
        reminders: asyncio.Task[None] | None = None
        frozen: asyncio.Task[None] | None = None
        try:
            await self.announce()
            reminders = asyncio.create_task(self.remind_and_escalate())
            if request.variant is Variant.MID_SHIFT:
                await self.wait_for_mitigation()
            self._check_cancelled()
            await self.freeze_assignments()
            if self._progress.override is not None:
                frozen = asyncio.create_task(self.keep_assignments_frozen())
            await self.take_inventory()
            self._check_cancelled()
            if decisions.acts_as_service(request):
                await self.end_every_impersonation()
            self._check_cancelled()
            self._set_phase(Phase.HANDING_OVER)
            await self._all(
                self.hand_over_incidents(self._progress.incidents),
                self.hand_over_tickets(),
                self.transfer_rollouts(),
                *([self.build_digest()] if request.variant is Variant.EMERGENCY else []),
            )
            await self.rescan_incidents()
            await self.post_summary()
            if request.offboarding:
                await self.audit_impersonation()
            self._stop_freezing = True  # every step is done: the current override sees the overlap out
            await self.wait_for_overlap()
            self._set_phase(Phase.COMPLETED)
        except Cancelled:
            await self.wind_down()
        except (HandoverError, ActivityError) as error:
            # Something refused for good after step 0: every item still gets its outcome, and
            # the report (phase failed, with the reason) is still the result.
            await self.wind_down(failure=_reason(error))
        finally:
            self._stop_reminders = self._stop_freezing = True
            for task in (reminders, frozen):
                if task is not None:
                    await task
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._count_outcomes()
        return HandoverReport(**self._progress.model_dump(), completed_at=workflow.now())

    def _count_outcomes(self) -> None:
        """Prometheus counters of how handovers and their items end (README, "Metrics"). The SDK's
        meter does not count again when a worker replays the handover."""
        progress, meter = self._progress, workflow.metric_meter()
        variant = progress.request.variant.value
        meter.create_counter("handover_ended", "Handovers ended, by variant and phase").add(
            1, {"variant": variant, "phase": progress.phase.name.lower()}
        )
        items = meter.create_counter("handover_items", "Items of ended handovers, by kind and outcome")
        for kind, handed in (
            ("incident", progress.incidents),
            ("ticket", progress.tickets),
            ("rollout", progress.rollouts),
        ):
            for outcome, count in Counter(item.outcome.value for item in handed).items():
                items.add(count, {"variant": variant, "kind": kind, "outcome": outcome})

    # --- step 0: validate --------------------------------------------------------------------

    async def validate(self) -> None:
        """Both admins resolve in PagerDuty, the platform and Slack; both are platform admins; the
        Slack bot can post and read in the channel. Nothing is written before this holds."""
        progress, request = self._progress, self._progress.request
        self._set_phase(Phase.VALIDATING)
        progress.outgoing, progress.incoming, progress.channel = await lookups.resolve_admins(
            request.outgoing, request.incoming
        )
        progress.acting_as = progress.outgoing.email
        if decisions.acts_as_service(request):
            progress.acting_as = await lookups.service_identity()
        if request.variant is Variant.MID_SHIFT and request.major_incident and request.senior:
            progress.major_incident = await lookups.major_incident(request.major_incident)
            progress.lead = request.senior
            progress.shadow = request.incoming if request.senior == request.outgoing else request.outgoing

    async def announce(self) -> None:
        """The handover's message in the channel (mid-shift: who leads, who shadows)."""
        self._progress.thread_ts = await self._post("announcement", messages.announcement(self._progress))

    # --- mid-shift outage: the senior leads until it is mitigated ------------------------------

    async def wait_for_mitigation(self) -> None:
        """Until someone calls it mitigated, or the major incident leaves triggered/acknowledged."""
        progress = self._progress
        self._set_phase(Phase.OUTAGE)
        assert progress.major_incident is not None
        status = await self._watch_until(
            PagerDutyActivities.wait_until_resolved,
            progress.major_incident.id,
            progress.request.mitigation_poll,
            done=lambda: progress.mitigated is not None,
        )
        if progress.mitigated is not None:
            return
        if status is None:  # the watch gave up (the incident is gone?): a person calls it
            await self._wait(lambda: progress.mitigated is not None)
            return
        progress.mitigated = Done(by="PagerDuty", at=workflow.now())
        progress.mitigation_note = f"#{progress.major_incident.number} is {status} in PagerDuty"

    # --- step 1: freeze new PagerDuty assignments --------------------------------------------

    async def freeze_assignments(self) -> None:
        """Override: incoming is primary for the whole window. The outgoing admin stays on."""
        progress = self._progress
        self._set_phase(Phase.FREEZING)
        start = workflow.now().replace(microsecond=0)
        end = start + progress.request.overlap
        if not decisions.makes_override(progress.request):
            # Routine rotation: PagerDuty's auto-rotation gives the overlap; check it does.
            query = OnCallQuery(user_id=self._incoming.pagerduty_id, start=start, end=end)
            progress.on_call = await workflow.execute_activity_method(
                PagerDutyActivities.check_on_call, query, **LOOKUP
            )
            return
        window = FreezeRequest(user_id=self._incoming.pagerduty_id, start=start, end=end)
        progress.override = await workflow.execute_activity_method(
            PagerDutyActivities.freeze_assignments, window, **LOOKUP
        )
        progress.overlap_ends_at = end

    async def keep_assignments_frozen(self) -> None:
        """The override covers the whole handover window, not only the first overlap: while people
        are still handing over, a next override continues it before it runs out."""
        progress = self._progress
        renew_before = min(RENEW_BEFORE, progress.request.overlap / 4)  # (a demo's overlap is short)
        while True:
            current = progress.extensions[-1] if progress.extensions else progress.override
            assert current is not None
            try:
                await workflow.wait_condition(
                    lambda: self._stop_freezing,
                    timeout=max(current.end - renew_before - workflow.now(), timedelta(seconds=1)),
                )
                return
            except TimeoutError:
                pass
            window = FreezeRequest(
                user_id=self._incoming.pagerduty_id,
                start=current.end,
                end=current.end + progress.request.overlap,
            )
            try:
                extension = await workflow.execute_activity_method(
                    PagerDutyActivities.freeze_assignments, window, **LOOKUP
                )
            except ActivityError as error:
                self._log(logging.WARNING, "could not extend the override: %s", _reason(error))
                await self._post(
                    "override-not-extended", messages.override_lapses(progress, _reason(error)), thread=True
                )
                return
            progress.extensions.append(extension)

    async def take_inventory(self) -> None:
        """What outgoing owns: incidents, pinned tickets (and sessions), rollouts in flight."""
        progress, request = self._progress, self._progress.request
        found = await lookups.take_inventory(self._outgoing)
        now = workflow.now()
        progress.inventory_at = now
        progress.incidents = [
            _left_alone(IncidentHandover(incident=incident)) for incident in found.incidents
        ]
        sessions = found.pinned.open_sessions
        self._open_sessions = sorted(session.id for session in sessions)
        progress.tickets = [
            _left_alone(
                TicketHandover(
                    ticket=ticket,
                    action=decisions.ticket_action(ticket, sessions),
                    sessions_to_end=decisions.sessions_to_end(ticket, sessions),
                    engineering_issue=ticket.engineering_issue,
                )
            )
            for ticket in found.pinned.tickets
        ]
        progress.rollouts = [_left_alone(RolloutHandover(rollout=rollout)) for rollout in found.rollouts]
        if request.emergency_reason is not None:
            # Nobody can annotate for an absent admin: the console's figures (an unknown error
            # rate stays unknown), and no next step.
            for item in progress.rollouts:
                if item.outcome is not Outcome.PENDING:
                    continue
                item.annotation = RolloutAnnotation(
                    ramp_percent=item.rollout.ramp_percent,
                    error_rate=item.rollout.error_rate,
                    next_step=messages.emergency_next_step(request.emergency_reason),
                )
                item.annotated = Done(by=self._acting_as, at=now)
        await self._post("to-do", messages.to_do(progress, decisions.pending_inputs(progress)), thread=True)

    async def end_every_impersonation(self) -> None:
        """Compromised: end all of outgoing's open sessions, whatever the ticket, before anything moves."""
        work = EndSessions(
            handover_id=self._progress.handover_id,
            admin=self._outgoing.email,
            acting_as=self._acting_as,
            session_ids=self._open_sessions,
        )
        self._progress.sessions_ended_first = await workflow.execute_activity_method(
            PlatformActivities.end_sessions, work, **BATCH
        )

    # --- step 2: walk through open incidents -------------------------------------------------

    async def hand_over_incidents(self, items: list[IncidentHandover]) -> None:
        """Per incident: status paragraph (outgoing), note + reassign, explicit ack (incoming)."""
        no_status_needed = not decisions.outgoing_can_answer(self._progress.request)
        await self._all(
            self._as_ready(
                ready=lambda: [
                    i
                    for i in items
                    if (i.status is not None or no_status_needed)
                    and i.reassigned is None
                    and i.outcome is Outcome.PENDING
                ],
                finished=lambda: all(
                    i.reassigned is not None or i.outcome is not Outcome.PENDING for i in items
                ),
                run=self._reassign_incidents,
            ),
            self._as_ready(
                ready=lambda: [
                    i
                    for i in items
                    if i.acknowledged is not None
                    and i.reassigned is not None
                    and i.outcome is Outcome.PENDING
                ],
                finished=lambda: all(i.outcome is not Outcome.PENDING for i in items),
                run=self._acknowledge_incidents,
                # Acknowledgements come one by one (a click, a PagerDuty ack): gathered for a moment
                # into one bulk update, instead of an activity each.
                gather=GATHER_ACKNOWLEDGEMENTS,
                more_coming=lambda: any(
                    i.acknowledged is None and i.outcome is Outcome.PENDING for i in items
                ),
            ),
        )

    async def _reassign_incidents(self, batch: list[IncidentHandover]) -> None:
        # A reassignment without a status paragraph is not a handover: the note goes first.
        progress = self._progress
        reason = progress.request.emergency_reason
        notes = []
        for item in batch:
            if item.status is not None:
                note = messages.status_note(item.status, self._outgoing, self._incoming, progress.key)
            else:
                assert reason is not None
                note = messages.emergency_note(
                    reason, self._outgoing, self._incoming, progress.key, messages.channel_of(progress)
                )
            notes.append(IncidentNote(incident_id=item.incident.id, note=note))
            item.stage = "posting the note and reassigning"
        work = IncidentHandoverBatch(
            from_email=self._acting_as,
            outgoing_id=self._outgoing.pagerduty_id,
            incoming_id=self._incoming.pagerduty_id,
            items=notes,
        )
        results = await self._run_batch(
            PagerDutyActivities.hand_over_incidents, work, [n.incident_id for n in notes]
        )
        for item, result in zip(batch, results, strict=True):
            if result.outcome is Outcome.HANDED_OVER:
                item.note_id = result.ref
                item.kept = result.kept
                item.reassigned = Done(by=self._acting_as, at=workflow.now())
                item.stage = "waiting for acknowledgement" if item.acknowledged is None else "acknowledging"
            else:
                self._finish(item, result)

    async def _acknowledge_incidents(self, batch: list[IncidentHandover]) -> None:
        work = IncidentAckBatch(
            from_email=self._incoming.email,
            incoming_id=self._incoming.pagerduty_id,
            outgoing_id=self._outgoing.pagerduty_id,
            incident_ids=[item.incident.id for item in batch],
        )
        results = await self._run_batch(PagerDutyActivities.acknowledge_incidents, work, work.incident_ids)
        for item, result in zip(batch, results, strict=True):
            self._finish(item, result)

    async def rescan_incidents(self) -> None:
        """Just before the summary: incidents assigned to outgoing during the window, the same way."""
        while True:
            found = await workflow.execute_activity_method(
                PagerDutyActivities.list_open_incidents, self._outgoing.pagerduty_id, **LOOKUP
            )
            known = {item.incident.id for item in self._progress.incidents}
            back = {i.id for i in found if i.id in known and i.left_alone is None}
            strays = [
                item
                for item in self._progress.incidents
                if item.incident.id in back and item.outcome is Outcome.HANDED_OVER and item.note_id
            ]
            if strays and workflow.patched(RESCAN_PATCH):
                await self._reassign_again(strays)
            new = [
                _left_alone(IncidentHandover(incident=i, rescanned=True)) for i in found if i.id not in known
            ]
            if not new:
                return
            self._log(logging.INFO, "re-scan found %d new incidents", len(new))
            self._progress.incidents.extend(new)
            if workflow.patched(RESCAN_PATCH):
                # Owed from now, not from the inventory; and the outgoing admin hears of them
                # first in the thread, not from an escalation.
                for item in new:
                    item.found_at = workflow.now()
                found_now = [item for item in new if item.outcome is Outcome.PENDING]
                if found_now:
                    await self._post(
                        f"rescan:{found_now[0].incident.id}",
                        messages.rescanned(self._progress, found_now),
                        thread=True,
                    )
            await self.hand_over_incidents(new)

    async def _reassign_again(self, items: list[IncidentHandover]) -> None:
        """Incidents handed over that are the outgoing admin's again (someone assigned them back,
        or another handover sharing one wrote over our reassignment): reassigned once more, from
        what they are now. Their note stands."""
        self._log(logging.INFO, "re-scan found %d handed-over incidents back with outgoing", len(items))
        for start in range(0, len(items), BATCH_SIZE):
            batch = items[start : start + BATCH_SIZE]
            work = IncidentHandoverBatch(
                from_email=self._acting_as,
                outgoing_id=self._outgoing.pagerduty_id,
                incoming_id=self._incoming.pagerduty_id,
                items=[IncidentNote(incident_id=i.incident.id, note="", note_id=i.note_id) for i in batch],
            )
            ids = [i.incident.id for i in batch]
            results = await self._run_batch(PagerDutyActivities.hand_over_incidents, work, ids)
            again = []
            for item, result in zip(batch, results, strict=True):
                if result.outcome is Outcome.HANDED_OVER:
                    item.kept = result.kept
                    item.detail = "assigned back to the outgoing admin after its handover; reassigned again"
                    again.append(item)
                elif result.outcome is Outcome.FAILED:
                    self._finish(item, result)
                else:  # resolved or moved on meanwhile: it was handed over all the same
                    item.detail = result.detail
            # A reassignment un-acknowledges it in PagerDuty: incoming's acknowledgement, again.
            acknowledged = [i for i in again if i.acknowledged is not None]
            if acknowledged:
                acks = IncidentAckBatch(
                    from_email=self._incoming.email,
                    incoming_id=self._incoming.pagerduty_id,
                    outgoing_id=self._outgoing.pagerduty_id,
                    incident_ids=[i.incident.id for i in acknowledged],
                )
                answers = await self._run_batch(
                    PagerDutyActivities.acknowledge_incidents, acks, acks.incident_ids
                )
                for item, result in zip(acknowledged, answers, strict=True):
                    if result.outcome is Outcome.FAILED:
                        self._finish(item, result)

    # --- step 3: hand over pinned support tickets --------------------------------------------

    async def hand_over_tickets(self) -> None:
        """Per pinned ticket, by state: label, engineering link, or end impersonation first."""
        items = self._progress.tickets
        link_needed = decisions.outgoing_can_answer(self._progress.request)
        for item in items:
            if (
                link_needed
                and item.outcome is Outcome.PENDING
                and item.action is TicketAction.LINK_ENGINEERING_ISSUE
                and item.engineering_issue is None
            ):
                item.stage = "waiting for engineering issue"
        await self._as_ready(
            ready=lambda: [
                t
                for t in items
                if t.outcome is Outcome.PENDING
                and (
                    not link_needed
                    or t.action is not TicketAction.LINK_ENGINEERING_ISSUE
                    or t.engineering_issue is not None
                )
            ],
            finished=lambda: all(t.outcome is not Outcome.PENDING for t in items),
            run=self._hand_over_tickets,
        )

    async def _hand_over_tickets(self, batch: list[TicketHandover]) -> None:
        work = TicketBatch(
            handover_id=self._progress.handover_id,
            outgoing=self._outgoing.email,
            incoming=self._incoming.email,
            acting_as=self._acting_as,
            items=[
                TicketWork(
                    ticket_id=item.ticket.id,
                    action=item.action,
                    sessions_to_end=item.sessions_to_end,
                    engineering_issue=item.engineering_issue,
                )
                for item in batch
            ],
        )
        for item in batch:
            item.stage = "handing over"
        results = await self._run_batch(
            PlatformActivities.hand_over_tickets, work, [i.ticket.id for i in batch]
        )
        for item, result in zip(batch, results, strict=True):
            item.sessions_ended = result.sessions_ended
            if result.outcome is Outcome.HANDED_OVER:
                item.reassigned = Done(by=self._acting_as, at=workflow.now())
                if item.action is TicketAction.LINK_ENGINEERING_ISSUE and item.engineering_issue is None:
                    result.detail = "no engineering issue linked: the outgoing admin could not name one"
            self._finish(item, result)

    # --- step 4: transfer feature-flag rollouts in flight ------------------------------------

    async def transfer_rollouts(self) -> None:
        """Per rollout ramping or paused: annotation (outgoing), then ownership (incoming)."""
        items = self._progress.rollouts
        await self._all(
            self._as_ready(
                ready=lambda: [
                    r
                    for r in items
                    if r.annotated is not None and r.annotation_id is None and r.outcome is Outcome.PENDING
                ],
                finished=lambda: all(
                    r.annotation_id is not None or r.outcome is not Outcome.PENDING for r in items
                ),
                run=self._annotate_rollouts,
            ),
            self._as_ready(
                ready=lambda: [
                    r
                    for r in items
                    if r.owned is not None and r.annotation_id is not None and r.outcome is Outcome.PENDING
                ],
                finished=lambda: all(r.outcome is not Outcome.PENDING for r in items),
                run=self._transfer_ownership,
            ),
        )

    async def _annotate_rollouts(self, batch: list[RolloutHandover]) -> None:
        work = AnnotationBatch(
            handover_id=self._progress.key,
            acting_as=self._acting_as,
            outgoing=self._outgoing.email,
            incoming=self._incoming.email,
            items=[
                AnnotationWork(rollout_id=r.rollout.id, annotation=r.annotation)
                for r in batch
                if r.annotation
            ],
        )
        for item in batch:
            item.stage = "annotating"
        results = await self._run_batch(
            PlatformActivities.annotate_rollouts, work, [r.rollout.id for r in batch]
        )
        for item, result in zip(batch, results, strict=True):
            if result.outcome is Outcome.HANDED_OVER:
                item.annotation_id = result.ref
                item.stage = "waiting for ownership" if item.owned is None else "transferring ownership"
            else:
                self._finish(item, result)

    async def _transfer_ownership(self, batch: list[RolloutHandover]) -> None:
        work = OwnershipBatch(
            incoming=self._incoming.email,
            outgoing=self._outgoing.email,
            items=[
                OwnershipWork(rollout_id=r.rollout.id, annotation_id=r.annotation_id or "") for r in batch
            ],
        )
        for item in batch:
            item.stage = "transferring ownership"
        results = await self._run_batch(
            PlatformActivities.transfer_rollout_ownership, work, [r.rollout.id for r in batch]
        )
        for item, result in zip(batch, results, strict=True):
            self._finish(item, result)

    # --- emergency: context for incoming instead of status paragraphs --------------------------

    async def build_digest(self) -> None:
        """PagerDuty history and notes, ticket comments, the last hour of the channel."""
        progress = self._progress
        # What a person can read: the digest shows at most LIST_LIMIT of each (an alert storm
        # has thousands), so only those are read — high urgency first, newest first.
        incidents_read = [
            i.incident.id
            for i in sorted(
                messages.theirs(progress.incidents),
                key=lambda i: (i.incident.urgency != "high", -i.incident.created_at.timestamp()),
            )[: messages.LIST_LIMIT]
        ]
        tickets_read = [t.ticket.id for t in messages.theirs(progress.tickets)[: messages.LIST_LIMIT]]
        incidents, tickets, channel = await asyncio.gather(
            workflow.execute_activity_method(PagerDutyActivities.incident_history, incidents_read, **BATCH),
            workflow.execute_activity_method(PlatformActivities.ticket_comments, tickets_read, **BATCH),
            workflow.execute_activity_method(
                SlackActivities.recent_channel, workflow.now() - CHANNEL_LOOKBACK, **BATCH
            ),
            return_exceptions=True,  # a digest with a gap beats no handover
        )
        parts = (("PagerDuty history", incidents), ("ticket comments", tickets), ("the channel", channel))
        progress.digest = ContextDigest(
            built_at=workflow.now(),
            incidents=incidents if isinstance(incidents, list) else [],
            tickets=tickets if isinstance(tickets, list) else [],
            channel=channel if isinstance(channel, list) else [],
            gaps=[f"{name}: {_reason(part)}" for name, part in parts if isinstance(part, BaseException)],
        )

    # --- step 5: post the handover summary ---------------------------------------------------

    async def post_summary(self) -> None:
        """The runbook's sentence in the channel, details in its thread; incoming :+1:s it."""
        progress = self._progress
        now = workflow.now()
        text = messages.summary_text(
            self._outgoing,
            self._incoming,
            now,
            incidents=_handed_over(progress.incidents),
            tickets=_handed_over(progress.tickets),
            rollouts=_handed_over(progress.rollouts),
        )
        details = [
            messages.incidents_detail(progress.incidents),
            messages.tickets_detail(progress.tickets),
            messages.rollouts_detail(progress.rollouts),
        ]
        if progress.on_call is not None and not progress.on_call.on_call:
            details.append(messages.on_call_warning(progress))
        if progress.digest is not None:
            details.append(messages.digest_text(progress, progress.digest))
        post = SummaryPost(
            handover_id=progress.key,
            since=progress.started_at,
            text=text,
            blocks=messages.summary_blocks(text, progress.handover_id),
            # Readable replies, not one wall each. (The same one activity: replays are unchanged.)
            details=[reply for detail in details for reply in messages.in_replies(detail)],
        )
        posted = await workflow.execute_activity_method(SlackActivities.post_summary, post, **BATCH)
        summary = progress.summary = Summary(channel=posted.channel, ts=posted.ts, text=text, posted_at=now)
        self._set_phase(Phase.SUMMARY)
        # The :+1: comes as a Slack event, a button press, the console or the CLI; where Slack
        # cannot reach the endpoint, the summary's reactions are also watched.
        if self._incoming.slack_id:
            watch = ReactionWatch(channel=summary.channel, ts=summary.ts, user_id=self._incoming.slack_id)
            reaction = await self._watch_until(
                SlackActivities.wait_for_thumbs_up,
                watch,
                REACTION_POLL,
                done=lambda: summary.acknowledged is not None,
            )
            if reaction is not None and summary.acknowledged is None:
                summary.acknowledged = Done(by=self._incoming.email, at=workflow.now())
                self._log(logging.INFO, "summary acknowledged with :%s: in Slack", reaction)
        await self._wait(lambda: summary.acknowledged is not None)

    # --- step 6: audit check (offboarding only) ----------------------------------------------

    async def audit_impersonation(self) -> None:
        """`platform.impersonation_ended` for every session closed in step 3, or the gap, reported."""
        progress = self._progress
        self._set_phase(Phase.AUDITING)
        ended = sorted(
            {session for ticket in progress.tickets for session in ticket.sessions_ended}
            | set(progress.sessions_ended_first)
        )
        try:
            result = await workflow.execute_activity_method(
                PlatformActivities.audit_impersonation,
                AuditQuery(session_ids=ended, since=progress.started_at),
                **AUDIT,
            )
        except ActivityError as error:
            cause = error.cause
            missing = (
                list(cause.details[0])
                if isinstance(cause, ApplicationError) and cause.type == "AuditGap" and cause.details
                else ended
            )
            result = AuditResult(checked_sessions=ended, missing_sessions=missing, checked_at=workflow.now())
        progress.audit = result
        if progress.summary is not None:
            text = messages.audit_text(result.missing_sessions, len(ended))
            await self._post("audit", text, thread_ts=progress.summary.ts)

    # --- end: the overlap runs out -----------------------------------------------------------

    async def wait_for_overlap(self) -> None:
        ends = self._progress.overlap_ends_at
        if ends is None or ends <= workflow.now():
            return
        self._set_phase(Phase.OVERLAP)
        try:
            await self._wait(lambda: False, timeout=ends - workflow.now())
        except TimeoutError:
            pass

    async def wind_down(self, failure: str | None = None) -> None:
        """After a cancel (or a failure): what moved is reported as moved; the rest was left alone."""
        progress = self._progress
        if failure is not None:
            progress.error = failure
            reason = f"not handed over: the handover failed ({failure})"
        else:
            assert progress.cancelled is not None
            reason = f"cancelled by {progress.cancelled.by} before it was handed over"
        for incident in progress.incidents:
            if incident.outcome is Outcome.PENDING and incident.reassigned is not None:
                incident.outcome = Outcome.HANDED_OVER
                incident.detail = "reassigned with its note; not acknowledged"
        for rollout in progress.rollouts:
            if rollout.outcome is Outcome.PENDING and rollout.annotation_id is not None:
                rollout.outcome = Outcome.NOT_HANDED_OVER
                rollout.detail = "annotated, but ownership was not transferred"
                rollout.stage = "annotated, not transferred"
        for item in [*progress.incidents, *progress.tickets, *progress.rollouts]:
            if item.outcome is Outcome.PENDING:
                item.outcome = Outcome.NOT_HANDED_OVER
                item.detail = reason
                item.stage = "left untouched"
        self._set_phase(Phase.FAILED if failure is not None else Phase.CANCELLED)
        if progress.thread_ts is not None:
            part, text = (
                ("failed", messages.failed_text(progress))
                if failure is not None
                else ("cancelled", messages.cancelled_text(progress))
            )
            try:
                await self._post(part, text)
            except ActivityError as error:
                self._log(logging.WARNING, "could not post the %s notice: %s", part, _reason(error))

    # --- visibility: who owes an input, for `starter.py list --waiting-on` and the UI ---------

    async def keep_waiting_on_current(self) -> None:
        """Keeps `HandoverWaitingOn` (and the UI's current details) up to date as inputs come in
        and items finish; one upsert per change of who owes, not per input."""
        published: list[str] = []

        def changed() -> bool:
            return decisions.waiting_on(self._progress) != published

        while True:
            await workflow.wait_condition(lambda: self._progress.phase.ended or changed())
            owing = decisions.waiting_on(self._progress)
            if owing != published:
                published = owing
                key = visibility.WAITING_ON
                workflow.upsert_search_attributes([key.value_set(owing) if owing else key.value_unset()])
                workflow.set_current_details(messages.current_details(self._progress, owing))
            if self._progress.phase.ended:
                return

    # --- reminders: chase whoever owes an input ------------------------------------------------

    async def remind_and_escalate(self) -> None:
        """A thread mention after `remind_after`, the channel after `escalate_after`, and again."""
        progress = self._progress
        while not self._stop_reminders:
            now = workflow.now()
            # (Handovers started before the look-ahead shrank with short intervals replay with a minute.)
            ahead = None if workflow.patched(LOOK_AHEAD_PATCH) else decisions.BATCHING
            remind, escalate = decisions.due_reminders(progress, now, ahead)
            for escalated, waits in ((False, remind), (True, escalate)):
                for owner in sorted({wait.owner for wait in waits}):
                    mine = [wait for wait in waits if wait.owner == owner]
                    level = "escalation" if escalated else "reminder"
                    text = messages.reminder(progress, owner, mine, escalated, now)
                    try:
                        await self._post(f"{level}:{owner}:{now.isoformat()}", text, thread=not escalated)
                    except ActivityError as error:
                        self._log(logging.WARNING, "could not post a %s: %s", level, _reason(error))
                    for wait in mine:
                        mark = progress.reminders.setdefault(decisions.reminder_key(wait), ReminderMark())
                        if escalated:
                            mark.escalated_at = now
                            mark.escalations += 1
                        else:
                            mark.reminded_at = now
            due = decisions.next_reminder_at(progress)
            if due is None:
                await workflow.wait_condition(
                    lambda: self._stop_reminders or decisions.next_reminder_at(progress) is not None
                )
                continue
            try:
                await workflow.wait_condition(
                    lambda due=due: (
                        self._stop_reminders or _earlier(decisions.next_reminder_at(progress), due)
                    ),
                    timeout=max(due - workflow.now(), timedelta(seconds=1)),
                )
            except TimeoutError:
                pass

    # --- progress ------------------------------------------------------------------------------

    @workflow.query
    def progress(self) -> HandoverProgress:
        return self._progress.model_copy(update={"pending": decisions.pending_inputs(self._progress)})

    # --- human inputs: an Update (validated) and a Signal twin, one check and apply behind both --

    @workflow.update(name=InputKind.STATUS.value)
    def submit_status(self, given: IncidentStatusInput) -> InputAccepted:
        return self._after_input(self._apply_status(given))

    @submit_status.validator
    def _validate_status(self, given: IncidentStatusInput) -> None:
        self._check_status(given)

    @workflow.signal(name=InputKind.STATUS.value)
    def submit_status_signal(self, given: IncidentStatusInput) -> None:
        self._from_signal(InputKind.STATUS, given, self._check_status, self._apply_status)

    def _check_status(self, given: IncidentStatusInput) -> IncidentHandover:
        self._check_actor(
            given.actor, self._progress.outgoing, "status paragraphs come from the outgoing admin"
        )
        if not decisions.outgoing_can_answer(self._progress.request):
            raise NotAllowed("an emergency handover takes no status paragraphs; the context digest stands in")
        item = self._find(self._progress.incidents, given.incident_id, "incident", lambda i: i.incident.id)
        if item.status_given is not None:
            raise AlreadyDone(
                f"the status for incident {given.incident_id} was given by {item.status_given.by} "
                f"at {item.status_given.at:%H:%M UTC}"
            )
        self._check_pending(item.outcome, "incident", given.incident_id)
        return item

    def _apply_status(self, given: IncidentStatusInput) -> InputAccepted:
        item = self._check_status(given)
        item.status = StatusParagraph(
            hypothesis=given.hypothesis, last_action=given.last_action, next_action=given.next_action
        )
        item.status_given = Done(by=given.actor, at=workflow.now())
        item.stage = "status received"
        return InputAccepted(
            kind=InputKind.STATUS,
            item_id=given.incident_id,
            message="status paragraph received; the note is posted and the incident reassigned",
        )

    @workflow.update(name=InputKind.INCIDENT_ACK.value)
    def acknowledge_incident(self, given: IncidentAckInput) -> InputAccepted:
        return self._after_input(self._apply_incident_ack(given))

    @acknowledge_incident.validator
    def _validate_incident_ack(self, given: IncidentAckInput) -> None:
        self._check_incident_ack(given)

    @workflow.signal(name=InputKind.INCIDENT_ACK.value)
    def acknowledge_incident_signal(self, given: IncidentAckInput) -> None:
        self._from_signal(InputKind.INCIDENT_ACK, given, self._check_incident_ack, self._apply_incident_ack)

    def _check_incident_ack(self, given: IncidentAckInput) -> IncidentHandover:
        self._check_actor(
            given.actor, self._progress.incoming, "the incoming admin acknowledges each reassignment"
        )
        item = self._find(self._progress.incidents, given.incident_id, "incident", lambda i: i.incident.id)
        if item.acknowledged is not None:
            raise AlreadyDone(
                f"incident {given.incident_id} was acknowledged by {item.acknowledged.by} already"
            )
        self._check_pending(item.outcome, "incident", given.incident_id)
        if item.status_given is None and decisions.outgoing_can_answer(self._progress.request):
            raise NotReady(
                f"incident {given.incident_id} has no status paragraph yet; "
                "acknowledge it once the outgoing admin has written one"
            )
        return item

    def _apply_incident_ack(self, given: IncidentAckInput) -> InputAccepted:
        item = self._check_incident_ack(given)
        item.acknowledged = Done(by=given.actor, at=workflow.now())
        if item.reassigned is not None:
            item.stage = "acknowledging"
        return InputAccepted(
            kind=InputKind.INCIDENT_ACK,
            item_id=given.incident_id,
            message="acknowledged; PagerDuty is updated",
        )

    @workflow.update(name=InputKind.ALL_INCIDENTS_ACK.value)
    def acknowledge_all_incidents(self, given: AllItemsInput) -> InputAccepted:
        return self._after_input(self._apply_all_incidents_ack(given))

    @acknowledge_all_incidents.validator
    def _validate_all_incidents_ack(self, given: AllItemsInput) -> None:
        self._check_all_incidents_ack(given)

    @workflow.signal(name=InputKind.ALL_INCIDENTS_ACK.value)
    def acknowledge_all_incidents_signal(self, given: AllItemsInput) -> None:
        self._from_signal(
            InputKind.ALL_INCIDENTS_ACK, given, self._check_all_incidents_ack, self._apply_all_incidents_ack
        )

    def _check_all_incidents_ack(self, given: AllItemsInput) -> list[IncidentHandover]:
        """An alert storm's thousands of incidents in one input (one history event, not thousands)."""
        self._check_actor(
            given.actor, self._progress.incoming, "the incoming admin acknowledges each reassignment"
        )
        if self._progress.inventory_at is None:
            raise NotReady("the incidents are not listed yet; try again in a few seconds")
        open_items = [
            i for i in self._progress.incidents if i.outcome is Outcome.PENDING and i.acknowledged is None
        ]
        if not open_items:
            raise AlreadyDone("every incident of this handover is acknowledged or finished already")
        no_status_needed = not decisions.outgoing_can_answer(self._progress.request)
        ready = [i for i in open_items if i.status_given is not None or no_status_needed]
        if not ready:
            raise NotReady(
                f"none of the {len(open_items)} incidents has a status paragraph yet; "
                "acknowledge them once the outgoing admin has written them"
            )
        return ready

    def _apply_all_incidents_ack(self, given: AllItemsInput) -> InputAccepted:
        ready = self._check_all_incidents_ack(given)
        now = workflow.now()
        for item in ready:
            item.acknowledged = Done(by=given.actor, at=now, via="acknowledge all")
            if item.reassigned is not None:
                item.stage = "acknowledging"
        waiting = sum(
            i.outcome is Outcome.PENDING and i.acknowledged is None for i in self._progress.incidents
        )
        return InputAccepted(
            kind=InputKind.ALL_INCIDENTS_ACK,
            item_id=None,
            message=f"{len(ready)} incidents acknowledged; PagerDuty is updated"
            + (f" ({waiting} still wait for their status paragraph)" if waiting else ""),
        )

    @workflow.update(name=InputKind.ENGINEERING_LINK.value)
    def link_engineering_issue(self, given: EngineeringLinkInput) -> InputAccepted:
        return self._after_input(self._apply_engineering_link(given))

    @link_engineering_issue.validator
    def _validate_engineering_link(self, given: EngineeringLinkInput) -> None:
        self._check_engineering_link(given)

    @workflow.signal(name=InputKind.ENGINEERING_LINK.value)
    def link_engineering_issue_signal(self, given: EngineeringLinkInput) -> None:
        self._from_signal(
            InputKind.ENGINEERING_LINK, given, self._check_engineering_link, self._apply_engineering_link
        )

    def _check_engineering_link(self, given: EngineeringLinkInput) -> TicketHandover:
        self._check_actor(
            given.actor, self._progress.outgoing, "the outgoing admin supplies engineering issues"
        )
        item = self._find(self._progress.tickets, given.ticket_id, "ticket", lambda t: t.ticket.id)
        if item.action is not TicketAction.LINK_ENGINEERING_ISSUE:
            raise NotAllowed(
                f"ticket {given.ticket_id} is not waiting on engineering; it needs no engineering issue"
            )
        if item.engineering_issue is not None:
            raise AlreadyDone(f"ticket {given.ticket_id} is linked to {item.engineering_issue} already")
        self._check_pending(item.outcome, "ticket", given.ticket_id)
        return item

    def _apply_engineering_link(self, given: EngineeringLinkInput) -> InputAccepted:
        item = self._check_engineering_link(given)
        item.engineering_issue = given.issue
        item.engineering_issue_given = Done(by=given.actor, at=workflow.now())
        item.stage = "engineering issue received"
        return InputAccepted(
            kind=InputKind.ENGINEERING_LINK,
            item_id=given.ticket_id,
            message="engineering issue received; the ticket is linked and reassigned",
        )

    @workflow.update(name=InputKind.ROLLOUT_ANNOTATION.value)
    def annotate_rollout(self, given: RolloutAnnotationInput) -> InputAccepted:
        return self._after_input(self._apply_annotation(given))

    @annotate_rollout.validator
    def _validate_annotation(self, given: RolloutAnnotationInput) -> None:
        self._check_annotation(given)

    @workflow.signal(name=InputKind.ROLLOUT_ANNOTATION.value)
    def annotate_rollout_signal(self, given: RolloutAnnotationInput) -> None:
        self._from_signal(InputKind.ROLLOUT_ANNOTATION, given, self._check_annotation, self._apply_annotation)

    def _check_annotation(self, given: RolloutAnnotationInput) -> RolloutHandover:
        self._check_actor(given.actor, self._progress.outgoing, "the outgoing admin annotates rollouts")
        item = self._find(self._progress.rollouts, given.rollout_id, "rollout", lambda r: r.rollout.id)
        if item.annotated is not None:
            raise AlreadyDone(f"rollout {given.rollout_id} was annotated by {item.annotated.by} already")
        self._check_pending(item.outcome, "rollout", given.rollout_id)
        return item

    def _apply_annotation(self, given: RolloutAnnotationInput) -> InputAccepted:
        item = self._check_annotation(given)
        item.annotation = RolloutAnnotation(
            ramp_percent=given.ramp_percent, error_rate=given.error_rate, next_step=given.next_step
        )
        item.annotated = Done(by=given.actor, at=workflow.now())
        item.stage = "annotation received"
        return InputAccepted(
            kind=InputKind.ROLLOUT_ANNOTATION,
            item_id=given.rollout_id,
            message="annotation received; it is posted on the rollout",
        )

    @workflow.update(name=InputKind.ROLLOUT_OWNERSHIP.value)
    def take_rollout_ownership(self, given: RolloutOwnershipInput) -> InputAccepted:
        return self._after_input(self._apply_ownership(given))

    @take_rollout_ownership.validator
    def _validate_ownership(self, given: RolloutOwnershipInput) -> None:
        self._check_ownership(given)

    @workflow.signal(name=InputKind.ROLLOUT_OWNERSHIP.value)
    def take_rollout_ownership_signal(self, given: RolloutOwnershipInput) -> None:
        self._from_signal(InputKind.ROLLOUT_OWNERSHIP, given, self._check_ownership, self._apply_ownership)

    def _check_ownership(self, given: RolloutOwnershipInput) -> RolloutHandover:
        self._check_actor(
            given.actor, self._progress.incoming, "the incoming admin takes ownership of rollouts"
        )
        item = self._find(self._progress.rollouts, given.rollout_id, "rollout", lambda r: r.rollout.id)
        if item.owned is not None:
            raise AlreadyDone(f"{item.owned.by} took ownership of rollout {given.rollout_id} already")
        self._check_pending(item.outcome, "rollout", given.rollout_id)
        if item.annotated is None:
            raise NotReady(
                f"rollout {given.rollout_id} has no annotation yet; "
                "take ownership once the outgoing admin has annotated it"
            )
        return item

    def _apply_ownership(self, given: RolloutOwnershipInput) -> InputAccepted:
        item = self._check_ownership(given)
        item.owned = Done(by=given.actor, at=workflow.now())
        return InputAccepted(
            kind=InputKind.ROLLOUT_OWNERSHIP,
            item_id=given.rollout_id,
            message="ownership taken; the rollout is transferred",
        )

    @workflow.update(name=InputKind.ALL_ROLLOUTS_OWNERSHIP.value)
    def take_all_rollouts(self, given: AllItemsInput) -> InputAccepted:
        return self._after_input(self._apply_all_ownership(given))

    @take_all_rollouts.validator
    def _validate_all_ownership(self, given: AllItemsInput) -> None:
        self._check_all_ownership(given)

    @workflow.signal(name=InputKind.ALL_ROLLOUTS_OWNERSHIP.value)
    def take_all_rollouts_signal(self, given: AllItemsInput) -> None:
        self._from_signal(
            InputKind.ALL_ROLLOUTS_OWNERSHIP, given, self._check_all_ownership, self._apply_all_ownership
        )

    def _check_all_ownership(self, given: AllItemsInput) -> list[RolloutHandover]:
        self._check_actor(
            given.actor, self._progress.incoming, "the incoming admin takes ownership of rollouts"
        )
        if self._progress.inventory_at is None:
            raise NotReady("the rollouts are not listed yet; try again in a few seconds")
        open_items = [r for r in self._progress.rollouts if r.outcome is Outcome.PENDING and r.owned is None]
        if not open_items:
            raise AlreadyDone("every rollout of this handover is owned or finished already")
        ready = [r for r in open_items if r.annotated is not None]
        if not ready:
            raise NotReady(
                f"none of the {len(open_items)} rollouts is annotated yet; "
                "take ownership once the outgoing admin has annotated them"
            )
        return ready

    def _apply_all_ownership(self, given: AllItemsInput) -> InputAccepted:
        ready = self._check_all_ownership(given)
        now = workflow.now()
        for item in ready:
            item.owned = Done(by=given.actor, at=now, via="take all")
        waiting = sum(r.outcome is Outcome.PENDING and r.owned is None for r in self._progress.rollouts)
        return InputAccepted(
            kind=InputKind.ALL_ROLLOUTS_OWNERSHIP,
            item_id=None,
            message=f"ownership of {len(ready)} rollouts taken; they are transferred"
            + (f" ({waiting} still wait for their annotation)" if waiting else ""),
        )

    @workflow.update(name=InputKind.SUMMARY_ACK.value)
    def acknowledge_summary(self, given: SummaryAckInput) -> InputAccepted:
        return self._after_input(self._apply_summary_ack(given))

    @acknowledge_summary.validator
    def _validate_summary_ack(self, given: SummaryAckInput) -> None:
        self._check_summary_ack(given)

    @workflow.signal(name=InputKind.SUMMARY_ACK.value)
    def acknowledge_summary_signal(self, given: SummaryAckInput) -> None:
        self._from_signal(InputKind.SUMMARY_ACK, given, self._check_summary_ack, self._apply_summary_ack)

    def _check_summary_ack(self, given: SummaryAckInput) -> Summary:
        self._check_actor(given.actor, self._progress.incoming, "the incoming admin acknowledges the summary")
        summary = self._progress.summary
        if summary is None:
            raise NotReady(
                "the summary is not posted yet; "
                "it is posted once every incident, ticket and rollout is handed over"
            )
        if summary.acknowledged is not None:
            raise AlreadyDone(f"the summary was acknowledged by {summary.acknowledged.by} already")
        return summary

    def _apply_summary_ack(self, given: SummaryAckInput) -> InputAccepted:
        summary = self._check_summary_ack(given)
        summary.acknowledged = Done(by=given.actor, at=workflow.now())
        return InputAccepted(kind=InputKind.SUMMARY_ACK, item_id=None, message="summary acknowledged")

    @workflow.update(name=InputKind.MITIGATED.value)
    def declare_mitigated(self, given: MitigatedInput) -> InputAccepted:
        return self._after_input(self._apply_mitigated(given))

    @declare_mitigated.validator
    def _validate_mitigated(self, given: MitigatedInput) -> None:
        self._check_mitigated(given)

    @workflow.signal(name=InputKind.MITIGATED.value)
    def declare_mitigated_signal(self, given: MitigatedInput) -> None:
        self._from_signal(InputKind.MITIGATED, given, self._check_mitigated, self._apply_mitigated)

    def _check_mitigated(self, given: MitigatedInput) -> None:
        progress = self._progress
        if progress.request.variant is not Variant.MID_SHIFT:
            raise NotAllowed("only a mid-shift handover waits for an outage to be mitigated")
        self._check_open()
        if given.actor not in decisions.mitigation_allowed_from(progress.request):
            raise NotAllowed(
                f"{given.actor} cannot call the outage mitigated: the senior admin or either admin can"
            )
        if progress.mitigated is not None:
            raise AlreadyDone(f"the outage was called mitigated by {progress.mitigated.by} already")
        if progress.phase is not Phase.OUTAGE:
            raise NotReady("the handover is still validating both admins; try again in a few seconds")

    def _apply_mitigated(self, given: MitigatedInput) -> InputAccepted:
        self._check_mitigated(given)
        self._progress.mitigated = Done(by=given.actor, at=workflow.now())
        self._progress.mitigation_note = given.note
        return InputAccepted(
            kind=InputKind.MITIGATED, item_id=None, message="outage mitigated; the formal handover starts"
        )

    @workflow.update(name=InputKind.UNCLEAR_THREAD.value)
    async def flag_unclear_thread(self, given: UnclearThreadInput) -> InputAccepted:
        try:
            return await self._apply_unclear_thread(given)
        except ActivityError as error:
            raise ApplicationError(f"not posted ({_reason(error)}); flag the thread again") from None

    @flag_unclear_thread.validator
    def _validate_unclear_thread(self, given: UnclearThreadInput) -> None:
        self._check_unclear_thread(given)

    @workflow.signal(name=InputKind.UNCLEAR_THREAD.value)
    async def flag_unclear_thread_signal(self, given: UnclearThreadInput) -> None:
        if self._rejected(InputKind.UNCLEAR_THREAD, given, self._check_unclear_thread):
            return
        try:
            await self._apply_unclear_thread(given)
        except ActivityError as error:
            self._reject(
                InputKind.UNCLEAR_THREAD, given, f"not posted ({_reason(error)}); flag the thread again"
            )

    def _check_unclear_thread(self, given: UnclearThreadInput) -> None:
        self._check_actor(given.actor, self._progress.incoming, "the incoming admin flags unclear threads")
        for flag in self._progress.unclear_threads:
            if flag.thread_ts == given.thread_ts:
                raise AlreadyDone(f"thread {given.thread_ts} was flagged by {flag.flagged.by} already")

    async def _apply_unclear_thread(self, given: UnclearThreadInput) -> InputAccepted:
        """Posted first, recorded once posted: a failed post leaves nothing behind to block a retry."""
        self._check_unclear_thread(given)
        flag = UnclearThread(
            thread_ts=given.thread_ts,
            question=given.question,
            flagged=Done(by=given.actor, at=workflow.now()),
        )
        flag.posted_ts = await self._post(
            f"catch-up:{given.thread_ts}", messages.catch_up(self._progress, flag)
        )
        if not any(known.thread_ts == flag.thread_ts for known in self._progress.unclear_threads):
            self._progress.unclear_threads.append(flag)  # (a twin of this input may have won the race)
        return InputAccepted(
            kind=InputKind.UNCLEAR_THREAD,
            item_id=given.thread_ts,
            message="posted to the channel for a catch-up",
        )

    @workflow.update(name=InputKind.CANCEL.value)
    def cancel(self, given: CancelInput) -> InputAccepted:
        return self._after_input(self._apply_cancel(given))

    @cancel.validator
    def _validate_cancel(self, given: CancelInput) -> None:
        self._check_cancel(given)

    @workflow.signal(name=InputKind.CANCEL.value)
    def cancel_signal(self, given: CancelInput) -> None:
        self._from_signal(InputKind.CANCEL, given, self._check_cancel, self._apply_cancel)

    def _check_cancel(self, given: CancelInput) -> None:
        self._check_open()
        if given.actor.strip().lower() not in decisions.cancel_allowed_from(self._progress.request):
            raise NotAllowed(f"{given.actor} cannot cancel this handover: the requester or either admin can")
        if self._progress.cancelled is not None:
            raise AlreadyDone(f"the handover was cancelled by {self._progress.cancelled.by} already")

    def _apply_cancel(self, given: CancelInput) -> InputAccepted:
        self._check_cancel(given)
        self._progress.cancelled = Cancellation(by=given.actor, at=workflow.now(), reason=given.reason)
        return InputAccepted(
            kind=InputKind.CANCEL,
            item_id=None,
            message="cancelling: work in flight finishes, nothing else is touched; the report follows",
        )

    # --- events relayed by the endpoint: Slack and PagerDuty, as signals (never lost) -----------
    # The endpoint sends each event to every running handover; one that is not about this
    # handover is ignored here without a trace.

    @workflow.signal(name="slack_reaction")
    def on_slack_reaction(self, event: SlackReactionEvent) -> None:
        if self._is_the_summary(event.channel, event.ts) and decisions.is_thumbs_up(event.reaction):
            self._summary_acknowledged_in_slack(event.user_id, f":{event.reaction}:")

    @workflow.signal(name="slack_action")
    def on_slack_action(self, event: SlackActionEvent) -> None:
        if event.action_id == decisions.ACKNOWLEDGE_SUMMARY_ACTION and self._is_the_summary(
            event.channel, event.message_ts
        ):
            self._summary_acknowledged_in_slack(event.user_id, "the Acknowledge button")

    def _is_the_summary(self, channel: str, ts: str) -> bool:
        """This handover's summary, not last week's (the workflow id is reused per admin)."""
        summary = self._progress.summary
        return summary is not None and ts == summary.ts and channel in (summary.channel, "")

    def _summary_acknowledged_in_slack(self, slack_user: str, how: str) -> None:
        summary, incoming = self._progress.summary, self._progress.incoming
        if summary is None or incoming is None or summary.acknowledged is not None:
            return
        if slack_user != incoming.slack_id:
            reason = f"only the incoming admin ({incoming.email}) acknowledges the summary, with {how}"
            self._record_rejection(InputKind.SUMMARY_ACK, f"slack:{slack_user}", None, reason)
            return
        self._from_signal(
            InputKind.SUMMARY_ACK,
            SummaryAckInput(actor=incoming.email),
            self._check_summary_ack,
            self._apply_summary_ack,
        )

    @workflow.signal(name="pagerduty_event")
    def on_pagerduty_event(self, event: PagerDutyEvent) -> None:
        """Incoming acknowledging a handed-over incident in PagerDuty is their explicit ack."""
        incoming = self._progress.incoming
        if event.event_type != "incident.acknowledged" or incoming is None:
            return
        item = next((i for i in self._progress.incidents if i.incident.id == event.incident_id), None)
        if item is None or item.reassigned is None or item.acknowledged is not None:
            return  # not ours, not handed over yet, or our own mirror of an ack we had
        if event.agent_id != incoming.pagerduty_id:
            return  # someone else acknowledged it: not incoming's acknowledgement of the handover
        given = IncidentAckInput(actor=incoming.email, incident_id=event.incident_id)
        self._from_signal(InputKind.INCIDENT_ACK, given, self._check_incident_ack, self._apply_incident_ack)

    # --- helpers -------------------------------------------------------------------------------

    @property
    def _outgoing(self) -> Admin:
        assert self._progress.outgoing is not None
        return self._progress.outgoing

    @property
    def _incoming(self) -> Admin:
        assert self._progress.incoming is not None
        return self._progress.incoming

    @property
    def _acting_as(self) -> str:
        return self._progress.acting_as or self._outgoing.email

    def _check_open(self) -> None:
        progress = self._progress
        if progress.phase.ended or progress.cancelled is not None:
            state = "cancelled" if progress.cancelled is not None else progress.phase.value
            raise AlreadyDone(f"handover {progress.handover_id} has ended ({state}); it takes no more input")

    def _check_actor(self, actor: str, expected: Admin | None, rule: str) -> None:
        self._check_open()
        if expected is None:
            raise NotReady("the handover is still validating both admins; try again in a few seconds")
        if actor != expected.email:
            raise NotAllowed(f"{actor} cannot give this input: {rule} ({expected.email})")

    def _find(self, items: Sequence[T], item_id: str, noun: str, key: Callable[[T], str]) -> T:
        for item in items:
            if key(item) == item_id:
                return item
        raise UnknownItem(f"{noun} {item_id} is not part of handover {self._progress.handover_id}")

    def _check_pending(self, outcome: Outcome, noun: str, item_id: str) -> None:
        if outcome is not Outcome.PENDING:
            raise AlreadyDone(f"{noun} {item_id} is finished already ({outcome.value})")

    def _rejected(
        self,
        kind: InputKind,
        given: Any,
        check: Callable[[Any], Any],
        apply: Callable[[Any], Any] | None = None,
    ) -> bool:
        """Checks a signal's input. One that came too early is held (and checked again as the
        handover moves on); any other refused one is recorded in progress. Neither is applied."""
        try:
            check(given)
        except HandoverError as error:
            if apply is not None and self._too_early(error):
                self._held.append((kind, given, check, apply))
                self._log(
                    logging.INFO,
                    "holding %s signal from %s until %s",
                    kind.value,
                    given.actor,
                    error.message,
                    item=_item_of(given),
                )
            else:
                self._reject(kind, given, error.message)
            return True
        return False

    def _too_early(self, error: HandoverError) -> bool:
        """Signals wait at the server while no worker is up, and may all arrive at its start."""
        return isinstance(error, NotReady) or (
            isinstance(error, UnknownItem) and self._progress.inventory_at is None
        )

    def _after_input(self, accepted: InputAccepted) -> InputAccepted:
        self._log(logging.INFO, "accepted %s", accepted.kind.value, item=accepted.item_id)
        self._retry_held()  # an input may make a held one valid (an acknowledgement after its status)
        return accepted

    def _retry_held(self) -> None:
        held, self._held = self._held, []
        for kind, given, check, apply in held:
            if not self._rejected(kind, given, check, apply):
                apply(given)

    def _reject(self, kind: InputKind, given: Any, reason: str) -> None:
        self._record_rejection(kind, given.actor, _item_of(given), reason)

    def _record_rejection(self, kind: InputKind, actor: str, item_id: str | None, reason: str) -> None:
        self._progress.rejected.append(
            RejectedInput(at=workflow.now(), kind=kind, actor=actor, item_id=item_id, reason=reason)
        )
        self._log(logging.WARNING, "rejected %s from %s: %s", kind.value, actor, reason, item=item_id)

    def _from_signal(
        self, kind: InputKind, given: Any, check: Callable[[Any], Any], apply: Callable[[Any], Any]
    ) -> None:
        if not self._rejected(kind, given, check, apply):
            apply(given)
            self._log(logging.INFO, "accepted %s (signal)", kind.value, item=_item_of(given))
            self._retry_held()

    async def _watch_until(
        self, method: Callable[..., Any], argument: Any, pause: timedelta, done: Callable[[], bool]
    ) -> Any | None:
        """Run a watching activity, attempt after attempt `pause` apart, until it reports or
        `done()`. Its result, or None when `done()` came first or the watch gave up."""
        retry = RetryPolicy(initial_interval=pause, backoff_coefficient=1.0, maximum_interval=pause)
        watch = workflow.start_activity_method(method, argument, retry_policy=retry, **WATCH_ATTEMPT)
        try:
            await self._wait(lambda: done() or watch.done())
        finally:
            if not watch.done():
                watch.cancel()
                try:
                    await watch
                except ActivityError:
                    pass  # cancelled, as asked
        if done():
            return None
        try:
            return watch.result()
        except ActivityError as error:
            self._log(logging.WARNING, "stopped watching: %s", _reason(error))
            return None

    def _check_cancelled(self) -> None:
        if self._progress.cancelled is not None:
            raise Cancelled()

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait for people (or a timer). A cancel ends every wait with `Cancelled`; a step that
        failed for good ends its sibling steps' waits too (`Halted`)."""
        await workflow.wait_condition(
            lambda: self._progress.cancelled is not None or self._failure is not None or condition(),
            timeout=timeout,
        )
        self._check_cancelled()
        if self._failure is not None:
            raise Halted()

    async def _all(self, *steps: Coroutine[Any, Any, None]) -> None:
        """Run steps side by side until each ends. A cancel, or one step failing for good, stops
        the others at their next wait: a batch in flight always finishes."""

        async def guarded(step: Coroutine[Any, Any, None]) -> None:
            try:
                await step
            except (Cancelled, Halted):
                raise
            except (HandoverError, ActivityError) as error:
                self._failure = self._failure or error
                raise

        results = await asyncio.gather(*(guarded(step) for step in steps), return_exceptions=True)
        if self._failure is not None:
            raise self._failure
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _post(self, part: str, text: str, *, thread: bool = False, thread_ts: str | None = None) -> str:
        """A message of this handover in the channel (or in its thread), posted once."""
        post = SlackPost(
            handover_id=self._progress.key,
            part=part,
            text=text,
            thread_ts=thread_ts or (self._progress.thread_ts if thread else None),
            since=self._progress.started_at,
        )
        return await workflow.execute_activity_method(SlackActivities.post_message, post, **LOOKUP)

    def _log(self, level: int, message: str, *args: object, item: str | None = None) -> None:
        """A log line with the handover's step and item; the SDK adds the workflow and run ids (see
        handover/logs.py) and leaves it out while the workflow replays."""
        step = self._progress.phase.name.lower()
        workflow.logger.log(level, message, *args, extra={"step": step, "item": item})

    def _set_phase(self, phase: Phase) -> None:
        progress = self._progress
        progress.phase = phase
        self._log(logging.INFO, "now %s", phase.value)
        workflow.set_current_details(messages.current_details(progress, decisions.waiting_on(progress)))
        self._retry_held()
        request = progress.request
        updates = [
            visibility.PHASE.value_set(phase.value),
            visibility.OUTGOING.value_set(request.outgoing),
            visibility.INCOMING.value_set(request.incoming),
            visibility.VARIANT.value_set(request.variant.value),
        ]
        # (The same upsert, with more in it: no new command, so running handovers replay.)
        if progress.incoming is not None:
            updates.append(visibility.INCOMING_PAGERDUTY.value_set(progress.incoming.pagerduty_id))
        if progress.summary is not None:
            updates.append(visibility.SUMMARY_TS.value_set(progress.summary.ts))
        workflow.upsert_search_attributes(updates)

    async def _as_ready(
        self,
        ready: Callable[[], list[T]],
        finished: Callable[[], bool],
        run: Callable[[list[T]], Awaitable[None]],
        gather: timedelta | None = None,
        more_coming: Callable[[], bool] = lambda: False,
    ) -> None:
        """Work items as people make them ready, in batches, until every item is finished. With
        `gather`, a batch smaller than BATCH_SIZE waits up to that long for more while
        `more_coming()`."""
        while True:
            await self._wait(lambda: bool(ready()) or finished())
            if (
                gather is not None
                and ready()
                and len(ready()) < BATCH_SIZE
                and more_coming()
                and workflow.patched(GATHER_PATCH)
            ):
                try:
                    await self._wait(lambda: len(ready()) >= BATCH_SIZE or not more_coming(), timeout=gather)
                except TimeoutError:
                    pass
            batch = ready()[:BATCH_SIZE]
            if not batch:
                return
            await run(batch)

    async def _run_batch(
        self, method: Callable[..., Any], work: Any, item_ids: list[str]
    ) -> list[ItemResult]:
        """One batch activity; if it fails for good, every item of it fails with the reason."""
        try:
            return await workflow.execute_activity_method(method, work, **BATCH)
        except ActivityError as error:
            return [
                ItemResult(item_id=item_id, outcome=Outcome.FAILED, detail=_reason(error))
                for item_id in item_ids
            ]

    def _finish(self, item: IncidentHandover | TicketHandover | RolloutHandover, result: ItemResult) -> None:
        item.outcome = result.outcome
        item.detail = result.detail
        stages = {Outcome.HANDED_OVER: "done", Outcome.SKIPPED: "skipped", Outcome.FAILED: "failed"}
        item.stage = stages.get(result.outcome, item.stage)


H = TypeVar("H", IncidentHandover, TicketHandover, RolloutHandover)


def _left_alone(item: H) -> H:
    """A listed item the listing found not to be the outgoing admin's: skipped, never touched."""
    listed = messages.listed(item)
    if listed.left_alone is not None:
        item.outcome = Outcome.SKIPPED
        item.detail = f"{listed.left_alone}; left alone"
        item.stage = "left alone"
    return item


def _handed_over(items: Sequence[IncidentHandover | TicketHandover | RolloutHandover]) -> int:
    return sum(item.outcome is Outcome.HANDED_OVER for item in items)


def _earlier(candidate: Any, planned: Any) -> bool:
    return candidate is not None and candidate < planned


def _reason(error: BaseException) -> str:
    """The innermost message of a failure chain: what a person needs to read."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error)


def _item_of(given: Any) -> str | None:
    """The item a person's input is about (none for the summary, mitigation or a cancel)."""
    return (
        getattr(given, "incident_id", None)
        or getattr(given, "ticket_id", None)
        or getattr(given, "rollout_id", None)
        or getattr(given, "thread_ts", None)
    )
