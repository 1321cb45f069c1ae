"""One world, run: the sandbox loaded with it, a plan per handover, then the handovers themselves
(at once when there are two) with the world's people answering, on a time-skipping server of the
world's own (its clock starts at the real now, which the sandbox's scenario times follow).

Everything the invariants need is kept in a `WorldRun`: the sandbox state before and after, the
write log, each handover's plan, report or refusal, and what the people did meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from handover import service
from handover.errors import HandoverError, NoWorker, from_failure
from handover.models import (
    HandoverPlan,
    HandoverProgress,
    HandoverReport,
    HandoverRequest,
    Phase,
    Variant,
    workflow_id_for,
)
from handover.settings import Settings
from sandbox.testing import SandboxHandle
from tests.conftest import _worker_for, skipping, start_time_skipping
from tests.worlds.generate import HandoverSpec, Person, World, scenario
from tests.worlds.people import Mischief, Player, Stalled

RESULT_WITHIN = 60.0
"""Seconds for a handover whose summary is acknowledged to end (the overlap is skipped)."""
REFUSED_WITHIN = 20.0
"""Seconds for step 0 to refuse an invalid pair."""
PLAN_WITHIN = 10.0
"""Seconds for a plan (reads only: well under one when nothing is wrong)."""

worker = contextlib.asynccontextmanager(_worker_for)


@dataclass
class HandoverRun:
    world: World
    spec: HandoverSpec
    plan: HandoverPlan | None = None
    plan_refusal: str | None = None
    refusal: str | None = None
    """Why step 0 refused the pair (the error a person reads)."""
    progress: HandoverProgress | None = None
    """The last progress seen: at the summary's acknowledgement, or where it stopped."""
    report: HandoverReport | None = None
    stalled: str | None = None
    """Why the handover did not end as it should have, if it did not."""
    refused_inputs: list[str] = field(default_factory=list)
    handle: WorkflowHandle | None = None
    """As `start` gave it: waiting on its result lets the time-skipping server skip time."""

    @property
    def outgoing(self) -> Person:
        return self.world.people[self.spec.outgoing]

    @property
    def incoming(self) -> Person:
        return self.world.people[self.spec.incoming]

    @property
    def defects(self) -> list[str]:
        return self.world.pair_defects(self.spec)

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.outgoing.email)

    @property
    def key(self) -> str | None:
        """The handover run's key: in its Slack metadata, notes and annotations."""
        known = self.report or self.progress
        return known.key if known is not None else None

    @property
    def request(self) -> HandoverRequest:
        spec = self.spec
        return HandoverRequest(
            outgoing=self.outgoing.email,
            incoming=self.incoming.email,
            variant=Variant(spec.variant),
            reason=spec.reason,
            offboarding=spec.offboarding,
            requested_by="worlds",
        )

    def short(self) -> str:
        return f"{self.spec.short()} ({self.workflow_id})"


@dataclass
class WorldRun:
    world: World
    before: dict
    """The sandbox's state as loaded (`GET /_sandbox/state`)."""
    after: dict
    plan_writes: list[dict]
    """The write log once every plan was made, before any handover started."""
    writes: list[dict]
    """The whole write log: the handovers' writes and the people's."""
    handovers: list[HandoverRun]
    mischief: Mischief


async def run_world(
    world: World, sandbox: SandboxHandle, settings: Settings, executor: ThreadPoolExecutor
) -> WorldRun:
    sandbox.reset(scenario(world))
    before = sandbox.state()
    runs = [HandoverRun(world=world, spec=spec) for spec in world.handovers]
    mischief = Mischief(handovers=sum(not run.defects for run in runs))
    env = await start_time_skipping()
    try:
        async with worker(env.client, skipping(settings), executor) as task_queue:
            for run in runs:
                # Waiting for a result lets the server skip time; a plan waited for with skipping
                # moves the server's clock ahead of the sandbox's (to the plan's timeout).
                with env.auto_time_skipping_disabled():
                    await make_plan(env.client, task_queue, run)
            plan_writes = sandbox.writes()
            try:
                players = await asyncio.gather(
                    *(start_and_play(env.client, task_queue, sandbox, run, mischief) for run in runs)
                )
                # Only now wait for the results: waiting lets the server skip time (the overlap),
                # which must not happen while the people of another handover are still answering.
                # One at a time: the test server takes one unlock of time skipping at a time.
                for run, player in zip(runs, players, strict=True):
                    if player is not None:
                        await finish(run)
            finally:
                for run in runs:
                    with contextlib.suppress(RPCError):
                        await env.client.get_workflow_handle(run.workflow_id).terminate("the world is done")
    finally:
        await env.shutdown()
    for run in runs:
        run.handle = None  # (its server is gone)
    return WorldRun(
        world=world,
        before=before,
        after=sandbox.state(),
        plan_writes=plan_writes,
        writes=sandbox.writes(),
        handovers=runs,
        mischief=mischief,
    )


async def make_plan(client: Client, task_queue: str, run: HandoverRun) -> None:
    try:
        run.plan = await asyncio.wait_for(service.plan(client, task_queue, run.request), PLAN_WITHIN)
    except HandoverError as error:
        run.plan_refusal = f"{type(error).__name__}: {error.message}"
    except TimeoutError:
        run.plan_refusal = f"no plan within {PLAN_WITHIN:g} s (a read failing again and again?)"


async def start_and_play(
    client: Client, task_queue: str, sandbox: SandboxHandle, run: HandoverRun, mischief: Mischief
) -> Player | None:
    """Start the handover; an invalid pair must be refused at step 0, a valid one is played until
    the summary is acknowledged. The player, when there is a result to wait for."""
    run.handle = await service.start(client, task_queue, run.request)
    if run.defects:
        await expect_refusal(client, run)
        return None
    player = Player(client, sandbox, run.world, run.spec, run.workflow_id, mischief)
    try:
        run.progress = await player.play()
    except (Stalled, HandoverError) as error:
        run.stalled = str(error) if isinstance(error, Stalled) else f"the handover failed: {error.message}"
        with contextlib.suppress(RPCError):  # (before another handover's wait skips time for it)
            await run.handle.terminate(f"stalled: {run.stalled}"[:200])
        return None
    finally:
        run.refused_inputs = player.refused
        run.progress = run.progress or player.last
    return player


async def expect_refusal(client: Client, run: HandoverRun) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REFUSED_WITHIN
    while True:
        try:
            current = await service.progress(client, run.workflow_id)
        except HandoverError as error:
            if isinstance(error, NoWorker) and loop.time() < deadline:
                continue  # (a loaded machine's late answer is no refusal: asked again)
            run.refusal = f"{type(error).__name__}: {error.message}"
            return
        if current.phase not in (Phase.VALIDATING, Phase.FAILED) or loop.time() > deadline:
            run.progress = current  # not refused: the invariant says so, with what it did
            await asyncio.sleep(1)  # (and lets it write what it would, for the write log to show)
            return
        await asyncio.sleep(0.05)  # (failed in the query, not yet as a workflow: asked again)


async def finish(run: HandoverRun) -> None:
    assert run.handle is not None
    try:
        run.report = await asyncio.wait_for(run.handle.result(), RESULT_WITHIN)
    except TimeoutError:
        run.stalled = f"no result within {RESULT_WITHIN:g} s after the summary's acknowledgement"
    except WorkflowFailureError as error:
        known = from_failure(error)
        run.stalled = f"the handover failed: {known.message if known else error.cause}"
