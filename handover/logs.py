"""structlog, configured once per process: JSON off a TTY, the console renderer on one.

Standard-library records (Temporal's `workflow.logger` and `activity.logger`, uvicorn) go
through the same processors, so every line of a process has one format.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure(level: str | None = None, json: bool | None = None) -> None:
    level = (level or os.environ.get("HANDOVER_LOG_LEVEL", "INFO")).upper()
    if json is None:
        json = os.environ.get("HANDOVER_LOG_FORMAT", "auto") == "json" or not sys.stderr.isatty()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP clients log every request at INFO/DEBUG; URLs are fine, but keep the noise down.
    for noisy in ("httpx", "httpx2", "slack_sdk", "pagerduty"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
