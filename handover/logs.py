"""structlog, configured once per process: JSON off a TTY, the console renderer on one.

Standard-library records (Temporal's `workflow.logger` and `activity.logger`, uvicorn) go
through the same processors, so every line of a process has one format. A line from a workflow
or an activity carries, as fields:

- `workflow_id`, `run_id`: the workflow execution (from the SDK's record);
- `handover_id`: the run's key, `handover-<email>#<run id's first 8>`: it is in the idempotency
  keys and Slack message metadata of the run's writes, so a log line leads to the write;
- `step`: the workflow's phase, or the activity (`hand_over_incidents`, `post_summary`, ...);
- `item`: the incident, ticket, rollout or thread the line is about (null when none);
- `attempt` for activities, and `update_id` for a line from an Update handler.

Workflow lines are not written while a workflow replays (the SDK's default), so a line is
never repeated by a worker that picks a handover up. `hide(settings)` makes every secret the
process holds print as `[secret]`, wherever it would appear (message, field or traceback).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog
from temporalio import activity, workflow

_secrets: list[str] = []


def configure(level: str | None = None, json: bool | None = None, stream: Any = None) -> None:
    level = (level or os.environ.get("HANDOVER_LOG_LEVEL", "INFO")).upper()
    stream = stream or sys.stderr
    if json is None:
        json = os.environ.get("HANDOVER_LOG_FORMAT", "auto") == "json" or not stream.isatty()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        temporal_context,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # a traceback is text, so it is redacted too
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The context goes in fields (above), not appended to every message as a dict.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    # The HTTP clients log every request at INFO/DEBUG; URLs are fine, but keep the noise down.
    for noisy in ("httpx", "httpx2", "slack_sdk", "pagerduty"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def hide(settings: Any) -> None:
    """Every secret of these settings is printed as `[secret]` from now on."""
    _secrets[:] = sorted(settings.secret_values(), key=len, reverse=True)


def temporal_context(logger: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The workflow's or activity's context, from the SDK's log record, as fields."""
    record = event.get("_record")
    if record is None:
        return event
    workflow_details = getattr(record, "temporal_workflow", None)
    activity_details = getattr(record, "temporal_activity", None)
    if workflow_details:
        workflow_id, run_id = workflow_details["workflow_id"], workflow_details["run_id"]
        step = None
        if "update_id" in workflow_details:
            event.setdefault("update_id", workflow_details["update_id"])
    elif activity_details:
        workflow_id, run_id = activity_details["workflow_id"], activity_details["workflow_run_id"]
        step = activity_details["activity_type"]
        event.setdefault("attempt", activity_details["attempt"])
    else:
        return event
    event.setdefault("workflow_id", workflow_id)
    event.setdefault("run_id", run_id)
    event.setdefault("handover_id", f"{workflow_id}#{(run_id or '')[:8]}")
    event.setdefault("step", getattr(record, "step", None) or step)
    event.setdefault("item", getattr(record, "item", None))
    return event


def redact(logger: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    if not _secrets:
        return event
    for key, value in event.items():
        if isinstance(value, str):
            for secret in _secrets:
                if secret in value:
                    value = value.replace(secret, "[secret]")
            event[key] = value
    return event
