"""What a running handover knows, and the ways it waits, posts and reports: shared by every step.

Deterministic workflow code (no I/O: activities; no clock: `workflow.now()`). `HandoverWorkflow`
holds one `HandoverState`; each step module takes it.

Waiting on people: every wait goes through `wait`, which a cancel ends. A cancel never stops an
activity half-way: a batch in flight finishes, everything not started is left untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.slack import SlackActivities, SlackPost
    from handover import decisions, messages, tracing, visibility
    from handover.errors import HandoverError, NotReady, UnknownItem
    from handover.inputs import Declared
    from handover.models import (
        Admin,
        HandoverProgress,
        InputKind,
        ItemHandover,
        Outcome,
        Phase,
        RejectedInput,
    )

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.lookups import LOOKUP

WATCH_ATTEMPT = dict(
    # One attempt of a watch (the major incident, the summary's reactions) lasts at most
    # HANDOVER_WATCH_SECONDS (10 minutes at most) and heartbeats at every read.
    start_to_close_timeout=timedelta(minutes=15),
    heartbeat_timeout=timedelta(minutes=2),
)


BEAT_PATCH = "one-beat"
"""`workflow.patched` id: the gathering and the asks' pause share one timer (`HandoverState`'s
beat); handovers started before replay with a timer each."""

ALL_ITEMS = "*"
"""`HandoverState.traces`' key for an input given for all items (acknowledge all)."""


class Cancelled(Exception):
    """Raised at a wait point once the handover is cancelled; `run` winds down."""


class Halted(Exception):
    """Raised at a wait point once a sibling step failed for good; `run` winds down."""


class HandoverState:
    # (A plain class, not a dataclass: @dataclass writes its methods with exec, and the sandbox
    # runs this module afresh for every handover, so each handover would hold its own copies.)
    def __init__(self, progress: HandoverProgress) -> None:
        self.progress = progress
        self.open_sessions: list[str] = []
        self.stop_reminders = False
        self.stop_freezing = False
        self.failure: HandoverError | ActivityError | None = None
        self.held: list[tuple[Declared[Any], Any]] = []
        """Signals that came before the handover could take them; checked again as it moves on."""
        self.traces: dict[tuple[InputKind, str], dict[str, str]] = {}
        """Per input kind and item (ALL_ITEMS: an input for all of them), the trace of the person's
        input, which the batch it makes ready continues (handover/tracing.py). Empty while tracing is off."""
        self._beat: asyncio.Future[None] | None = None

    @property
    def outgoing(self) -> Admin:
        assert self.progress.outgoing is not None
        return self.progress.outgoing

    @property
    def incoming(self) -> Admin:
        assert self.progress.incoming is not None
        return self.progress.incoming

    @property
    def acting_as(self) -> str:
        return self.progress.acting_as or self.outgoing.email

    # --- waiting ---------------------------------------------------------------------------------

    def check_cancelled(self) -> None:
        if self.progress.cancelled is not None:
            raise Cancelled()

    async def wait(
        self, condition: Callable[[], bool], timeout: timedelta | None = None, beat: timedelta | None = None
    ) -> None:
        """Wait for people (or a timer; with `beat`, at most until the handover's next beat). A
        cancel ends every wait with `Cancelled`; a step that failed for good ends its sibling
        steps' waits too (`Halted`)."""
        fired = self._next_beat(beat).done if beat is not None else lambda: False
        await workflow.wait_condition(
            lambda: self.progress.cancelled is not None or self.failure is not None or condition() or fired(),
            timeout=timeout,
        )
        self.check_cancelled()
        if self.failure is not None:
            raise Halted()

    async def until_beat(self, every: timedelta, condition: Callable[[], bool]) -> None:
        """Until `condition()`, or at most the handover's next beat (no cancel checks: for a loop
        beside the steps, as the asks')."""
        fired = self._next_beat(every).done
        await workflow.wait_condition(lambda: condition() or fired())

    def _next_beat(self, every: timedelta) -> asyncio.Future[None]:
        """One timer for the follow-ups that wait a moment (the gathered acknowledgements, the
        asks' update): whichever waits first starts it, the others join it, and all of them wake
        in the workflow task of its firing, not in one each."""
        if self._beat is None or self._beat.done():
            self._beat = asyncio.ensure_future(workflow.sleep(every))
        return self._beat

    async def side_by_side(self, *steps: Coroutine[Any, Any, None]) -> None:
        """Run steps side by side until each ends. A cancel, or one step failing for good, stops
        the others at their next wait: a batch in flight always finishes."""

        async def guarded(step: Coroutine[Any, Any, None]) -> None:
            try:
                await step
            except (Cancelled, Halted):
                raise
            except (HandoverError, ActivityError) as error:
                self.failure = self.failure or error
                raise

        results = await asyncio.gather(*(guarded(step) for step in steps), return_exceptions=True)
        if self.failure is not None:
            raise self.failure
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def watch_until(
        self, method: Callable[..., Any], argument: Any, pause: timedelta, done: Callable[[], bool]
    ) -> Any | None:
        """Run a watching activity, attempt after attempt `pause` apart, until it reports or
        `done()`. Its result, or None when `done()` came first or the watch gave up."""
        retry = RetryPolicy(initial_interval=pause, backoff_coefficient=1.0, maximum_interval=pause)
        watch = workflow.start_activity_method(method, argument, retry_policy=retry, **WATCH_ATTEMPT)
        try:
            await self.wait(lambda: done() or watch.done())
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
            self.log(logging.WARNING, "stopped watching: %s", reason(error))
            return None

    # --- telling --------------------------------------------------------------------------------

    async def post(self, part: str, text: str, *, thread: bool = False, thread_ts: str | None = None) -> str:
        """A message of this handover in the channel (or in its thread), posted once."""
        post = SlackPost(
            handover_id=self.progress.key,
            part=part,
            text=text,
            thread_ts=thread_ts or (self.progress.thread_ts if thread else None),
            since=self.progress.started_at,
        )
        return await workflow.execute_activity_method(SlackActivities.post_message, post, **LOOKUP)

    def log(self, level: int, message: str, *args: object, item: str | None = None) -> None:
        """A log line with the handover's step and item; the SDK adds the workflow and run ids (see
        handover/logs.py) and leaves it out while the workflow replays."""
        step = self.progress.phase.name.lower()
        workflow.logger.log(level, message, *args, extra={"step": step, "item": item})

    def set_phase(self, phase: Phase) -> None:
        progress = self.progress
        progress.phase = phase
        self.log(logging.INFO, "now %s", phase.value)
        workflow.set_current_details(messages.current_details(progress, decisions.waiting_on(progress)))
        self.retry_held()
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

    # --- people's inputs: checked, applied, held or rejected --------------------------------------

    def accept(self, declared: Declared[Any], given: Any) -> Any:
        """An Update's input (its validator checked it): applied, and held inputs looked at again."""
        assert declared.apply is not None  # (handlers() makes no Update of an input without one)
        accepted = declared.accepted(given, declared.apply(self.progress, given, workflow.now()))
        self.remember_trace(declared, given)
        self.log(logging.INFO, "accepted %s", accepted.kind.value, item=accepted.item_id)
        self.retry_held()  # an input may make a held one valid (an acknowledgement after its status)
        return accepted

    def take_signal(self, declared: Declared[Any], given: Any) -> None:
        """A Signal's input: applied if it passes its check; held or recorded as rejected if not."""
        assert declared.apply is not None
        if not self.rejected(declared, given, hold=True):
            declared.apply(self.progress, given, workflow.now())
            self.remember_trace(declared, given)
            self.log(logging.INFO, "accepted %s (signal)", declared.name, item=declared.item_of(given))
            self.retry_held()

    def remember_trace(self, declared: Declared[Any], given: Any) -> None:
        trace = tracing.here()
        if trace:
            for item_id in declared.items_of(given) or [ALL_ITEMS]:
                self.traces[(declared.kind, item_id)] = trace

    def trace_of(self, item_ids: list[str], after: tuple[InputKind, ...]) -> dict[str, str] | None:
        """The trace a batch of these items continues: that of the input (of the kinds `after`)
        that made its first item ready."""
        for item_id in (*item_ids, ALL_ITEMS):
            for kind in after:
                if (kind, item_id) in self.traces:
                    return self.traces[(kind, item_id)]
        return None

    def rejected(self, declared: Declared[Any], given: Any, hold: bool) -> bool:
        """Checks a signal's input. One that came too early is held (and checked again as the
        handover moves on); any other refused one is recorded in progress. Neither is applied."""
        try:
            declared.check(self.progress, given)
        except HandoverError as error:
            if hold and self.too_early(error):
                self.held.append((declared, given))
                self.log(
                    logging.INFO,
                    "holding %s signal from %s until %s",
                    declared.name,
                    given.actor,
                    error.message,
                    item=declared.item_of(given),
                )
            else:
                self.reject(declared, given, error.message)
            return True
        return False

    def too_early(self, error: HandoverError) -> bool:
        """Signals wait at the server while no worker is up, and may all arrive at its start."""
        return isinstance(error, NotReady) or (
            isinstance(error, UnknownItem) and self.progress.inventory_at is None
        )

    def retry_held(self) -> None:
        held, self.held = self.held, []
        for declared, given in held:  # (only inputs with an apply are ever held)
            if not self.rejected(declared, given, hold=True) and declared.apply is not None:
                declared.apply(self.progress, given, workflow.now())

    def reject(self, declared: Declared[Any], given: Any, why: str) -> None:
        self.record_rejection(declared.kind, given.actor, declared.item_of(given), why)

    def record_rejection(self, kind: InputKind, actor: str, item_id: str | None, why: str) -> None:
        self.progress.rejected.append(
            RejectedInput(at=workflow.now(), kind=kind, actor=actor, item_id=item_id, reason=why)
        )
        self.log(logging.WARNING, "rejected %s from %s: %s", kind.value, actor, why, item=item_id)


def left_alone(item: ItemHandover) -> Any:
    """A listed item the listing found not to be the outgoing admin's: skipped, never touched."""
    if item.listed.left_alone is not None:
        item.outcome = Outcome.SKIPPED
        item.detail = f"{item.listed.left_alone}; left alone"
        item.stage = "left alone"
    return item


def reason(error: BaseException) -> str:
    """The innermost message of a failure chain: what a person needs to read."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error)
