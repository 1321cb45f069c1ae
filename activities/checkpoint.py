"""What a batch activity has done so far, kept in its heartbeat details.

A batch (every incident of a handover, every ticket, every rollout) makes several requests per
item. When one of them fails — a 5xx, a dropped connection, a timeout, a killed worker — Temporal
retries the activity; without a checkpoint the retry would start again from the first item, and an
API that fails one request in four would almost never let a batch of twenty requests through.

With one, the retry starts after the last item done. The item that was in flight is done again,
which its look-before-write makes safe. And an attempt that moved forward before it failed is
retried after a second rather than after the retry policy's growing backoff: that backoff is for an
API that is down, not for one that is dropping some requests. Temporal still does the retrying.

    with Checkpoint() as checkpoint:
        checkpoint.each(batch.items, key=lambda item: item.id, work=hand_over, at_once=8)
        return [ItemResult.model_validate(checkpoint[item.id]) for item in batch.items]

`each` works through the items not done yet, several side by side (an alert storm has thousands;
one at a time is what makes a naive script slow), and records each as it finishes. `checkpointed`
is that whole block for a batch whose every item gives one model:

    return checkpointed(batch.items, key=lambda item: item.id, work=hand_over, result=ItemResult, at_once=8)
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import ContextVar, Token
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

EXACT = "~exact"
"""The checkpoint's entry that an attempt ended by raising (not by a crash): then the checkpoint
is exact, and it names what that attempt had in flight."""

BEAT_EVERY = 1.0
"""Seconds between two heartbeats of a batch, and before its first. Each carries the whole
checkpoint, encoded on the worker's event loop: one per request (hundreds a second in an alert
storm) starves the workflows on the same worker; and each is a write of Temporal's, so a batch done
within a second (a few gathered acknowledgements) sends none. A crash loses at most this much of
the checkpoint, and the retry then looks before writing (`unsure`)."""

SOON = timedelta(seconds=1)
"""The retry delay after an attempt that moved forward."""
LOOKED = timedelta(seconds=5)
"""The retry delay after an attempt that wrote nothing but had reads answered (`read_answered`)."""

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_current: ContextVar[Checkpoint | None] = ContextVar("checkpoint", default=None)


class Checkpoint:
    def __init__(self) -> None:
        details = activity.info().heartbeat_details if activity.in_activity() else []
        self._done: dict[str, Any] = dict(details[0]) if details and isinstance(details[0], dict) else {}
        self._attempt = activity.info().attempt if activity.in_activity() else 1
        exact = self._done.pop(EXACT, None)
        self._unsure: set[str] | None = (
            set(exact["unfinished"])
            if isinstance(exact, dict) and exact.get("attempt") == self._attempt - 1
            else None
        )
        self.resumed = len(self._done)
        """How many items an earlier attempt did."""
        self._started: set[str] = set()
        self._last_beat = time.monotonic()  # (the first beat is due BEAT_EVERY in)
        self._moved = False
        self._answered = False
        self._token: Token | None = None
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def __getitem__(self, key: str) -> Any:
        return self._done[key]

    def record(self, key: str, value: Any, at_once: bool = False) -> None:
        """`key` is done, with `value` (JSON): kept with the next heartbeat (`at_once`: with a
        heartbeat now, for what a retry after a crash must know before this attempt writes)."""
        with self._lock:
            self._done[key] = value
            self._started.discard(key)
            self._moved = True
        if at_once and activity.in_activity() and activity.info().heartbeat_timeout is not None:
            activity.heartbeat(self.snapshot())
        else:
            heartbeat()

    def start(self, key: str) -> None:
        """`key` is about to be written: if this attempt fails before recording it, the next
        attempt is `unsure` of it."""
        with self._lock:
            self._started.add(key)

    def unsure(self, key: str) -> bool:
        """Whether an earlier attempt may have written for `key` without hearing back, so that
        this attempt must look before it writes. Never on a first attempt. After an attempt that
        failed by raising (a 429, a 5xx, a timeout), only for what it had started and not recorded;
        after a crash (the checkpoint is the last heartbeat that got through), for everything not
        recorded. Looking costs requests: under a rate limit a retry that looked at every item
        would use up the window before writing anything."""
        if self._attempt == 1:
            return False
        return self._unsure is None or key in self._unsure

    def each(
        self, items: Iterable[T], key: Callable[[T], str], work: Callable[[T], Any], at_once: int
    ) -> None:
        """`work(item)` for every item not done yet, up to `at_once` side by side, recording each
        result (JSON) as it comes. When one raises, no new item starts; those in flight finish
        and are recorded; then the first error is raised, for Temporal to retry from here."""
        todo = [item for item in items if key(item) not in self]

        def work_on(item: T) -> Any:
            with structlog.contextvars.bound_contextvars(item=key(item)):
                return work(item)

        outcomes: Counter[str] = Counter()
        each_item = activity.logger.isEnabledFor(logging.DEBUG)

        def done(item: T, result: Any) -> None:
            self.record(key(item), result)
            outcome = (result.get("outcome") if isinstance(result, dict) else None) or "ok"
            outcomes[outcome] += 1
            # A line per item only at DEBUG (an alert storm's thousands cost it 15% at INFO), but
            # always for one that failed.
            if outcome == "failed":
                detail = result.get("detail") if isinstance(result, dict) else None
                activity.logger.warning("failed: %s", detail or "see the report", extra={"item": key(item)})
            elif each_item:
                activity.logger.debug("done: %s", outcome, extra={"item": key(item)})

        try:
            side_by_side(todo, work_on, at_once, done=done, started=lambda item: self.start(key(item)))
        finally:
            if outcomes:
                counted = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
                activity.logger.info("batch done: %s", counted)

    def beat_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last_beat < BEAT_EVERY:
                return False
            self._last_beat = now
            return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._done)

    def __enter__(self) -> Checkpoint:
        if self.resumed:
            activity.logger.info("resuming after %d items done by an earlier attempt", self.resumed)
        self._token = _current.set(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
        if error is not None and (self._attempt == 1 or self._unsure is not None):
            # Ended by raising, not by a crash: what this attempt did is known exactly, and the
            # last heartbeat goes with the failure. What it was unsure of and did not finish stays
            # unsure. (An attempt that was unsure of everything leaves the next one so too.)
            with self._lock:
                unfinished = self._started | {k for k in self._unsure or () if k not in self._done}
                self._done[EXACT] = {"attempt": self._attempt, "unfinished": sorted(unfinished)}
            if activity.in_activity() and activity.info().heartbeat_timeout is not None:
                activity.heartbeat(self.snapshot())
        if (
            isinstance(error, ApplicationError)
            and (self._moved or self._answered)
            and not error.non_retryable
            and error.next_retry_delay is None
        ):
            delay = SOON if self._moved else LOOKED
            raise ApplicationError(
                error.message, *error.details, type=error.type, next_retry_delay=delay
            ) from error


def checkpointed(
    items: list[T], key: Callable[[T], str], work: Callable[[T], BaseModel], result: type[M], at_once: int
) -> list[M]:
    """`work(item)` once for every item across the activity's attempts (`Checkpoint.each`, the
    results kept as JSON), then the results as `result`, in the items' order."""
    with Checkpoint() as checkpoint:
        checkpoint.each(items, key=key, work=lambda item: work(item).model_dump(mode="json"), at_once=at_once)
    return [result.model_validate(checkpoint[key(item)]) for item in items]


def side_by_side(
    items: Iterable[T],
    work: Callable[[T], Any],
    at_once: int,
    done: Callable[[T, Any], None] | None = None,
    started: Callable[[T], None] | None = None,
) -> None:
    """`work(item)` for each item, up to `at_once` at a time on threads of their own, and
    `done(item, result)` on this thread as each finishes. When one raises, no new item starts;
    those in flight finish; then the first error is raised."""
    items = list(items)
    if at_once <= 1 or len(items) <= 1:  # no threads to start for one item
        for item in items:
            if started is not None:
                started(item)
            result = work(item)
            if done is not None:
                done(item, result)
        return
    todo = iter(items)
    running: dict[Future, T] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="batch") as pool:

        def start_next() -> None:
            item = next(todo, None)
            if item is not None:
                if started is not None:
                    started(item)
                # The copied context carries the activity (heartbeats) and its checkpoint.
                running[pool.submit(contextvars.copy_context().run, work, item)] = item

        for _ in range(max(1, at_once)):
            start_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                try:
                    result = future.result()
                    if done is not None:
                        done(item, result)
                except BaseException as error:  # noqa: BLE001 - raised below, once the others finish
                    failure = failure or error
                if failure is None:
                    start_next()
    if failure is not None:
        raise failure


def wrote() -> None:
    """A write succeeded: the running batch moved forward, even if it fails before its next item
    (the write's own look-before-write makes the retry skip it)."""
    checkpoint = _current.get()
    if checkpoint is not None:
        checkpoint._moved = True


def read_answered() -> None:
    """A read was answered: the API is up and only dropping some requests. A retry that must look
    before it writes (after an attempt that may have written unheard) fails whenever any of its
    looks fails; without this, at a quarter of requests failing, the backoff grew to a minute per
    attempt and a handover outran five minutes (make reliability). Not `SOON`: an API that answers
    reads but refuses every write is retried every `LOOKED`, not every second."""
    checkpoint = _current.get()
    if checkpoint is not None:
        checkpoint._answered = True


def heartbeat() -> None:
    """Heartbeat, carrying the running batch's checkpoint if there is one (a bare heartbeat would
    replace the details with nothing)."""
    if not activity.in_activity() or activity.info().heartbeat_timeout is None:
        return
    checkpoint = _current.get()
    if checkpoint is None:
        activity.heartbeat()
    elif checkpoint.beat_due():
        # A copy: the details are encoded later, on the worker's event loop.
        activity.heartbeat(checkpoint.snapshot())
