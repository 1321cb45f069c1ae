"""Step 6 (offboarding only): the platform audit log has `platform.impersonation_ended` for every
session closed in step 3; the audit log lags, so it is asked again, then the gap is reported."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.platform import AuditQuery, PlatformActivities
    from handover import messages
    from handover.models import AuditResult, Phase

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows.state import HandoverState

AUDIT = dict(
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=20),
    # The audit log lags behind the session end: tolerate about five minutes of it.
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
    ),
)


async def audit_impersonation(handover: HandoverState) -> None:
    """`platform.impersonation_ended` for every session closed in step 3, or the gap, reported."""
    progress = handover.progress
    handover.set_phase(Phase.AUDITING)
    ended = sorted(
        {session for ticket in progress.tickets for session in ticket.sessions_ended}
        | set(progress.sessions_ended_first)
    )
    try:
        result = await workflow.execute_activity_method(
            PlatformActivities.audit_impersonation,
            AuditQuery(session_ids=ended, since=progress.started_at),
            **AUDIT,
        )
    except ActivityError as error:
        cause = error.cause
        missing = (
            list(cause.details[0])
            if isinstance(cause, ApplicationError) and cause.type == "AuditGap" and cause.details
            else ended
        )
        result = AuditResult(checked_sessions=ended, missing_sessions=missing, checked_at=workflow.now())
    progress.audit = result
    if progress.summary is not None:
        text = messages.audit_text(result.missing_sessions, len(ended))
        await handover.post("audit", text, thread_ts=progress.summary.ts)
