"""The handover report as Markdown: what was handed over, by whom, when, and what was not."""

from __future__ import annotations

from handover.messages import format_time
from handover.models import Done, HandoverProgress, HandoverReport, Outcome


def _done(done: Done | None) -> str:
    return f"{done.by} at {format_time(done.at)}" if done else "—"


def _cell(text: str | None) -> str:
    return (text or "—").replace("|", "\\|").replace("\n", " ")


def _outcome(outcome: Outcome, detail: str | None) -> str:
    return outcome.value.replace("_", " ") + (f": {detail}" if detail else "")


def to_markdown(report: HandoverProgress) -> str:
    request = report.request
    outgoing = report.outgoing.name if report.outgoing else request.outgoing
    incoming = report.incoming.name if report.incoming else request.incoming
    lines = [
        f"# On-call handover {report.handover_id}",
        "",
        f"- **{outgoing}** ({request.outgoing}) → **{incoming}** ({request.incoming})",
        f"- Variant: {request.variant.value}{' (offboarding)' if request.offboarding else ''}"
        f"{' — DEMO' if request.demo else ''}",
        f"- Requested by {request.requested_by}" + (f": {request.reason}" if request.reason else ""),
        f"- Started {format_time(report.started_at)}"
        + (
            f", completed {format_time(report.completed_at)}"
            if isinstance(report, HandoverReport)
            else f"; now: {report.phase.value}"
        ),
    ]
    if report.override:
        lines.append(
            f"- PagerDuty override {report.override.id}: incoming primary "
            f"{format_time(report.override.start)} → {format_time(report.override.end)}"
        )
    if report.error:
        lines.append(f"- **Failed:** {report.error}")
    lines += [
        "",
        f"## Incidents ({len(report.incidents)})",
        "",
        "| Incident | Outcome | Status paragraph | Note | Reassigned | Acknowledged |",
        "|---|---|---|---|---|---|",
    ]
    for item in report.incidents:
        status = (
            f"Hypothesis: {item.status.hypothesis} Last: {item.status.last_action} "
            f"Next: {item.status.next_action}"
            if item.status
            else None
        )
        lines.append(
            f"| #{item.incident.number} {_cell(item.incident.title)} ({item.incident.id}) "
            f"| {_cell(_outcome(item.outcome, item.detail))} | {_cell(status)} "
            f"| {_cell(item.note_id)} | {_done(item.reassigned)} | {_done(item.acknowledged)} |"
        )
    lines += [
        "",
        f"## Pinned tickets ({len(report.tickets)})",
        "",
        "| Ticket | Action | Outcome | Sessions ended | Engineering issue | Reassigned |",
        "|---|---|---|---|---|---|",
    ]
    for item in report.tickets:
        lines.append(
            f"| {item.ticket.id} {_cell(item.ticket.subject)} | {item.action.value} "
            f"| {_cell(_outcome(item.outcome, item.detail))} | {_cell(', '.join(item.sessions_ended))} "
            f"| {_cell(item.engineering_issue)} | {_done(item.reassigned)} |"
        )
    lines += [
        "",
        f"## Rollouts in flight ({len(report.rollouts)})",
        "",
        "| Rollout | Outcome | Annotation | Annotated | Owned by incoming |",
        "|---|---|---|---|---|",
    ]
    for item in report.rollouts:
        annotation = (
            f"{item.annotation.ramp_percent:g}% ramp, {item.annotation.error_rate:g}% errors, "
            f"next: {item.annotation.next_step}"
            if item.annotation
            else None
        )
        lines.append(
            f"| {item.rollout.flag} ({item.rollout.id}, {item.rollout.state.value}) "
            f"| {_cell(_outcome(item.outcome, item.detail))} | {_cell(annotation)} "
            f"| {_done(item.annotated)} | {_done(item.owned)} |"
        )
    lines += ["", "## Summary", ""]
    if report.summary:
        lines += [
            f"> {report.summary.text}",
            "",
            f"Posted in {report.summary.channel} (ts {report.summary.ts}) at "
            f"{format_time(report.summary.posted_at)}; acknowledged: {_done(report.summary.acknowledged)}",
        ]
    else:
        lines.append("Not posted yet.")
    if request.offboarding:
        lines += ["", "## Audit check", ""]
        if report.audit is None:
            lines.append("Not done yet.")
        elif report.audit.missing_sessions:
            lines.append(
                "**Gap:** no `platform.impersonation_ended` for " + ", ".join(report.audit.missing_sessions)
            )
        else:
            lines.append(
                f"`platform.impersonation_ended` found for all {len(report.audit.checked_sessions)} "
                "sessions ended in this handover."
            )
    if report.rejected:
        lines += ["", "## Rejected inputs", ""]
        lines += [
            f"- {format_time(r.at)} {r.kind.value} from {r.actor}"
            + (f" on {r.item_id}" if r.item_id else "")
            + f": {r.reason}"
            for r in report.rejected
        ]
    return "\n".join(lines) + "\n"
