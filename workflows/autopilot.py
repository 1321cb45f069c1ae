"""The autopilot of one PagerDuty schedule: at each change of person, the routine handover.

It reads the final schedule (overrides and swaps applied) for the next change of person, waits
until `lead` before it, reading the schedule again every `recheck` (a change that moves is
followed; one that disappears is re-planned). `notice` before the start it tells the channel who
hands to whom and when, or that the next person cannot be handed to (not a platform admin, not in
Slack) while there is time to fix the schedule. Then it starts the routine handover from whoever
is on call to whoever is next, through the same door a person uses (activities/autopilot.py),
keyed by the schedule and the change: never twice. People steer it (pause, resume, skip-next),
each recorded with who and why. Then it continues as new, so its history stays short however many
weeks it runs. Deterministic: time is `workflow.now()` and durable timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.autopilot import AutopilotActivities
    from activities.pagerduty import PagerDutyActivities, ShiftChange, ShiftQuery
    from activities.slack import SlackActivities, SlackPost
    from handover import messages
    from handover.errors import AlreadyDone, HandoverError, UnknownItem
    from handover.models import (
        PLANNED_MINIMUM_OVERLAP,
        AutopilotRequest,
        AutopilotStatus,
        Boundary,
        BoundaryRecord,
        ScheduledStart,
        StartedHandover,
        Steer,
        SteerAction,
        SteerRecord,
        autopilot_id,
    )
    from handover.text import format_time

from workflows import lookups
from workflows.lookups import LOOKUP
from workflows.state import reason

KEPT = 20
"""Changes handled, and steers, that the autopilot remembers (its status shows them)."""
WAITS_PER_RUN = 50
"""Schedule reads in one run while it waits (12 days at the default `recheck`); then it continues
as new, so its history stays short however long a change is in coming."""
MOVED_CHANGE_PATCH = "autopilot-moved-change"
"""`workflow.patched` id: autopilots that started before a moved change was known as the same
replay without."""
REFUSED_STARTS_PATCH = "autopilot-posts-refused-starts"
"""`workflow.patched` id: autopilots that started before a refused start was posted replay without."""
READ = dict(LOOKUP, retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5))
"""A read of the schedule gives up after five tries (about a minute): the autopilot says why in
the channel and its status, and reads again in TROUBLE_RECHECK, rather than wait on it unseen."""
TROUBLE_RECHECK = timedelta(minutes=5)
"""While the schedule cannot be read, how often it is read again."""
POST_MARGIN = timedelta(minutes=1)
"""A notice is looked for in the channel from this long before it was first asked for (a retry
after a post Slack answered unheard finds it and posts none)."""


@workflow.defn
class AutopilotWorkflow:
    @workflow.init
    def __init__(self, request: AutopilotRequest) -> None:
        self._request = request.model_copy(deep=True)
        """What is carried over when it continues as new: pauses, skips and steers change it."""
        self._next: Boundary | None = None
        self._read_at: datetime | None = None
        self._acting: Boundary | None = None
        """The change being acted on (its handover starting): a pause or skip now would land on
        the change after, so they are refused until it is done."""

    @workflow.run
    async def run(self, request: AutopilotRequest) -> None:
        if request.handled_until is None and not request.history:
            await self._check_schedule()  # (the first run: refused at once, not weeks later)
        if self._request.watching_since is None:
            self._request.watching_since = workflow.now()
        after = request.handled_until or workflow.now()
        boundary = await self._next_change(after)
        waits = 0
        while boundary is None or workflow.now() < self._starts_at(boundary):
            if boundary is not None and workflow.now() >= self._notice_at(boundary):
                await self._notice(boundary)
            if waits >= WAITS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await self._continue()  # (a long wait: the history stays short)
            wake = workflow.now() + (TROUBLE_RECHECK if self._request.trouble else request.recheck)
            if boundary is not None:
                wake = min(wake, self._starts_at(boundary))
                if self._request.noticed != _key(boundary) and boundary.outgoing is not None:
                    # (a change from nobody gets no notice: waiting for one would read every second)
                    wake = min(wake, self._notice_at(boundary))
            await workflow.sleep(max(wake - workflow.now(), timedelta(seconds=1)))
            boundary = await self._next_change(after)  # an override or a swap may have moved it
            waits += 1
        self._acting = boundary
        started = await self._act_on(boundary)
        record = BoundaryRecord(
            boundary=boundary,
            at=workflow.now(),
            handover_id=started.handover_id,
            started=started.started,
            detail=started.detail,
        )
        workflow.logger.info("shift change at %s: %s", boundary.at, started.detail)
        self._request.history = [*self._request.history, record][-KEPT:]
        self._request.handled_until = boundary.at
        await self._continue()

    async def _act_on(self, boundary: Boundary) -> StartedHandover:
        """At `lead` before the change: skipped, paused, missed, refused, or started."""
        request = self._request
        if request.skip is not None:
            skip, request.skip = request.skip, None
            self._show()
            return StartedHandover(handover_id=None, started=False, detail=f"skipped: {skip.line()}")
        if request.paused is not None:
            return StartedHandover(
                handover_id=None, started=False, detail=f"not started, paused: {request.paused.line()}"
            )
        if boundary.outgoing is None:
            return StartedHandover(handover_id=None, started=False, detail="nobody was on call before it")
        moved = self._moved(boundary)
        if moved is not None and workflow.patched(MOVED_CHANGE_PATCH):
            return StartedHandover(
                handover_id=moved.handover_id,
                started=False,
                detail=f"the change at {format_time(moved.boundary.at)} moved here after its handover "
                f"{moved.handover_id} started: the same handover",
            )
        if workflow.now() > boundary.at + request.lead:
            # Found long after it happened (the worker was down, say): too late to hand over.
            return StartedHandover(
                handover_id=None, started=False, detail=f"missed: found after the change, at {workflow.now()}"
            )
        problem = await self._cannot_hand_over(boundary)
        if problem is not None:
            # Step 0 would refuse it: refused here, where the channel hears why.
            await self._post(f"refused-{_key(boundary)}", messages.autopilot_refused(boundary, problem))
            return StartedHandover(handover_id=None, started=False, detail=f"not started: {problem}")
        started = await workflow.execute_activity_method(
            AutopilotActivities.start_scheduled_handover,
            ScheduledStart(
                schedule_id=request.schedule_id,
                boundary=boundary,
                # `lead`, then the runbook's 2 h past the change; the same whenever it is asked (a
                # second autopilot of the schedule asks for the same handover, and gets it back).
                overlap=request.lead + PLANNED_MINIMUM_OVERLAP,
                requested_by=f"autopilot:{request.schedule_id}",
                task_queue=request.handover_task_queue or workflow.info().task_queue,
                since=request.handled_until or request.watching_since,
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
        if started.blocked and workflow.patched(REFUSED_STARTS_PATCH):
            await self._post(
                f"refused-{_key(boundary)}", messages.autopilot_refused(boundary, started.detail)
            )
        return started

    def _moved(self, boundary: Boundary) -> BoundaryRecord | None:
        """The change just handed over, if this is it moved later (an override kept the outgoing
        admin on for a while after its handover started): the same people, within its window."""
        last = self._request.history[-1] if self._request.history else None
        if last is None or not last.started:
            return None
        same = (last.boundary.outgoing, last.boundary.incoming) == (boundary.outgoing, boundary.incoming)
        window = self._request.lead + PLANNED_MINIMUM_OVERLAP
        return last if same and boundary.at - last.boundary.at <= window else None

    async def _notice(self, boundary: Boundary) -> None:
        """Once per change (and again when who or when changes): the channel hears who hands to
        whom and when the handover starts, or why it cannot, while there is time to fix it."""
        key = _key(boundary)
        if self._request.noticed == key or boundary.outgoing is None:
            return
        problem = await self._cannot_hand_over(boundary)
        text = messages.autopilot_notice(
            self._request.schedule_id,
            boundary,
            self._starts_at(boundary),
            problem=problem,
            paused=self._request.paused,
            skip=self._request.skip,
        )
        await self._post(f"notice-{key}", text)
        self._request.noticed = key

    async def _cannot_hand_over(self, boundary: Boundary) -> str | None:
        """Why step 0 would refuse the handover (an admin PagerDuty, the platform or Slack does not
        know as an active platform admin), or None."""
        assert boundary.outgoing is not None
        for email in (boundary.outgoing, boundary.incoming):
            try:
                await lookups.resolve_admin(email)
            except HandoverError as error:
                return error.message
        return None

    async def _post(self, part: str, text: str) -> None:
        await workflow.execute_activity_method(
            SlackActivities.post_message,
            SlackPost(
                handover_id=autopilot_id(self._request.schedule_id),
                part=part,
                text=text,
                since=workflow.now() - POST_MARGIN,
            ),
            **LOOKUP,
        )

    async def _continue(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._request)

    async def _check_schedule(self) -> None:
        schedule_id = self._request.schedule_id
        found = await workflow.execute_activity_method(
            PagerDutyActivities.find_schedule, schedule_id, **LOOKUP
        )
        if found is None:
            raise UnknownItem(
                f"PagerDuty has no schedule {schedule_id}: check the id (the end of the schedule's "
                "page address, e.g. PPRIMARY)"
            )

    async def _next_change(self, after: datetime) -> Boundary | None:
        """The next change of person, or None (none within the horizon, or the schedule cannot be
        read: then the channel hears why, once, and it is read again in TROUBLE_RECHECK)."""
        request = self._request
        try:
            change: ShiftChange | None = await workflow.execute_activity_method(
                PagerDutyActivities.next_shift_change,
                ShiftQuery(schedule_id=request.schedule_id, after=after, horizon=request.horizon),
                **READ,
            )
        except ActivityError as error:  # (a token revoked, PagerDuty down for minutes)
            problem = reason(error)
            if request.trouble != problem:
                text = messages.autopilot_cannot_read(request.schedule_id, problem)
                await self._post(f"trouble-{workflow.now():%Y%m%dT%H%M%SZ}", text)
                request.trouble = problem
            workflow.logger.warning("cannot read schedule %s: %s", request.schedule_id, problem)
            self._next = None
            self._show()
            return None
        request.trouble = None
        self._read_at = workflow.now()
        self._next = (
            None
            if change is None
            else Boundary(
                at=change.at,
                outgoing=change.outgoing.email if change.outgoing else None,
                incoming=change.incoming.email,
            )
        )
        self._show()
        return self._next

    def _starts_at(self, boundary: Boundary) -> datetime:
        return boundary.at - self._request.lead

    def _notice_at(self, boundary: Boundary) -> datetime:
        return self._starts_at(boundary) - self._request.notice

    def _show(self) -> None:
        """What it does next, in the Temporal UI (the workflow's current details)."""
        workflow.set_current_details(self.status().summary())

    @workflow.query
    def status(self) -> AutopilotStatus:
        request, boundary = self._request, self._next
        return AutopilotStatus(
            schedule_id=request.schedule_id,
            read_at=self._read_at,
            next=boundary,
            starts_at=self._starts_at(boundary) if boundary else None,
            lead=request.lead,
            paused=request.paused,
            skip=request.skip,
            history=request.history,
            steers=request.steers,
            trouble=request.trouble,
        )

    # --- people steer it: each recorded with who and why ------------------------------------

    def _not_acting(self) -> None:
        change = self._acting
        if change is not None:
            raise AlreadyDone(
                f"the routine handover for the change at {change.at:%Y-%m-%d %H:%M} UTC "
                f"({change.outgoing} → {change.incoming}) is starting now: cancel the handover "
                "(`starter.py cancel`) if it should not run, then steer the autopilot"
            )

    def _shown(self) -> AutopilotStatus:
        """After a steer: the Temporal UI's details follow it; the caller gets the status."""
        self._show()
        return self.status()

    def _steer(self, action: SteerAction, steer: Steer) -> SteerRecord:
        record = SteerRecord(
            action=action,
            by=steer.by,
            why=steer.why,
            at=workflow.now(),
            change_at=self._next.at if self._next and action is SteerAction.SKIP_NEXT else None,
        )
        self._request.steers = [*self._request.steers, record][-KEPT:]
        workflow.logger.info("autopilot %s", record.line())
        return record

    @workflow.update
    def pause(self, steer: Steer) -> AutopilotStatus:
        """No handover starts until `resume` (a change passed while paused is recorded, not handed
        over late)."""
        self._request.paused = self._steer(SteerAction.PAUSE, steer)
        return self._shown()

    @pause.validator
    def _can_pause(self, steer: Steer) -> None:
        self._not_acting()
        if self._request.paused is not None:
            raise AlreadyDone(f"the autopilot is paused already: {self._request.paused.line()}")

    @workflow.update
    def resume(self, steer: Steer) -> AutopilotStatus:
        """Back to normal: not paused, and no change skipped."""
        self._steer(SteerAction.RESUME, steer)
        self._request.paused = self._request.skip = None
        return self._shown()

    @resume.validator
    def _can_resume(self, steer: Steer) -> None:
        if self._request.paused is None and self._request.skip is None:
            raise AlreadyDone("the autopilot is neither paused nor skipping a change: nothing to resume")

    @workflow.update
    def skip_next(self, steer: Steer) -> AutopilotStatus:
        """The next change it acts on starts no handover (recorded as skipped)."""
        self._request.skip = self._steer(SteerAction.SKIP_NEXT, steer)
        return self._shown()

    @skip_next.validator
    def _can_skip(self, steer: Steer) -> None:
        self._not_acting()
        if self._request.skip is not None:
            raise AlreadyDone(f"the next change is skipped already: {self._request.skip.line()}")


def _key(boundary: Boundary) -> str:
    """A change as the channel was told of it: when, and who hands to whom."""
    return f"{boundary.at:%Y%m%dT%H%M%SZ}-{boundary.outgoing}-{boundary.incoming}"
