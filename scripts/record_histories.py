"""Record the workflow histories the replay tests (tests/replay/) replay.

    .venv/bin/python scripts/record_histories.py                      # every recording not on disk yet
    .venv/bin/python scripts/record_histories.py planned mid-shift    # only these
    .venv/bin/python scripts/record_histories.py --tag TAG planned    # a new behaviour: planned-TAG.json
    .venv/bin/python scripts/record_histories.py --list

Each recording is a real run: a time-skipping Temporal test server started from the venv's
`temporal-test-server` (nothing is downloaded), the real worker with the real activities against
the sandbox (in process, demo scenario, reset before each run), both people played through the
same calls the CLI makes. Each run goes to its end (`handle.result()` skips the timers); its
history is replayed once against the current code as a check, then written as JSON to
tests/replay/histories/<name>[-TAG].json. About 20 seconds for all of them.

When to run it: after a deliberate change to what the workflow does, made behind
`workflow.patched("<patch id>")`, with `--tag <patch id>`, to ADD histories of the new behaviour
next to the old ones. The old histories are what handovers started before the change look like:
they stay as they are and must keep replaying, so an existing file is never replaced unless you
pass --overwrite (only for a history of your own change, not yet merged). Never run it to make a
failing replay test pass: a non-determinism failure means handovers already running would be stuck
on the new code; patch the change instead (docs/patching.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from temporalio import workflow  # noqa: E402
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Replayer, Worker  # noqa: E402

from activities import all_activities  # noqa: E402
from devstack.people import Role, TemporalDesk, play  # noqa: E402
from handover import service, visibility  # noqa: E402
from handover.models import (  # noqa: E402
    AutopilotRequest,
    CancelInput,
    HandoverProgress,
    HandoverRequest,
    HumanInput,
    IncidentAckInput,
    InputKind,
    MitigatedInput,
    PagerDutyEvent,
    PendingInput,
    Phase,
    ReminderPolicy,
    RolloutAnnotationInput,
    SlackReactionEvent,
    Steer,
    UnclearThreadInput,
    Variant,
    autopilot_id,
)
from handover.settings import Settings  # noqa: E402
from sandbox.state import DEMO_SCENARIO  # noqa: E402
from sandbox.testing import SandboxHandle, running_sandbox  # noqa: E402
from tests import humans  # noqa: E402
from tests.humans import INCOMING, OUTGOING  # noqa: E402
from workflows.autopilot import AutopilotWorkflow  # noqa: E402
from workflows.handover import HandoverWorkflow  # noqa: E402
from workflows.plan import PlanWorkflow  # noqa: E402

HISTORIES = ROOT / "tests" / "replay" / "histories"
WORKFLOWS = [HandoverWorkflow, PlanWorkflow, AutopilotWorkflow]
BIN = Path(sys.prefix) / "bin"

QUIET = Runtime(
    # The SDK core's warning that the test server does not keep heartbeat details on failure is
    # true and irrelevant here: errors only.
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    )
)

Recording = Callable[[WorkflowEnvironment, str], Awaitable[WorkflowHandle]]
RECORDINGS: dict[str, Recording] = {}
SANDBOX: list[SandboxHandle] = []
"""The sandbox of the recording in progress, for one that changes PagerDuty while it runs."""


def recording(name: str) -> Callable[[Recording], Recording]:
    def register(run: Recording) -> Recording:
        RECORDINGS[name] = run
        return run

    return register


def request(**changes) -> HandoverRequest:
    return HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="record-histories", **changes)


async def finished(handle: WorkflowHandle, phase: Phase) -> WorkflowHandle:
    """The run to its end (timers skipped), checked: a history of the wrong behaviour is no use."""
    report = await handle.result()
    if report.phase is not phase:
        raise SystemExit(f"{handle.id} ended {report.phase.value}, not {phase.value}: {report.error}")
    return handle


# --- the recordings ---------------------------------------------------------------------------


@recording("planned")
async def planned(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """Every input, each as an Update, except the first incident's: its acknowledgement comes as a
    Signal before its status (held, too early), then the status as a Signal (both applied)."""
    client = env.client
    handle = await service.start(client, task_queue, request())
    first = (await humans.inventory(client, handle.id)).incidents[0].incident.id
    await handle.signal(InputKind.INCIDENT_ACK.value, IncidentAckInput(actor=INCOMING, incident_id=first))
    await handle.signal(InputKind.STATUS.value, humans.status_for(first))
    await humans.wait_for(client, handle.id, lambda p: p.incidents[0].acknowledged is not None)
    await humans.play_outgoing(client, handle.id, skip={first})
    await humans.play_incoming(client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("planned-late-incidents")
async def planned_late_incidents(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """Reminders a minute apart; once every incident is reassigned, one is put back on Alice and
    another assigned to her: the re-scan reassigns the first again (and re-acknowledges it),
    announces the second in the thread and hands it over once its status comes."""
    client, sandbox = env.client, SANDBOX[0]
    policy = ReminderPolicy(
        remind_after=timedelta(minutes=1),
        escalate_after=timedelta(minutes=3),
        repeat_every=timedelta(minutes=5),
    )
    handle = await service.start(client, task_queue, request(reminders=policy))
    await humans.play_outgoing(client, handle.id)
    await humans.wait_for(client, handle.id, lambda p: all(i.reassigned is not None for i in p.incidents))
    humans.assign_in_pagerduty(sandbox, "Q2API5X", "PALICEM")
    humans.assign_in_pagerduty(sandbox, "Q6KAFKA", "PALICEM")
    incoming = asyncio.create_task(humans.play_incoming(client, handle.id))
    await humans.wait_for(client, handle.id, lambda p: any(i.rescanned for i in p.incidents))
    await service.send(client, handle.id, InputKind.STATUS, humans.status_for("Q6KAFKA"))
    await incoming
    return await finished(handle, Phase.COMPLETED)


@recording("planned-offboarding")
async def planned_offboarding(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """The audit check (step 6) after the summary; the audit log is prompt: no gap."""
    handle = await service.start(env.client, task_queue, request(offboarding=True))
    await humans.play_outgoing(env.client, handle.id)
    await humans.play_incoming(env.client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("routine")
async def routine(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """No override: the on-call check instead (Bob is not on call in the demo: the warning)."""
    handle = await service.start(env.client, task_queue, request(variant=Variant.ROUTINE))
    await humans.play_outgoing(env.client, handle.id)
    await humans.play_incoming(env.client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("emergency-incapacitated")
async def emergency_incapacitated(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """Nothing from outgoing; the context digest; incoming flags one unclear thread."""
    client = env.client
    emergency = request(
        variant=Variant.EMERGENCY, reason="incapacitated: hospital", overlap=timedelta(hours=1)
    )
    handle = await service.start(client, task_queue, emergency)
    current = await humans.wait_for(client, handle.id, lambda p: p.digest is not None)
    thread = next(t for t in current.digest.channel if t.replies)
    flag = UnclearThreadInput(actor=INCOMING, thread_ts=thread.ts, question="Who restarted the edge proxies?")
    await service.send(client, handle.id, InputKind.UNCLEAR_THREAD, flag)
    await humans.play_incoming(client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("emergency-compromised")
async def emergency_compromised(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """Every session of outgoing ended first; every write as the service."""
    handle = await service.start(
        env.client, task_queue, request(variant=Variant.EMERGENCY, reason="compromised")
    )
    await humans.inventory(env.client, handle.id)
    await humans.play_incoming(env.client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("mid-shift")
async def mid_shift(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """A day of outage (the watch, reminders and escalations of the pending `declare_mitigated`),
    then mitigated by outgoing, then the formal handover."""
    client = env.client
    outage = request(
        variant=Variant.MID_SHIFT,
        senior=INCOMING,
        major_incident="Q2API5X",
        mitigation_poll=timedelta(hours=6),
    )
    handle = await service.start(client, task_queue, outage)
    await humans.wait_for(client, handle.id, lambda p: p.phase is Phase.OUTAGE)
    await env.sleep(timedelta(days=1))
    mitigated = MitigatedInput(actor=OUTGOING, note="failed over to the replica")
    await service.send(client, handle.id, InputKind.MITIGATED, mitigated)
    await humans.play_outgoing(client, handle.id)
    await humans.play_incoming(client, handle.id)
    return await finished(handle, Phase.COMPLETED)


@recording("cancelled")
async def cancelled(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """Cancelled mid-incidents: one incident, four tickets moved; one rollout annotated only."""
    client = env.client
    handle = await service.start(client, task_queue, request())
    listed = await humans.inventory(client, handle.id)
    first = listed.incidents[0].incident.id
    await service.send(client, handle.id, InputKind.STATUS, humans.status_for(first))
    annotation = RolloutAnnotationInput(
        actor=OUTGOING,
        rollout_id=listed.rollouts[0].rollout.id,
        ramp_percent=25,
        error_rate=0.4,
        next_step="hold at 25%",
    )
    await service.send(client, handle.id, InputKind.ROLLOUT_ANNOTATION, annotation)

    def moved_so_far(p: HandoverProgress) -> bool:
        tickets_moved = sum(t.reassigned is not None for t in p.tickets)
        return bool(p.incidents[0].reassigned and p.rollouts[0].annotation_id) and tickets_moved == 4

    await humans.wait_for(client, handle.id, moved_so_far)
    cancel = CancelInput(actor="record-histories", reason="wrong incoming")
    await service.send(client, handle.id, InputKind.CANCEL, cancel)
    return await finished(handle, Phase.CANCELLED)


class AcknowledgesFirstInPagerDuty(TemporalDesk):
    """Bob acknowledges the first incident in PagerDuty once it is his (its webhook's event, as the
    endpoint relays it); everything else through the service."""

    async def progress(self) -> HandoverProgress | None:
        self.current = await super().progress()
        return self.current

    async def give(self, wait: PendingInput, given: HumanInput) -> bool:
        first = self.current.incidents[0]
        if wait.kind is not InputKind.INCIDENT_ACK or wait.item_id != first.incident.id:
            return await super().give(wait, given)
        if first.reassigned is None:
            return False  # not his yet: the next round
        event = PagerDutyEvent(
            event_type="incident.acknowledged", incident_id=first.incident.id, agent_id="PBOBOKA"
        )
        await self.client.get_workflow_handle(self.workflow_id).signal("pagerduty_event", event)
        return True


def posted(current: HandoverProgress) -> bool:
    return current.summary is not None


@recording("planned-slack-reaction")
async def planned_slack_reaction(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """The events as the endpoint relays them: incoming acknowledges the first incident in
    PagerDuty (`pagerduty_event`); Carol's :+1: on the summary is refused, Bob's acknowledges it
    (`slack_reaction`)."""
    client = env.client
    handle = await service.start(client, task_queue, request())
    await humans.play_outgoing(client, handle.id)
    current = await play(AcknowledgesFirstInPagerDuty(client, handle.id), {Role.INCOMING}, until=posted)
    ts = current.summary.ts
    carol = SlackReactionEvent(user_id="U0CAROL", channel=current.summary.channel, ts=ts, reaction="+1")
    await handle.signal("slack_reaction", carol)
    bob = SlackReactionEvent(
        user_id="U0BOB", channel=current.summary.channel, ts=ts, reaction="+1::skin-tone-4"
    )
    await handle.signal("slack_reaction", bob)
    handle = await finished(handle, Phase.COMPLETED)
    report = await handle.result()
    if report.incidents[0].acknowledged is None or [r.actor for r in report.rejected] != ["slack:U0CAROL"]:
        raise SystemExit("the events were not taken as expected")
    return handle


@workflow.defn(name="HandoverWorkflow", sandboxed=False)
class StandIn:
    """In the autopilot's recording, the handover it starts: it only waits."""

    @workflow.run
    async def run(self, request: HandoverRequest) -> None:
        await workflow.wait_condition(lambda: False)


@recording("autopilot")
async def autopilot(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """The autopilot's first run on the demo schedule (Bob's week begins in five days): the notice,
    a pause and a resume (Updates), then the routine handover started two hours before the change,
    and continue-as-new. Its handover runs a stand-in that only waits: only the autopilot's own
    history is kept."""
    pilot = await env.client.start_workflow(
        AutopilotWorkflow.run,
        AutopilotRequest(
            schedule_id="PPRIMARY", requested_by="record-histories", handover_task_queue="record-stand-in"
        ),
        id=autopilot_id("PPRIMARY"),
        task_queue=task_queue,
    )
    pilot = env.client.get_workflow_handle(pilot.id, run_id=pilot.result_run_id)  # (its first run)
    while (await pilot.query(AutopilotWorkflow.status)).read_at is None:
        await asyncio.sleep(0.05)
    steer = Steer(by="record-histories", why="recording the steers")
    await pilot.execute_update(AutopilotWorkflow.pause, steer)
    await pilot.execute_update(AutopilotWorkflow.resume, steer)
    async with Worker(env.client, task_queue="record-stand-in", workflows=[StandIn]):
        await env.sleep(timedelta(days=5))
        while (await pilot.describe()).status is not WorkflowExecutionStatus.CONTINUED_AS_NEW:
            await asyncio.sleep(0.05)
    status = await pilot.query(AutopilotWorkflow.status)
    if [record.started for record in status.history] != [True]:
        raise SystemExit(f"the autopilot did not start the handover: {status.history}")
    return pilot


async def _plan(env: WorkflowEnvironment, task_queue: str, plan_request: HandoverRequest) -> WorkflowHandle:
    handle = await service.start_plan(
        env.client, task_queue, plan_request, f"plan-{plan_request.outgoing}-recorded"
    )
    await handle.result()
    return handle


@recording("plan")
async def plan(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """`starter.py plan` for a planned handover: the lookups only."""
    return await _plan(env, task_queue, request())


@recording("plan-routine")
async def plan_routine(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    """`starter.py plan --variant routine`: with the on-call check."""
    return await _plan(env, task_queue, request(variant=Variant.ROUTINE))


# --- the machinery ----------------------------------------------------------------------------


def sandbox_settings(sandbox: SandboxHandle, data_dir: Path) -> Settings:
    """Every client on the sandbox, whatever the environment says: a real token or URL in it must
    never turn a recording into writes to a real PagerDuty, Slack or platform."""
    tokens = sandbox.store.state.tokens
    return Settings(
        sandbox_url=sandbox.base_url,
        ca_file=sandbox.ca_file,
        data_dir=data_dir,
        pagerduty_api_token=SecretStr(tokens.pagerduty_token),
        pagerduty_base_url=sandbox.pagerduty_url,
        pagerduty_schedule_id="PPRIMARY",
        pagerduty_service_ids=["PPLATOPS", "PPLATAPI"],
        slack_bot_token=SecretStr(tokens.slack_bot_token),
        slack_base_url=sandbox.slack_url,
        slack_channel_id="C0PLATOPS",
        platform_api_token=SecretStr(tokens.platform_token),
        platform_base_url=sandbox.platform_url,
        service_email="oncall-handover@novalien.com",
        watch_reactions=True,
        poll_seconds=0.2,  # as the tests: the mid-shift watch reads often,
        watch_seconds=0,  # and once per attempt, so that the test server can skip time
    )


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make install` (the SDK must never download it)")
    return str(path)


async def record(
    name: str, path: Path, sandbox: SandboxHandle, settings: Settings, executor: ThreadPoolExecutor
) -> int:
    sandbox.reset(DEMO_SCENARIO)
    SANDBOX[:] = [sandbox]
    # A server of its own per recording: its clock starts at the real now, as the sandbox's scenario.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        runtime=QUIET,
    )
    try:
        await visibility.register(env.client)
        task_queue = f"record-{name}"
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=all_activities(settings),
            activity_executor=executor,
        ):
            handle = await RECORDINGS[name](env, task_queue)
        history = await handle.fetch_history()
    finally:
        await env.shutdown()
    # The test server leaves the start event's workflow id empty (a real server fills it in): the
    # replay test reads it from there.
    started = history.events[0].workflow_execution_started_event_attributes
    started.workflow_id = started.workflow_id or handle.id
    # The current code must replay what it just did; if not, the workflow itself is non-deterministic.
    await Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, runtime=QUIET
    ).replay_workflow(history)
    path.write_text(history.to_json() + "\n")
    return len(history.events)


async def main(names: list[str], tag: str | None, overwrite: bool) -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    paths = {name: HISTORIES / (f"{name}-{tag}.json" if tag else f"{name}.json") for name in names}
    for name, path in list(paths.items()):
        if path.exists() and not overwrite:
            print(f"{path.relative_to(ROOT)}: kept (it exists; see --tag, --overwrite)")
            del paths[name]
    if not paths:
        return
    with (
        tempfile.TemporaryDirectory(prefix="record-histories-") as data_dir,
        running_sandbox(DEMO_SCENARIO, data_dir) as sandbox,
        ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor,
    ):
        settings = sandbox_settings(sandbox, Path(data_dir))
        for name, path in paths.items():
            began = time.monotonic()
            events = await record(name, path, sandbox, settings, executor)
            print(
                f"{path.relative_to(ROOT)}: {events} events, {path.stat().st_size / 1024:.0f} KiB, "
                f"{time.monotonic() - began:.1f} s"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="recordings to make (default: all)")
    parser.add_argument(
        "--tag", help="the patch id of the new behaviour: writes NAME-TAG.json next to NAME.json"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing files (only your own, unmerged ones)"
    )
    parser.add_argument("--list", action="store_true", help="list the recordings and exit")
    args = parser.parse_args()
    if args.list:
        for name, run in RECORDINGS.items():
            print(f"{name:26} {(run.__doc__ or '').split(chr(10))[0]}")
        raise SystemExit(0)
    unknown = sorted(set(args.names) - set(RECORDINGS))
    if unknown:
        parser.error(f"unknown recording(s): {', '.join(unknown)}; see --list")
    if args.tag is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.tag):
        parser.error("--tag: lower-case letters, digits and dashes (the patch id)")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # (the workflow's own warnings: refused signals)
    asyncio.run(main(args.names or list(RECORDINGS), args.tag, args.overwrite))
