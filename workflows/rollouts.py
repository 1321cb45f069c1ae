"""Step 4: transfer feature-flag rollouts in flight — per rollout ramping or paused, the outgoing
admin's annotation (ramp %, last error rate, next planned ramp step), then the incoming admin
takes ownership of it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.platform import (
        AnnotationBatch,
        AnnotationWork,
        OwnershipBatch,
        OwnershipWork,
        PlatformActivities,
    )
    from handover.models import InputKind, Outcome, RolloutHandover

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.batches import as_ready, finish, run_batch
from workflows.state import HandoverState


async def transfer_rollouts(handover: HandoverState) -> None:
    """Per rollout ramping or paused: annotation (outgoing), then ownership (incoming)."""
    items = handover.progress.rollouts
    await handover.side_by_side(
        as_ready(handover, items, _annotate, when=_annotated, done=_posted),
        as_ready(handover, items, _transfer_ownership, when=lambda r: r.owned is not None and _posted(r)),
    )


def _annotated(item: RolloutHandover) -> bool:
    return item.annotated is not None


def _posted(item: RolloutHandover) -> bool:
    return item.annotation_id is not None


async def _annotate(handover: HandoverState, batch: list[RolloutHandover]) -> None:
    work = AnnotationBatch(
        handover_id=handover.progress.key,
        acting_as=handover.acting_as,
        outgoing=handover.outgoing.email,
        incoming=handover.incoming.email,
        items=[
            AnnotationWork(rollout_id=r.rollout.id, annotation=r.annotation) for r in batch if r.annotation
        ],
    )
    for item in batch:
        item.stage = "annotating"
    results = await run_batch(
        handover,
        PlatformActivities.annotate_rollouts,
        work,
        [r.rollout.id for r in batch],
        after=(InputKind.ROLLOUT_ANNOTATION,),
    )
    for item, result in zip(batch, results, strict=True):
        if result.outcome is Outcome.HANDED_OVER:
            item.annotation_id = result.ref
            item.stage = "waiting for ownership" if item.owned is None else "transferring ownership"
        else:
            finish(item, result)


async def _transfer_ownership(handover: HandoverState, batch: list[RolloutHandover]) -> None:
    work = OwnershipBatch(
        incoming=handover.incoming.email,
        outgoing=handover.outgoing.email,
        items=[OwnershipWork(rollout_id=r.rollout.id, annotation_id=r.annotation_id or "") for r in batch],
    )
    for item in batch:
        item.stage = "transferring ownership"
    results = await run_batch(
        handover,
        PlatformActivities.transfer_rollout_ownership,
        work,
        [r.rollout.id for r in batch],
        after=(InputKind.ROLLOUT_OWNERSHIP, InputKind.ALL_ROLLOUTS_OWNERSHIP),
    )
    for item, result in zip(batch, results, strict=True):
        finish(item, result)
