"""starter.py — start, follow and finish on-call handovers from the command line.

    python starter.py start alice@novalien.com bob@novalien.com
    python starter.py status alice@novalien.com
    python starter.py submit-status alice@novalien.com Q1ABC --as alice@novalien.com \\
        --hypothesis "..." --last-action "..." --next-action "..."
    python starter.py report alice@novalien.com --wait

A handover is named by its id (handover-<outgoing email>) or by the outgoing admin's email.
Every command has --help. Exit codes: 0 ok, 1 service unreachable or unexpected failure,
2 bad input, 3 unknown admin/handover/item, 4 not allowed, 5 conflict (already running, already
done, not ready yet), 6 `doctor` found a check that did not pass.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from temporalio.service import RPCError

from handover import autopilot, doctor, inputs, service, visibility
from handover.codec import UndecryptablePayload
from handover.errors import HandoverError, InvalidInput, NotReady, invalid_fields
from handover.inputs import Declared
from handover.messages import digest_text, format_duration, outcome_of, plan_text
from handover.models import (
    PLANNED_MINIMUM_OVERLAP,
    AutopilotRequest,
    AutopilotStatus,
    HandoverProgress,
    HandoverRequest,
    InputKind,
    Phase,
    ReminderPolicy,
    Steer,
    SteerAction,
    Variant,
    _email,
    autopilot_id,
)
from handover.report import to_markdown
from handover.settings import Settings, SettingsError
from handover.temporal import connect
from handover.text import format_time, words

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
"""Errors quote what was given ("'[x]' is not an email address"): printed as they are, no markup."""


def duration(text: str) -> timedelta:
    """`2h`, `90m`, `1h30m`, `45s`."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 2h, 90m, 1h30m or 45s")
    days, hours, minutes, secs = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=secs)


def _when(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S UTC") if at else "—"


def print_table(columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """Rows as a table on a terminal, as tab-separated lines otherwise (a pipe, a script, `cut -f`).
    Nothing is ever cut: a value too wide for its column folds onto the next line, and every
    value is text, never rich markup (a subject may well contain "[bold]")."""
    if not out.is_terminal:
        if title:
            print(title)
        for line in [columns, *rows]:
            print("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in line))
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


# --- commands --------------------------------------------------------------------------------


def _request(args: argparse.Namespace) -> HandoverRequest:
    reminders = {
        name: value
        for name, value in (
            ("remind_after", args.remind_after),
            ("escalate_after", args.escalate_after),
            ("repeat_every", args.repeat_every),
        )
        if value is not None
    }
    return HandoverRequest(
        outgoing=args.outgoing,
        incoming=args.incoming,
        variant=args.variant,
        offboarding=args.offboarding,
        reason=args.reason,
        requested_by=args.requested_by,
        overlap=args.overlap,
        senior=args.senior,
        major_incident=args.major_incident,
        reminders=ReminderPolicy(**reminders),
        demo=args.demo,
    )


async def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    request = _request(args)
    service.check_demo(request, settings.uses_sandbox)
    client = await connect(settings)
    handle = await service.start(client, settings.task_queue, request)
    started = f"Started handover [bold]{escape(handle.id)}[/bold]"
    if args.no_wait:
        out.print(f"{started}.")
        return 0
    current = await service.wait_until_validated(client, handle.id)
    if current.outgoing is None:
        out.print(f"{started}, but no worker has picked it up yet: is the worker running (`make run`)?")
        return 0
    incoming = current.incoming.name if current.incoming else request.incoming
    out.print(
        f"{started}: {escape(current.outgoing.name)} → {escape(incoming)} "
        f"({request.variant.value}, overlap {format_duration(request.overlap)})."
    )
    if current.override:
        out.print(
            f"PagerDuty override {current.override.id}: "
            f"incoming is primary until {_when(current.override.end)}.",
            markup=False,
        )
    if current.lead:
        out.print(
            f"Mid-shift outage: {current.lead} leads, {current.shadow} shadows until it is mitigated.",
            markup=False,
        )
    out.print(f"\nNext: python starter.py status {handle.id}", markup=False)
    return 0


async def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    request = _request(args)
    service.check_demo(request, settings.uses_sandbox)
    client = await connect(settings)
    plan = await service.plan(client, settings.task_queue, request)
    print(plan.model_dump_json(indent=2) if args.json else plan_text(plan))
    return 0


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    terminal = sys.stdout.isatty()
    results = await doctor.run(doctor.checks(settings, args.admins), settings)
    for result in results:
        print(doctor.line(result, terminal))
    passed = sum(result.status is doctor.Status.OK for result in results)
    print(f"{passed} of {len(results)} checks passed; nothing was changed.")
    return doctor.exit_code(results)


async def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    current = await service.progress(client, service.handover_id(args.handover))
    if current.digest is None:
        raise NotReady(
            f"handover {current.handover_id} has no context digest"
            + (
                " yet"
                if current.request.variant is Variant.EMERGENCY
                else ": only emergency handovers build one"
            )
        )
    print(digest_text(current, current.digest))
    return 0


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    current = await service.progress(client, service.handover_id(args.handover))
    if args.json:
        print(current.model_dump_json(indent=2))
        return 0
    print_progress(current)
    return 0


def print_progress(p: HandoverProgress) -> None:
    """Every value from the handover is escaped: rich would take "[...]" in it for markup."""
    e = escape
    outgoing = p.outgoing.name if p.outgoing else p.request.outgoing
    incoming = p.incoming.name if p.incoming else p.request.incoming
    out.print(f"[bold]{e(p.handover_id)}[/bold]  {e(outgoing)} → {e(incoming)}  ({p.request.variant.value})")
    out.print(f"Phase: [bold]{p.phase.value}[/bold]   started {_when(p.started_at)}", end="")
    if p.overlap_ends_at:
        out.print(f"   overlap ends {_when(p.overlap_ends_at)}", end="")
    out.print()
    if p.acting_as and p.outgoing and p.acting_as != p.outgoing.email:
        out.print(f"Writes as: {e(p.acting_as)} (the outgoing admin is compromised)")
    if p.lead:
        mitigated = "not mitigated yet"
        if p.mitigated:
            mitigated = f"mitigated ({e(p.mitigated.by)}, {_when(p.mitigated.at)})"
        out.print(f"Mid-shift outage: {e(p.lead)} leads, {e(p.shadow or '?')} shadows; {mitigated}")
    if p.on_call is not None:
        state = "is" if p.on_call.on_call else "[red]is NOT[/red]"
        out.print(f"Routine rotation: {e(p.request.incoming)} {state} on call on {e(p.on_call.schedule_id)}")
    if p.sessions_ended_first:
        out.print(f"Impersonation sessions ended first: {e(', '.join(p.sessions_ended_first))}")
    if p.digest is not None:
        out.print(f"Context digest built {_when(p.digest.built_at)}: `starter.py digest {e(p.handover_id)}`")
    if p.cancelled:
        out.print(
            f"[yellow]Cancelled[/yellow] by {e(p.cancelled.by)} at {_when(p.cancelled.at)}: "
            f"{e(p.cancelled.reason)}"
        )
    if p.error:
        out.print(f"[red]Failed:[/red] {e(p.error)}")
    rows = [
        [words(item.kind), item.listed.id, item.what, item.stage, outcome_of(item)] for item in p.all_items()
    ]
    print_table(["kind", "id", "what", "stage", "outcome"], rows, title="Items")
    if p.summary:
        ack = "waiting for :+1:"
        if p.summary.acknowledged:
            ack = f"acknowledged by {e(p.summary.acknowledged.by)}"
        out.print(f"Summary posted {_when(p.summary.posted_at)}: {ack}")
    if p.pending:
        out.print("[bold]Waiting on people:[/bold]")
        for wait in p.pending:
            item = f" {wait.item_id}" if wait.item_id else ""
            out.print(f"  {e(wait.owner)}: {wait.kind.value}{e(item)}  (since {_when(wait.since)})")
    for group in p.status_groups:
        ids = ",".join(group.incident_ids)
        out.print(
            f"Shared cause? {len(group.incident_ids)} incidents: {e(group.label)}. One status for them: "
            f"`starter.py submit-status-for {e(p.handover_id)} --incidents {e(ids)} ...`",
            soft_wrap=True,
        )
    for flag in p.unclear_threads:
        out.print(
            f"Catch-up asked for thread {e(flag.thread_ts)} by {e(flag.flagged.by)}: {e(flag.question)}"
        )
    for rejected in p.rejected:
        out.print(
            f"[yellow]Rejected[/yellow] {rejected.kind.value} from {e(rejected.actor)}: {e(rejected.reason)}"
        )


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    result = await service.report(client, service.handover_id(args.handover), wait=args.wait)
    print(result.model_dump_json(indent=2) if args.json else to_markdown(result))
    return 0


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    query = service.list_query(
        include_finished=args.all,
        phase=args.phase,
        variant=args.variant,
        outgoing=args.outgoing,
        incoming=args.incoming,
        involving=args.involving,
        waiting_on=args.waiting_on,
    )
    rows = []
    async for execution in client.list_workflows(query, limit=args.limit):
        attributes = execution.typed_search_attributes
        rows.append(
            {
                "handover": execution.id,
                "status": execution.status.name.lower() if execution.status else "?",
                "phase": attributes.get(visibility.PHASE) or "",
                "outgoing": attributes.get(visibility.OUTGOING) or "",
                "incoming": attributes.get(visibility.INCOMING) or "",
                "variant": attributes.get(visibility.VARIANT) or "",
                "waiting_on": list(attributes.get(visibility.WAITING_ON) or []),
                "started_at": execution.start_time.isoformat(),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no handover matches" + ("" if args.all else " (running ones only; --all for every one)"))
    else:
        columns = ["handover", "status", "phase", "outgoing", "incoming", "waiting on", "started"]
        print_table(
            columns,
            [
                [
                    row["handover"],
                    "ended" if row["status"] == "completed" else row["status"],  # (phase: how)
                    row["phase"],
                    row["outgoing"],
                    row["incoming"],
                    ", ".join(row["waiting_on"]),
                    row["started_at"][:16].replace("T", " ") + " UTC",
                ]
                for row in rows
            ],
        )
    if not args.json:
        pilots = await autopilot.every(client)
        if pilots:
            print_table(
                ["autopilot", "schedule", "next"],
                [[row["autopilot"], row["schedule"], row["next"]] for row in pilots],
                title="Autopilots (starter.py autopilot status SCHEDULE)",
            )
    return 0


# --- the autopilot: a schedule's routine handovers, started at each shift change ----------------


async def cmd_autopilot_start(args: argparse.Namespace, settings: Settings) -> int:
    schedule_id = args.schedule or settings.pagerduty_schedule_id
    request = AutopilotRequest(
        schedule_id=schedule_id, requested_by=args.actor, lead=args.lead, notice=args.notice
    )
    client = await connect(settings)
    current = await autopilot.turn_on(client, settings.task_queue, request, why=args.why)
    out.print(
        f"The autopilot of PagerDuty schedule {schedule_id} is on ({autopilot_id(schedule_id)}).",
        markup=False,
    )
    if current is None:
        out.print("No worker has read the schedule yet: is the worker running (`make run`)?", markup=False)
    else:
        _print_autopilot(current)
    out.print(f"\nNext: python starter.py autopilot status {schedule_id}", markup=False)
    return 0


async def cmd_autopilot_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    current = await autopilot.status(client, args.schedule or settings.pagerduty_schedule_id)
    if args.json:
        print(current.model_dump_json(indent=2))
    else:
        _print_autopilot(current)
    return 0


def _steer_command(action: SteerAction) -> Callable[[argparse.Namespace, Settings], Any]:
    async def run(args: argparse.Namespace, settings: Settings) -> int:
        schedule_id = args.schedule or settings.pagerduty_schedule_id
        client = await connect(settings)
        current = await autopilot.steer(client, schedule_id, action, Steer(by=args.actor, why=args.why))
        out.print(
            f"Autopilot of {schedule_id}: {action.value}, recorded ({current.steers[-1].line()}).",
            markup=False,
        )
        _print_autopilot(current)
        return 0

    return run


def _print_autopilot(current: AutopilotStatus) -> None:
    change = current.next
    lines = [f"Autopilot of {current.schedule_id}: {current.summary()}"]
    if change is not None:
        lines += [
            f"  next change:      {format_time(change.at)}, {change.outgoing or 'nobody'} → "
            f"{change.incoming}",
            f"  handover starts:  {format_time(current.starts_at)} ({format_duration(current.lead)} before)"
            if current.starts_at
            else "",
        ]
    if current.read_at is not None:
        lines.append(f"  schedule read at: {format_time(current.read_at)}")
    out.print("\n".join(line for line in lines if line), markup=False)
    if current.history:
        print_table(
            ["change", "from → to", "what happened"],
            [
                [
                    format_time(r.boundary.at),
                    f"{r.boundary.outgoing or 'nobody'} → {r.boundary.incoming}",
                    r.detail,
                ]
                for r in current.history
            ],
            title="Changes handled",
        )
    if current.steers:
        print_table(
            ["when", "what", "who", "why"],
            [[format_time(r.at), r.action.value, r.by, r.why] for r in current.steers],
            title="Steered",
        )


def email(text: str) -> str:
    try:
        return _email(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def error_rate(text: str) -> float | None:
    """A rollout's last observed error rate: a percentage, or `unknown` (never a made-up 0)."""
    if text.strip().lower() in ("unknown", "none", "n/a", "-"):
        return None
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an error rate: give a percentage such as 0.4, or `unknown`"
        ) from None


def incident_ids(text: str) -> list[str]:
    """`P1,P2,P3`, or `@FILE`: ids one a line (or separated by commas or spaces; `#` starts a
    comment), as `starter.py status --json | jq` or a PagerDuty export gives them."""
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            text = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        except (OSError, UnicodeDecodeError) as error:
            raise argparse.ArgumentTypeError(f"cannot read {path}: {error.strerror or error}") from None
    ids = [part for part in re.split(r"[\s,]+", text) if part]
    if not ids:
        raise argparse.ArgumentTypeError("name at least one incident: P1,P2 or @FILE with one id a line")
    return list(dict.fromkeys(ids))


def phase(text: str) -> Phase:
    for known in Phase:
        if text.strip().lower() in (known.name.lower(), known.value):
            return known
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a phase; one of: {', '.join(known.name.lower() for known in Phase)}"
    )


def _input_command(declared: Declared[Any], build: Callable[[argparse.Namespace], Any]):
    async def command(args: argparse.Namespace, settings: Settings) -> int:
        given = build(args)
        client = await connect(settings)
        accepted = await service.send(
            client,
            service.handover_id(args.handover),
            declared,
            given,
            answer_within=timedelta(seconds=settings.answer_within_seconds),
        )
        if accepted is None:
            out.print(
                "No worker answered in time: the input was sent as a signal and is checked when a "
                "worker is back (see `status` for anything rejected)."
            )
        else:
            out.print(f"Accepted: {accepted.message}.", markup=False)
        return 0

    return command


def _actor(args: argparse.Namespace) -> str:
    if not args.actor:
        raise InvalidInput("say who you are: --as YOUR_EMAIL (or set HANDOVER_ACTOR)")
    return args.actor


Arg = tuple[str, str, str, dict[str, Any]]
"""A subcommand's argument: as typed (`incident`, `--hypothesis`), the payload's field it fills,
its help, and argparse's extras."""

INPUT_COMMANDS: dict[InputKind, tuple[str, list[Arg]]] = {
    InputKind.STATUS: (
        "outgoing: the one-paragraph status for an incident",
        [
            ("incident", "incident_id", "PagerDuty incident id", {}),
            ("--hypothesis", "hypothesis", "current hypothesis", {}),
            ("--last-action", "last_action", "last action taken", {}),
            ("--next-action", "next_action", "what the next action is", {}),
        ],
    ),
    InputKind.GROUP_STATUS: (
        "outgoing: one status paragraph for several incidents that share a cause (an alert storm); "
        "each still gets its own note and reassignment",
        [
            (
                "--incidents",
                "incident_ids",
                "the incidents: P1,P2,P3, or @FILE with one id a line (`status` suggests groups)",
                {"type": incident_ids, "metavar": "IDS|@FILE"},
            ),
            ("--hypothesis", "hypothesis", "current hypothesis", {}),
            ("--last-action", "last_action", "last action taken", {}),
            ("--next-action", "next_action", "what the next action is", {}),
        ],
    ),
    InputKind.INCIDENT_ACK: (
        "incoming: acknowledge a reassigned incident",
        [("incident", "incident_id", "PagerDuty incident id", {})],
    ),
    InputKind.ALL_INCIDENTS_ACK: (
        "incoming: acknowledge every incident ready for it at once (an alert storm)",
        [],
    ),
    InputKind.ENGINEERING_LINK: (
        "outgoing: the engineering issue for a ticket waiting on engineering",
        [
            ("ticket", "ticket_id", "support ticket id", {}),
            ("issue", "issue", "engineering issue URL or key, e.g. ENG-1234", {}),
        ],
    ),
    InputKind.ROLLOUT_ANNOTATION: (
        "outgoing: annotate a rollout in flight",
        [
            ("rollout", "rollout_id", "rollout id", {}),
            ("--ramp", "ramp_percent", "current ramp percentage", {"type": float}),
            (
                "--error-rate",
                "error_rate",
                "last observed error rate, in percent, or `unknown` if nobody has a figure yet",
                {"type": error_rate, "metavar": "PERCENT|unknown"},
            ),
            ("--next-step", "next_step", "the next planned ramp step", {}),
        ],
    ),
    InputKind.ROLLOUT_OWNERSHIP: (
        "incoming: take ownership of an annotated rollout",
        [("rollout", "rollout_id", "rollout id", {})],
    ),
    InputKind.ALL_ROLLOUTS_OWNERSHIP: ("incoming: take ownership of every annotated rollout at once", []),
    InputKind.SUMMARY_ACK: ("incoming: acknowledge the handover summary (the :+1:)", []),
    InputKind.MITIGATED: (
        "mid-shift: the outage is mitigated; the formal handover starts",
        [("--note", "note", "what mitigated it (shown in the report)", {})],
    ),
    InputKind.UNCLEAR_THREAD: (
        "incoming: ask the channel for a team-wide catch-up on an unclear thread",
        [
            (
                "thread_ts",
                "thread_ts",
                "the thread's Slack timestamp, e.g. 1764342000.000100 (see `digest`)",
                {},
            ),
            ("--question", "question", "what is unclear", {}),
        ],
    ),
    InputKind.CANCEL: (
        "the requester or either admin: stop the handover cleanly and report what moved",
        [("--reason", "reason", "why (posted in the channel and the report)", {})],
    ),
}
"""What each input's subcommand says and asks for. An input not listed gets its declaration's
item as the first argument and an option for each field of its body."""


def _arguments_of(declared: Declared[Any]) -> tuple[str, list[Arg]]:
    if declared.kind in INPUT_COMMANDS:
        return INPUT_COMMANDS[declared.kind]
    fields = (
        [(declared.item_in_path, declared.item_in_path, "the item's id", {})] if declared.item_in_path else []
    )
    for name, field in (declared.body.model_fields if declared.body else {}).items():
        fields.append((f"--{name.replace('_', '-')}", name, field.description or name.replace("_", " "), {}))
    return declared.summary[0].lower() + declared.summary[1:], fields


def _input_subcommand(commands: Any, declared: Declared[Any]) -> None:
    """`starter.py <declared.command> HANDOVER ...`: the input as its declaration says."""
    help_text, arguments = _arguments_of(declared)
    command = commands.add_parser(
        declared.command, help=help_text, description=help_text[0].upper() + help_text[1:] + "."
    )
    command.add_argument("handover", help="handover id, or the outgoing admin's email")
    command.add_argument(
        "--as",
        dest="actor",
        default=os.environ.get("HANDOVER_ACTOR"),
        help="your email (default: $HANDOVER_ACTOR)",
    )
    body = declared.body.model_fields if declared.body else {}
    for typed, field, help_text, extras in arguments:
        if typed.startswith("--"):
            required = field in body and body[field].is_required()
            extras = {"metavar": typed[2:].upper().replace("-", "_"), **extras}
            command.add_argument(typed, dest=field, required=required, help=help_text, **extras)
        else:
            command.add_argument(field, metavar=typed, help=help_text, **extras)

    def build(args: argparse.Namespace) -> Any:
        actor = _actor(args)  # (who you are is asked first, as before anything else)
        item = {declared.item_in_path: getattr(args, declared.item_in_path)} if declared.item_in_path else {}
        written = declared.body(**{f: getattr(args, f) for f in body}).model_dump() if declared.body else {}
        return declared.model(actor=actor, **item, **written)

    command.set_defaults(run=_input_command(declared, build))


# --- argument parsing --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="starter.py",
        description="Start, follow and finish on-call handovers.",
        epilog="Configuration comes from the environment (TEMPORAL_ADDRESS, ...): see docs/configuration.md.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def request_command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        """A subcommand that takes a handover request (OUTGOING INCOMING and the variant's options)."""
        command = commands.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=VARIANTS_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _request_arguments(command)
        return command

    start = request_command("start", "start a handover", "Start a handover from OUTGOING to INCOMING.")
    start.add_argument("--no-wait", action="store_true", help="do not wait for both admins to be validated")
    start.set_defaults(run=cmd_start)

    plan = request_command(
        "plan",
        "show what a handover would move, changing nothing",
        "Show what a handover from OUTGOING to INCOMING would move and wait for. Read-only.",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(run=cmd_plan)

    checkup = commands.add_parser(
        "doctor",
        help="check that everything a real handover needs is in place, changing nothing",
        description=(
            "Check, with the configured settings and writing nothing, that Temporal, PagerDuty, "
            "Slack and the platform API are ready for a real handover, and that each EMAIL given "
            "is an admin every system knows. One line per check; exit 0 when all pass, "
            f"{doctor.EXIT_FAILED} when one does not. Needs no worker."
        ),
    )
    checkup.add_argument("admins", nargs="*", type=email, metavar="EMAIL", help="admins to resolve")
    checkup.set_defaults(run=cmd_doctor)

    digest = commands.add_parser(
        "digest",
        help="print an emergency handover's context digest",
        description="Print the context digest built for the incoming admin of an emergency handover.",
    )
    digest.add_argument("handover", help="handover id, or the outgoing admin's email")
    digest.set_defaults(run=cmd_digest)

    listing = commands.add_parser(
        "list",
        help="list handovers",
        description="List running handovers (or all with --all), by their search attributes.",
        epilog="e.g. starter.py list --waiting-on bob@novalien.com   (what waits on Bob)",
    )
    listing.add_argument("--all", action="store_true", help="include finished handovers")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="print the handovers as JSON")
    listing.add_argument(
        "--waiting-on", type=email, metavar="EMAIL", help="only those waiting on this person's input"
    )
    listing.add_argument(
        "--involving", type=email, metavar="EMAIL", help="only those with this outgoing or incoming admin"
    )
    listing.add_argument("--outgoing", type=email, metavar="EMAIL", help="only this outgoing admin's")
    listing.add_argument("--incoming", type=email, metavar="EMAIL", help="only those to this incoming admin")
    listing.add_argument("--phase", type=phase, help="only those in this phase, e.g. handing_over, overlap")
    listing.add_argument(
        "--variant",
        type=Variant,
        choices=list(Variant),
        metavar="VARIANT",
        help="only this variant: " + ", ".join(v.value for v in Variant),
    )
    listing.set_defaults(run=cmd_list)

    status = commands.add_parser(
        "status", help="show a handover's progress", description="Show every item's state and who owes what."
    )
    status.add_argument("handover", help="handover id, or the outgoing admin's email")
    status.add_argument("--json", action="store_true", help="print the progress as JSON")
    status.set_defaults(run=cmd_status)

    report = commands.add_parser(
        "report",
        help="print a finished handover's report",
        description="Print the report (Markdown, or JSON with --json).",
    )
    report.add_argument("handover", help="handover id, or the outgoing admin's email")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--wait", action="store_true", help="wait for the handover to complete")
    report.set_defaults(run=cmd_report)

    _autopilot_commands(commands)
    for declared in inputs.INPUTS:
        _input_subcommand(commands, declared)
    return top


def _autopilot_commands(commands: Any) -> None:
    """`starter.py autopilot start|status|pause|resume|skip-next [SCHEDULE]`."""
    pilot = commands.add_parser(
        "autopilot",
        help="start each routine weekly handover at the shift change, by itself",
        description=(
            "The autopilot of a PagerDuty schedule: LEAD before each change of person on the final "
            "schedule (overrides and swaps applied) it starts the routine handover from who is on "
            "call to who is next, once. The channel hears of it NOTICE before. See docs/autopilot.md."
        ),
    )
    actions = pilot.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, run: Any, why_required: bool | None) -> argparse.ArgumentParser:
        command = actions.add_parser(
            name, help=help_text, description=help_text[0].upper() + help_text[1:] + "."
        )
        command.add_argument(
            "schedule", nargs="?", help="the PagerDuty schedule id (default: $PAGERDUTY_SCHEDULE_ID)"
        )
        command.add_argument(
            "--as",
            dest="actor",
            default=os.environ.get("HANDOVER_ACTOR") or f"cli:{getpass.getuser()}",
            help="who you are, recorded (default: $HANDOVER_ACTOR, else cli:$USER)",
        )
        if why_required is not None:
            command.add_argument(
                "--why",
                required=why_required,
                default="turned on",
                help="why, recorded and shown in the status",
            )
        command.set_defaults(run=run)
        return command

    start = action("start", "turn the autopilot on for a schedule", cmd_autopilot_start, False)
    start.add_argument(
        "--lead",
        type=duration,
        default=timedelta(hours=2),
        help="start the handover this long before the change (default 2h)",
    )
    start.add_argument(
        "--notice",
        type=duration,
        default=timedelta(days=1),
        help="tell the channel this long before the start (default 1d; 0s: no notice)",
    )
    status = action(
        "status", "show the next change, who hands to whom and when it starts", cmd_autopilot_status, None
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    action("pause", "start no handover until resumed", _steer_command(SteerAction.PAUSE), True)
    action("resume", "go on after a pause (and skip nothing)", _steer_command(SteerAction.RESUME), True)
    action(
        "skip-next", "start no handover at the next change only", _steer_command(SteerAction.SKIP_NEXT), True
    )


VARIANTS_HELP = """variants:
  planned    a planned rotation change: override for --overlap (at least 2h), a status
             paragraph per incident from outgoing
  routine    routine weekly rotation: no override (PagerDuty's auto-rotation gives the
             overlap; checks incoming is on call); status paragraphs still required
  emergency  outgoing is gone: --reason incapacitated|compromised; override at once, no status
             paragraphs (a context digest instead); compromised also ends every impersonation
             session of outgoing first and writes as the service, not as outgoing
  mid-shift  both on during an outage: --senior (who leads) and --major-incident; the formal
             (planned) handover starts once the outage is mitigated

  --offboarding adds the audit check to any variant."""


def _request_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("outgoing", help="email of the admin rotating off")
    command.add_argument("incoming", help="email of the admin taking over")
    command.add_argument(
        "--variant", type=Variant, choices=list(Variant), default=Variant.PLANNED, help="default: planned"
    )
    command.add_argument(
        "--offboarding", action="store_true", help="outgoing is leaving: adds the audit check"
    )
    command.add_argument("--reason", help="why; for emergency: incapacitated or compromised (then any words)")
    command.add_argument(
        "--overlap",
        type=duration,
        default=PLANNED_MINIMUM_OVERLAP,
        help="how long incoming is primary alongside outgoing (default and minimum for planned: 2h)",
    )
    command.add_argument("--senior", help="mid-shift: email of the senior admin who leads (one of the two)")
    command.add_argument("--major-incident", help="mid-shift: the PagerDuty incident id of the outage")
    command.add_argument("--remind-after", type=duration, help="remind a pending input after (default 30m)")
    command.add_argument("--escalate-after", type=duration, help="escalate to the channel after (default 2h)")
    command.add_argument("--repeat-every", type=duration, help="escalate again every (default 4h)")
    command.add_argument("--demo", action="store_true", help="demo scenario only: allows --overlap under 2h")
    command.add_argument(
        "--requested-by", default=f"cli:{getpass.getuser()}", help="who asks for it (default: cli:$USER)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as error:
        err.print(f"error: {error}")
        return 2
    try:
        return asyncio.run(args.run(args, settings))
    except ValidationError as error:
        err.print(f"error: {invalid_fields(list(error.errors()))}")
        return 2
    except HandoverError as error:
        err.print(f"error: {error.message}")
        return error.exit_code
    except UndecryptablePayload as error:
        err.print(f"error: {error}")
        return 2
    except RPCError as error:
        err.print(
            f"error: Temporal at {settings.temporal_address} answered: {error.message}. Is `make run` up?"
        )
        return 1
    except (ConnectionError, RuntimeError) as error:
        if "connect" in str(error).lower():
            err.print(f"error: cannot reach Temporal at {settings.temporal_address}: is `make run` up?")
            return 1
        raise
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a person never gets a stack trace; an operator can ask for one
        if os.environ.get("HANDOVER_DEBUG"):
            raise
        err.print(f"error: unexpected {type(error).__name__}: {error} (HANDOVER_DEBUG=1 shows the trace)")
        return 1


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped reading (`| head`): not a failure, nothing to add
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.stderr.flush()
    # Skip interpreter finalization: the Temporal SDK's native threads can abort a finalizing
    # interpreter ("PyGILState_Release ... finalizing") and turn a clean exit code into -6.
    os._exit(code)
