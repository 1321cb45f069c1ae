"""The runbook "Hand over platform on-call duties", as one durable workflow.

Read it next to the runbook: `run` is the procedure, one method per step, named after it.
Deterministic: all I/O is in activities, time is `workflow.now()` and durable timers.

Human inputs are Updates with validators (a wrong actor, unknown item, duplicate or malformed
input is rejected before anything reaches history) and each has a Signal twin with the same name
and payload, for channels that must not fail when no worker is up; one `_check_*` and one
`_apply_*` behind both. A signal that fails its check is recorded in `progress.rejected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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
    from activities.slack import SlackActivities, SummaryPost, ThreadReply
    from handover import decisions, visibility
    from handover.errors import AlreadyDone, HandoverError, NotAllowed, NotReady, UnknownAdmin, UnknownItem
    from handover.models import (
        Admin,
        AuditResult,
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
        Outcome,
        Phase,
        RejectedInput,
        RolloutAnnotation,
        RolloutAnnotationInput,
        RolloutHandover,
        RolloutOwnershipInput,
        StatusParagraph,
        Summary,
        SummaryAckInput,
        TicketAction,
        TicketHandover,
    )

T = TypeVar("T")

BATCH_SIZE = 250
"""Items per activity call; PagerDuty's bulk `PUT /incidents` takes at most 250."""

LOOKUP = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
BATCH = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(minutes=1),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
AUDIT = dict(
    start_to_close_timeout=timedelta(seconds=30),
    # The audit log lags behind the session end: tolerate about five minutes of it.
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
    ),
)


@workflow.defn
class HandoverWorkflow:
    @workflow.init
    def __init__(self, request: HandoverRequest) -> None:
        self._progress = HandoverProgress(
            handover_id=workflow.info().workflow_id,
            request=request,
            started_at=workflow.now(),
        )

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        try:
            await self.validate()
            await self.freeze_assignments()
            self._set_phase(Phase.HANDING_OVER)
            await asyncio.gather(
                self.hand_over_incidents(),
                self.hand_over_tickets(),
                self.transfer_rollouts(),
            )
            await self.post_summary()
            if request.offboarding:
                await self.audit_impersonation()
            await self.wait_for_overlap()
        except (HandoverError, ActivityError) as error:
            self._progress.error = _reason(error)
            self._set_phase(Phase.FAILED)
            raise
        self._set_phase(Phase.COMPLETED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return HandoverReport(**self._progress.model_dump(), completed_at=workflow.now())

    # --- step 0: validate --------------------------------------------------------------------

    async def validate(self) -> None:
        """Both admins resolve in PagerDuty, the platform and Slack; both are platform admins."""
        request = self._progress.request
        self._set_phase(Phase.VALIDATING)
        outgoing, incoming = await asyncio.gather(
            self._resolve(request.outgoing), self._resolve(request.incoming)
        )
        self._progress.outgoing, self._progress.incoming = outgoing, incoming

    async def _resolve(self, email: str) -> Admin:
        pagerduty_user, platform_admin, slack_id = await asyncio.gather(
            workflow.execute_activity_method(PagerDutyActivities.find_pagerduty_user, email, **LOOKUP),
            workflow.execute_activity_method(PlatformActivities.get_platform_admin, email, **LOOKUP),
            workflow.execute_activity_method(SlackActivities.find_slack_user, email, **LOOKUP),
        )
        if pagerduty_user is None:
            raise UnknownAdmin(f"{email} is not a PagerDuty user; check the address")
        if platform_admin is None or not platform_admin.platform_admin or not platform_admin.active:
            raise NotAllowed(
                f"{email} is not an active platform admin; only platform admins hand over on-call"
            )
        return Admin(email=email, name=pagerduty_user.name, pagerduty_id=pagerduty_user.id, slack_id=slack_id)

    # --- step 1: freeze new PagerDuty assignments --------------------------------------------

    async def freeze_assignments(self) -> None:
        """Override: incoming is primary for the whole window. The outgoing admin stays on."""
        self._set_phase(Phase.FREEZING)
        start = workflow.now().replace(microsecond=0)
        window = FreezeRequest(
            user_id=self._incoming.pagerduty_id, start=start, end=start + self._progress.request.overlap
        )
        self._progress.override = await workflow.execute_activity_method(
            PagerDutyActivities.freeze_assignments, window, **LOOKUP
        )
        self._progress.overlap_ends_at = window.end

    # --- step 2: walk through open incidents -------------------------------------------------

    async def hand_over_incidents(self) -> None:
        """Per incident: status paragraph (outgoing), note + reassign, explicit ack (incoming)."""
        incidents = await workflow.execute_activity_method(
            PagerDutyActivities.list_open_incidents, self._outgoing.pagerduty_id, **LOOKUP
        )
        self._progress.incidents = [IncidentHandover(incident=incident) for incident in incidents]
        items = self._progress.incidents
        await asyncio.gather(
            self._as_ready(
                ready=lambda: [
                    i
                    for i in items
                    if i.status is not None and i.reassigned is None and i.outcome is Outcome.PENDING
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
            ),
        )

    async def _reassign_incidents(self, batch: list[IncidentHandover]) -> None:
        # A reassignment without a status paragraph is not a handover: the note goes first.
        work = IncidentHandoverBatch(
            from_email=self._outgoing.email,
            incoming_id=self._incoming.pagerduty_id,
            items=[
                IncidentNote(
                    incident_id=item.incident.id,
                    note=decisions.status_note(
                        item.status, self._outgoing, self._incoming, self._progress.handover_id
                    ),
                )
                for item in batch
                if item.status is not None
            ],
        )
        for item in batch:
            item.stage = "posting status note and reassigning"
        results = await self._run_batch(
            PagerDutyActivities.hand_over_incidents, work, [i.incident.id for i in batch]
        )
        for item, result in zip(batch, results, strict=True):
            if result.outcome is Outcome.HANDED_OVER:
                item.note_id = result.ref
                item.reassigned = Done(by=self._outgoing.email, at=workflow.now())
                item.stage = "waiting for acknowledgement" if item.acknowledged is None else "acknowledging"
            else:
                self._finish(item, result)

    async def _acknowledge_incidents(self, batch: list[IncidentHandover]) -> None:
        work = IncidentAckBatch(
            from_email=self._incoming.email,
            incoming_id=self._incoming.pagerduty_id,
            incident_ids=[item.incident.id for item in batch],
        )
        results = await self._run_batch(PagerDutyActivities.acknowledge_incidents, work, work.incident_ids)
        for item, result in zip(batch, results, strict=True):
            self._finish(item, result)

    # --- step 3: hand over pinned support tickets --------------------------------------------

    async def hand_over_tickets(self) -> None:
        """Per pinned ticket, by state: label, engineering link, or end impersonation first."""
        found = await workflow.execute_activity_method(
            PlatformActivities.list_pinned_tickets, self._outgoing.email, **LOOKUP
        )
        self._progress.tickets = [
            TicketHandover(
                ticket=ticket,
                action=decisions.ticket_action(ticket, found.open_sessions),
                sessions_to_end=decisions.sessions_to_end(ticket, found.open_sessions),
                engineering_issue=ticket.engineering_issue,
            )
            for ticket in found.tickets
        ]
        items = self._progress.tickets
        for item in items:
            if item.action is TicketAction.LINK_ENGINEERING_ISSUE and item.engineering_issue is None:
                item.stage = "waiting for engineering issue"
        await self._as_ready(
            ready=lambda: [
                t
                for t in items
                if t.outcome is Outcome.PENDING
                and (t.action is not TicketAction.LINK_ENGINEERING_ISSUE or t.engineering_issue is not None)
            ],
            finished=lambda: all(t.outcome is not Outcome.PENDING for t in items),
            run=self._hand_over_tickets,
        )

    async def _hand_over_tickets(self, batch: list[TicketHandover]) -> None:
        work = TicketBatch(
            handover_id=self._progress.handover_id,
            outgoing=self._outgoing.email,
            incoming=self._incoming.email,
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
                item.reassigned = Done(by=self._outgoing.email, at=workflow.now())
            self._finish(item, result)

    # --- step 4: transfer feature-flag rollouts in flight ------------------------------------

    async def transfer_rollouts(self) -> None:
        """Per rollout ramping or paused: annotation (outgoing), then ownership (incoming)."""
        rollouts = await workflow.execute_activity_method(
            PlatformActivities.list_rollouts_in_flight, self._outgoing.email, **LOOKUP
        )
        self._progress.rollouts = [RolloutHandover(rollout=rollout) for rollout in rollouts]
        items = self._progress.rollouts
        await asyncio.gather(
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
            handover_id=self._progress.handover_id,
            outgoing=self._outgoing.email,
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

    # --- step 5: post the handover summary ---------------------------------------------------

    async def post_summary(self) -> None:
        """The runbook's sentence in the channel, details in its thread; incoming :+1:s it."""
        progress = self._progress
        now = workflow.now()
        text = decisions.summary_text(
            self._outgoing,
            self._incoming,
            now,
            incidents=_handed_over(progress.incidents),
            tickets=_handed_over(progress.tickets),
            rollouts=_handed_over(progress.rollouts),
        )
        details = [
            decisions.incidents_detail(progress.incidents),
            decisions.tickets_detail(progress.tickets),
            decisions.rollouts_detail(progress.rollouts),
        ]
        posted = await workflow.execute_activity_method(
            SlackActivities.post_summary,
            SummaryPost(
                handover_id=progress.handover_id, since=progress.started_at, text=text, details=details
            ),
            **BATCH,
        )
        progress.summary = Summary(channel=posted.channel, ts=posted.ts, text=text, posted_at=now)
        self._set_phase(Phase.SUMMARY)
        await workflow.wait_condition(
            lambda: progress.summary is not None and progress.summary.acknowledged is not None
        )

    # --- step 6: audit check (offboarding only) ----------------------------------------------

    async def audit_impersonation(self) -> None:
        """`platform.impersonation_ended` for every session closed in step 3, or the gap, reported."""
        self._set_phase(Phase.AUDITING)
        ended = sorted({session for ticket in self._progress.tickets for session in ticket.sessions_ended})
        try:
            result = await workflow.execute_activity_method(
                PlatformActivities.audit_impersonation,
                AuditQuery(session_ids=ended, since=self._progress.started_at),
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
        self._progress.audit = result
        if result.missing_sessions:
            text = (
                ":warning: Audit check: platform_audit_log shows no platform.impersonation_ended for "
                f"{', '.join(result.missing_sessions)}. Check these sessions before revoking access."
            )
        else:
            text = (
                "Audit check: platform.impersonation_ended is logged for all "
                f"{len(ended)} sessions ended in this handover."
            )
        summary = self._progress.summary
        if summary is not None:
            await workflow.execute_activity_method(
                SlackActivities.reply_in_thread,
                ThreadReply(
                    handover_id=self._progress.handover_id, thread_ts=summary.ts, part="audit", text=text
                ),
                **LOOKUP,
            )

    # --- end: the overlap runs out -----------------------------------------------------------

    async def wait_for_overlap(self) -> None:
        ends = self._progress.overlap_ends_at
        if ends is not None and ends > workflow.now():
            self._set_phase(Phase.OVERLAP)
            await workflow.sleep(ends - workflow.now())

    # --- progress ------------------------------------------------------------------------------

    @workflow.query
    def progress(self) -> HandoverProgress:
        return self._progress.model_copy(update={"pending": decisions.pending_inputs(self._progress)})

    # --- human inputs: an Update (validated) and a Signal twin, one check and apply behind both --

    @workflow.update(name=InputKind.STATUS.value)
    def submit_status(self, given: IncidentStatusInput) -> InputAccepted:
        return self._apply_status(given)

    @submit_status.validator
    def _validate_status(self, given: IncidentStatusInput) -> None:
        self._check_status(given)

    @workflow.signal(name=InputKind.STATUS.value)
    def submit_status_signal(self, given: IncidentStatusInput) -> None:
        self._from_signal(InputKind.STATUS, given, self._check_status, self._apply_status)

    def _check_status(self, given: IncidentStatusInput) -> IncidentHandover:
        self._check_actor(given.actor, self._outgoing, "status paragraphs come from the outgoing admin")
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
        return self._apply_incident_ack(given)

    @acknowledge_incident.validator
    def _validate_incident_ack(self, given: IncidentAckInput) -> None:
        self._check_incident_ack(given)

    @workflow.signal(name=InputKind.INCIDENT_ACK.value)
    def acknowledge_incident_signal(self, given: IncidentAckInput) -> None:
        self._from_signal(InputKind.INCIDENT_ACK, given, self._check_incident_ack, self._apply_incident_ack)

    def _check_incident_ack(self, given: IncidentAckInput) -> IncidentHandover:
        self._check_actor(given.actor, self._incoming, "the incoming admin acknowledges each reassignment")
        item = self._find(self._progress.incidents, given.incident_id, "incident", lambda i: i.incident.id)
        if item.acknowledged is not None:
            raise AlreadyDone(
                f"incident {given.incident_id} was acknowledged by {item.acknowledged.by} already"
            )
        self._check_pending(item.outcome, "incident", given.incident_id)
        if item.status_given is None:
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

    @workflow.update(name=InputKind.ENGINEERING_LINK.value)
    def link_engineering_issue(self, given: EngineeringLinkInput) -> InputAccepted:
        return self._apply_engineering_link(given)

    @link_engineering_issue.validator
    def _validate_engineering_link(self, given: EngineeringLinkInput) -> None:
        self._check_engineering_link(given)

    @workflow.signal(name=InputKind.ENGINEERING_LINK.value)
    def link_engineering_issue_signal(self, given: EngineeringLinkInput) -> None:
        self._from_signal(
            InputKind.ENGINEERING_LINK, given, self._check_engineering_link, self._apply_engineering_link
        )

    def _check_engineering_link(self, given: EngineeringLinkInput) -> TicketHandover:
        self._check_actor(given.actor, self._outgoing, "the outgoing admin supplies engineering issues")
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
        return self._apply_annotation(given)

    @annotate_rollout.validator
    def _validate_annotation(self, given: RolloutAnnotationInput) -> None:
        self._check_annotation(given)

    @workflow.signal(name=InputKind.ROLLOUT_ANNOTATION.value)
    def annotate_rollout_signal(self, given: RolloutAnnotationInput) -> None:
        self._from_signal(InputKind.ROLLOUT_ANNOTATION, given, self._check_annotation, self._apply_annotation)

    def _check_annotation(self, given: RolloutAnnotationInput) -> RolloutHandover:
        self._check_actor(given.actor, self._outgoing, "the outgoing admin annotates rollouts")
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
        return self._apply_ownership(given)

    @take_rollout_ownership.validator
    def _validate_ownership(self, given: RolloutOwnershipInput) -> None:
        self._check_ownership(given)

    @workflow.signal(name=InputKind.ROLLOUT_OWNERSHIP.value)
    def take_rollout_ownership_signal(self, given: RolloutOwnershipInput) -> None:
        self._from_signal(InputKind.ROLLOUT_OWNERSHIP, given, self._check_ownership, self._apply_ownership)

    def _check_ownership(self, given: RolloutOwnershipInput) -> RolloutHandover:
        self._check_actor(given.actor, self._incoming, "the incoming admin takes ownership of rollouts")
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

    @workflow.update(name=InputKind.SUMMARY_ACK.value)
    def acknowledge_summary(self, given: SummaryAckInput) -> InputAccepted:
        return self._apply_summary_ack(given)

    @acknowledge_summary.validator
    def _validate_summary_ack(self, given: SummaryAckInput) -> None:
        self._check_summary_ack(given)

    @workflow.signal(name=InputKind.SUMMARY_ACK.value)
    def acknowledge_summary_signal(self, given: SummaryAckInput) -> None:
        self._from_signal(InputKind.SUMMARY_ACK, given, self._check_summary_ack, self._apply_summary_ack)

    def _check_summary_ack(self, given: SummaryAckInput) -> Summary:
        self._check_actor(given.actor, self._incoming, "the incoming admin acknowledges the summary")
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

    # --- helpers -------------------------------------------------------------------------------

    @property
    def _outgoing(self) -> Admin:
        assert self._progress.outgoing is not None
        return self._progress.outgoing

    @property
    def _incoming(self) -> Admin:
        assert self._progress.incoming is not None
        return self._progress.incoming

    def _check_actor(self, actor: str, expected: Admin | None, rule: str) -> None:
        if self._progress.phase in (Phase.COMPLETED, Phase.FAILED):
            raise AlreadyDone(
                f"handover {self._progress.handover_id} has ended ({self._progress.phase.value})"
            )
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

    def _from_signal(
        self, kind: InputKind, given: Any, check: Callable[[Any], Any], apply: Callable[[Any], Any]
    ) -> None:
        try:
            check(given)
        except HandoverError as error:
            self._progress.rejected.append(
                RejectedInput(
                    at=workflow.now(),
                    kind=kind,
                    actor=given.actor,
                    item_id=getattr(given, "incident_id", None)
                    or getattr(given, "ticket_id", None)
                    or getattr(given, "rollout_id", None),
                    reason=error.message,
                )
            )
            workflow.logger.warning("rejected %s signal from %s: %s", kind.value, given.actor, error.message)
            return
        apply(given)

    def _set_phase(self, phase: Phase) -> None:
        self._progress.phase = phase
        request = self._progress.request
        workflow.upsert_search_attributes(
            [
                visibility.PHASE.value_set(phase.value),
                visibility.OUTGOING.value_set(request.outgoing),
                visibility.INCOMING.value_set(request.incoming),
                visibility.VARIANT.value_set(request.variant.value),
            ]
        )

    async def _as_ready(
        self,
        ready: Callable[[], list[T]],
        finished: Callable[[], bool],
        run: Callable[[list[T]], Awaitable[None]],
    ) -> None:
        """Work items as humans make them ready, in batches, until every item is finished."""
        while True:
            await workflow.wait_condition(lambda: bool(ready()) or finished())
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
        item.stage = {Outcome.HANDED_OVER: "done", Outcome.SKIPPED: "skipped", Outcome.FAILED: "failed"}.get(
            result.outcome, item.stage
        )


def _handed_over(items: Sequence[IncidentHandover | TicketHandover | RolloutHandover]) -> int:
    return sum(item.outcome is Outcome.HANDED_OVER for item in items)


def _reason(error: BaseException) -> str:
    """The innermost message of a failure chain: what a person needs to read."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error)
