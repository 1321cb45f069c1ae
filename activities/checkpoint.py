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
        for item in batch.items:
            if item.id not in checkpoint:
                checkpoint.record(item.id, hand_over(item).model_dump(mode="json"))
        return [ItemResult.model_validate(checkpoint[item.id]) for item in batch.items]
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

SOON = timedelta(seconds=1)
"""The retry delay after an attempt that moved forward."""

_current: ContextVar[Checkpoint | None] = ContextVar("checkpoint", default=None)


class Checkpoint:
    def __init__(self) -> None:
        details = activity.info().heartbeat_details if activity.in_activity() else []
        self._done: dict[str, Any] = dict(details[0]) if details and isinstance(details[0], dict) else {}
        self.resumed = len(self._done)
        """How many items an earlier attempt did."""
        self._moved = False
        self._token: Token | None = None

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def __getitem__(self, key: str) -> Any:
        return self._done[key]

    def record(self, key: str, value: Any) -> None:
        """`key` is done, with `value` (JSON): kept with the next heartbeat."""
        self._done[key] = value
        self._moved = True
        heartbeat()

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
        if (
            isinstance(error, ApplicationError)
            and self._moved
            and not error.non_retryable
            and error.next_retry_delay is None
        ):
            raise ApplicationError(
                error.message, *error.details, type=error.type, next_retry_delay=SOON
            ) from error


def wrote() -> None:
    """A write succeeded: the running batch moved forward, even if it fails before its next item
    (the write's own look-before-write makes the retry skip it)."""
    checkpoint = _current.get()
    if checkpoint is not None:
        checkpoint._moved = True


def heartbeat() -> None:
    """Heartbeat, carrying the running batch's checkpoint if there is one (a bare heartbeat would
    replace the details with nothing)."""
    if not activity.in_activity() or activity.info().heartbeat_timeout is None:
        return
    checkpoint = _current.get()
    if checkpoint is None:
        activity.heartbeat()
    else:
        activity.heartbeat(checkpoint._done)
