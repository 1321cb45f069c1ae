"""The runbook "Hand over platform on-call duties", as one durable workflow.

Read it next to the runbook: `run` is the procedure, one step each, named after it and in a module
of its own (workflows/validate.py, freeze.py, incidents.py, tickets.py, rollouts.py, digest.py,
summary.py, audit.py, reminders.py, wind_down.py); the runbook's variations are branches at the
steps they change (`request.variant`). Deterministic: all I/O is in activities, time is
`workflow.now()` and durable timers.

Human inputs are declared once (handover/inputs.py): each is an Update with a validator and a
Signal twin of the same name and payload, made from its declaration (handover/handlers.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handover import decisions, inputs
    from handover.errors import HandoverError
    from handover.handlers import handlers
    from handover.models import (
        HandoverProgress,
        HandoverReport,
        HandoverRequest,
        InputAccepted,
        PagerDutyEvent,
        Phase,
        SlackActionEvent,
        SlackReactionEvent,
        UnclearThreadInput,
        Variant,
    )

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows import digest, summary
from workflows.asks import ASKS_PATCH, keep_asks_current
from workflows.audit import audit_impersonation
from workflows.digest import build_digest
from workflows.freeze import freeze_assignments, keep_assignments_frozen
from workflows.incidents import DRAFTS_PATCH, hand_over_incidents, read_drafts, rescan_incidents
from workflows.inventory import end_every_impersonation, take_inventory
from workflows.mid_shift import wait_for_mitigation
from workflows.reminders import WAITING_ON_PATCH, keep_waiting_on_current, remind_and_escalate
from workflows.rollouts import transfer_rollouts
from workflows.state import Cancelled, HandoverState, reason
from workflows.summary import post_summary
from workflows.tickets import hand_over_tickets
from workflows.validate import announce, validate
from workflows.wind_down import wait_for_overlap, wind_down


@workflow.defn
class HandoverWorkflow:
    @workflow.init
    def __init__(self, request: HandoverRequest) -> None:
        self._handover = HandoverState(
            HandoverProgress(
                handover_id=workflow.info().workflow_id,
                run_id=workflow.info().run_id,
                request=request,
                started_at=workflow.now(),
            )
        )
        self._publishing: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverReport:
        handover = self._handover
        if workflow.patched(WAITING_ON_PATCH):
            self._publishing = asyncio.create_task(keep_waiting_on_current(handover))
        try:
            await validate(handover)
        except (HandoverError, ActivityError) as error:
            # Step 0 refused the request: nothing was done, the requester hears why.
            handover.progress.error = reason(error)
            handover.set_phase(Phase.FAILED)
            raise
        reminders: asyncio.Task[None] | None = None
        frozen: asyncio.Task[None] | None = None
        drafts: asyncio.Task[None] | None = None
        asks: asyncio.Task[None] | None = None
        try:
            await announce(handover)
            reminders = asyncio.create_task(remind_and_escalate(handover))
            if workflow.patched(ASKS_PATCH):
                asks = asyncio.create_task(keep_asks_current(handover))
            if request.variant is Variant.MID_SHIFT:
                await wait_for_mitigation(handover)
            handover.check_cancelled()
            await freeze_assignments(handover)
            if handover.progress.override is not None:
                frozen = asyncio.create_task(keep_assignments_frozen(handover))
            await take_inventory(handover)
            if workflow.patched(DRAFTS_PATCH):
                drafts = asyncio.create_task(read_drafts(handover))
            handover.check_cancelled()
            if decisions.acts_as_service(request):
                await end_every_impersonation(handover)
            handover.check_cancelled()
            handover.set_phase(Phase.HANDING_OVER)
            await handover.side_by_side(
                hand_over_incidents(handover, handover.progress.incidents),
                hand_over_tickets(handover),
                transfer_rollouts(handover),
                *([build_digest(handover)] if request.variant is Variant.EMERGENCY else []),
            )
            await rescan_incidents(handover)
            await post_summary(handover)
            if request.offboarding:
                await audit_impersonation(handover)
            handover.stop_freezing = True  # every step is done: the current override sees the overlap out
            await wait_for_overlap(handover)
            handover.set_phase(Phase.COMPLETED)
        except Cancelled:
            await wind_down(handover)
        except (HandoverError, ActivityError) as error:
            # Something refused for good after step 0: every item still gets its outcome, and
            # the report (phase failed, with the reason) is still the result.
            await wind_down(handover, failure=reason(error))
        finally:
            handover.stop_reminders = handover.stop_freezing = True
            if drafts is not None and not drafts.done():
                drafts.cancel()  # (the handover ended before PagerDuty answered: no drafts needed)
            for task in (reminders, frozen, drafts, asks):
                if task is not None:
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._count_outcomes()
        return HandoverReport(**handover.progress.model_dump(), completed_at=workflow.now())

    def _count_outcomes(self) -> None:
        """Prometheus counters of how handovers and their items end (docs/operations.md, "Metrics").
        The SDK's meter does not count again when a worker replays the handover."""
        progress, meter = self._handover.progress, workflow.metric_meter()
        variant = progress.request.variant.value
        meter.create_counter("handover_ended", "Handovers ended, by variant and phase").add(
            1, {"variant": variant, "phase": progress.phase.name.lower()}
        )
        items = meter.create_counter("handover_items", "Items of ended handovers, by kind and outcome")
        for kind, handed in progress.items():
            for outcome, count in Counter(item.outcome.value for item in handed).items():
                items.add(count, {"variant": variant, "kind": kind, "outcome": outcome})

    @workflow.query
    def progress(self) -> HandoverProgress:
        progress = self._handover.progress
        return progress.model_copy(
            update={
                "pending": decisions.pending_inputs(progress),
                "status_groups": decisions.status_groups(progress),
            }
        )

    # --- human inputs: each an Update (validated) and its Signal twin, from its declaration -------

    submit_status, submit_status_signal = handlers(inputs.STATUS)
    submit_group_status, submit_group_status_signal = handlers(inputs.GROUP_STATUS)
    acknowledge_incident, acknowledge_incident_signal = handlers(inputs.INCIDENT_ACK)
    acknowledge_all_incidents, acknowledge_all_incidents_signal = handlers(inputs.ALL_INCIDENTS_ACK)
    link_engineering_issue, link_engineering_issue_signal = handlers(inputs.ENGINEERING_LINK)
    annotate_rollout, annotate_rollout_signal = handlers(inputs.ROLLOUT_ANNOTATION)
    take_rollout_ownership, take_rollout_ownership_signal = handlers(inputs.ROLLOUT_OWNERSHIP)
    take_all_rollouts, take_all_rollouts_signal = handlers(inputs.ALL_ROLLOUTS_OWNERSHIP)
    acknowledge_summary, acknowledge_summary_signal = handlers(inputs.SUMMARY_ACK)
    declare_mitigated, declare_mitigated_signal = handlers(inputs.MITIGATED)
    cancel, cancel_signal = handlers(inputs.CANCEL)

    # The one input that writes before it is recorded (the catch-up post): handlers of its own.
    @workflow.update(name=inputs.UNCLEAR_THREAD.name)
    async def flag_unclear_thread(self, given: UnclearThreadInput) -> InputAccepted:
        return await digest.flag_unclear_thread_update(self._handover, given)

    @flag_unclear_thread.validator
    def _validate_flag_unclear_thread(self, given: UnclearThreadInput) -> None:
        inputs.check_unclear_thread(self._handover.progress, given)

    @workflow.signal(name=inputs.UNCLEAR_THREAD.name)
    async def flag_unclear_thread_signal(self, given: UnclearThreadInput) -> None:
        await digest.flag_unclear_thread_signal(self._handover, given)

    # --- events relayed by the endpoint: Slack and PagerDuty, as signals (never lost) -----------

    @workflow.signal(name="slack_reaction")
    def on_slack_reaction(self, event: SlackReactionEvent) -> None:
        summary.on_slack_reaction(self._handover, event)

    @workflow.signal(name="slack_action")
    def on_slack_action(self, event: SlackActionEvent) -> None:
        summary.on_slack_action(self._handover, event)

    @workflow.signal(name="pagerduty_event")
    def on_pagerduty_event(self, event: PagerDutyEvent) -> None:
        summary.on_pagerduty_event(self._handover, event)
