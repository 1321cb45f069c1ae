"""Items worked in batches, as people make them ready: one activity call per batch of up to 250.

Deterministic workflow code. Used by the incident, ticket and rollout steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handover import tracing
    from handover.models import InputKind, ItemHandover, ItemResult, Outcome

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import BEAT_PATCH, HandoverState, reason

T = TypeVar("T", bound=ItemHandover)

BATCH_SIZE = 250
"""Items per activity call; PagerDuty's bulk `PUT /incidents` takes at most 250."""

BATCH = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
GATHER_PATCH = "gather-acknowledgements"
"""`workflow.patched` id: handovers started before acknowledgements were gathered replay without."""


async def as_ready(
    handover: HandoverState,
    items: list[T],
    run: Callable[[HandoverState, list[T]], Awaitable[None]],
    when: Callable[[T], bool],
    done: Callable[[T], bool] = lambda item: False,
    gather: timedelta | None = None,
    more_coming: Callable[[], bool] = lambda: False,
) -> None:
    """Work the pending items people have made ready (`when`) and that are not `done` yet, in
    batches, until each is done or has an outcome. With `gather`, a batch smaller than BATCH_SIZE
    waits up to that long for more while `more_coming()`."""

    def ready() -> list[T]:
        return [i for i in items if i.outcome is Outcome.PENDING and not done(i) and when(i)]

    def finished() -> bool:
        return all(done(i) or i.outcome is not Outcome.PENDING for i in items)

    while True:
        await handover.wait(lambda: bool(ready()) or finished())
        if (
            gather is not None
            and ready()
            and len(ready()) < BATCH_SIZE
            and more_coming()
            and workflow.patched(GATHER_PATCH)
        ):
            if workflow.patched(BEAT_PATCH):
                await handover.wait(lambda: len(ready()) >= BATCH_SIZE or not more_coming(), beat=gather)
            else:
                try:
                    await handover.wait(
                        lambda: len(ready()) >= BATCH_SIZE or not more_coming(), timeout=gather
                    )
                except TimeoutError:
                    pass
        batch = ready()[:BATCH_SIZE]
        if not batch:
            return
        await run(handover, batch)


async def run_batch(
    handover: HandoverState,
    method: Callable[..., Any],
    work: Any,
    item_ids: list[str],
    after: tuple[InputKind, ...] = (),
) -> list[ItemResult]:
    """One batch activity, in the trace of the person's input (of the kinds `after`) that made its
    first item ready; if it fails for good, every item of it fails with the reason."""
    try:
        with tracing.within(handover.trace_of(item_ids, after)):
            activity = workflow.start_activity_method(method, work, **BATCH)
        return await activity
    except ActivityError as error:
        return [
            ItemResult(item_id=item_id, outcome=Outcome.FAILED, detail=reason(error)) for item_id in item_ids
        ]


def finish(item: ItemHandover, result: ItemResult) -> None:
    item.outcome = result.outcome
    item.detail = result.detail
    stages = {Outcome.HANDED_OVER: "done", Outcome.SKIPPED: "skipped", Outcome.FAILED: "failed"}
    item.stage = stages.get(result.outcome, item.stage)
