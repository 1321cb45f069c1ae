"""The handover report as Markdown: what was handed over, by whom, when, and what was not."""

from __future__ import annotations

from handover.models import ITEM_KINDS, HandoverProgress, HandoverReport
from handover.models import done_text as _done
from handover.text import format_time


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
            f", {report.phase.value} at {format_time(report.completed_at)}"  # cancelled, failed, completed
            if isinstance(report, HandoverReport)
            else f"; now: {report.phase.value}"
        ),
    ]
    if report.acting_as and report.outgoing and report.acting_as != report.outgoing.email:
        lines.append(f"- Written as {report.acting_as}: the outgoing admin is compromised")
    if report.lead:
        mitigated = (
            f"mitigated: {_done(report.mitigated)}"
            + (f" ({report.mitigation_note})" if report.mitigation_note else "")
            if report.mitigated
            else "not mitigated"
        )
        lines.append(f"- Mid-shift outage: {report.lead} led, {report.shadow} shadowed; {mitigated}")
    if report.override:
        lines.append(
            f"- PagerDuty override {report.override.id}: incoming primary "
            f"{format_time(report.override.start)} → {format_time(report.override.end)}"
            + (
                f", extended {len(report.extensions)} times to {format_time(report.extensions[-1].end)}"
                if report.extensions
                else ""
            )
        )
    if report.on_call is not None:
        state = "was" if report.on_call.on_call else "was **not**"
        check = report.on_call
        lines.append(
            f"- No override (routine rotation): {request.incoming} {state} on call on {check.schedule_id} "
            f"from {format_time(check.start)} to {format_time(check.end)}"
        )
    if report.sessions_ended_first:
        lines.append(
            f"- Impersonation sessions ended before anything moved: {', '.join(report.sessions_ended_first)}"
        )
    if report.cancelled:
        cancel = report.cancelled
        lines.append(f"- **Cancelled** by {cancel.by} at {format_time(cancel.at)}: {cancel.reason}")
    if report.error:
        lines.append(f"- **Failed:** {report.error}")
    for kind in ITEM_KINDS:
        items = getattr(report, kind.field)
        if not kind.shown(len(items)):
            continue
        lines += [
            "",
            f"## {kind.title} ({len(items)})",
            "",
            "| " + " | ".join(kind.columns) + " |",
            "|" + "---|" * len(kind.columns),
        ]
        lines += ["| " + " | ".join(item.cells(report.outgoing)) + " |" for item in items]
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
    if report.digest is not None:
        digest = report.digest
        lines += [
            "",
            "## Context digest (emergency)",
            "",
            f"Built {format_time(digest.built_at)}: history of {len(digest.incidents)} incidents, "
            f"comments of {len(digest.tickets)} tickets, {len(digest.channel)} channel threads "
            "of the last hour (`starter.py digest` prints it; it is also in the summary's thread).",
        ]
    if report.unclear_threads:
        lines += ["", "## Threads flagged for a team-wide catch-up", ""]
        lines += [
            f"- {flag.thread_ts} by {_done(flag.flagged)}: {flag.question}" for flag in report.unclear_threads
        ]
    if report.rejected:
        lines += ["", "## Rejected inputs", ""]
        lines += [
            f"- {format_time(r.at)} {r.kind.value} from {r.actor}"
            + (f" on {r.item_id}" if r.item_id else "")
            + f": {r.reason}"
            for r in report.rejected
        ]
    return "\n".join(lines) + "\n"
