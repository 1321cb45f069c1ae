"""How the handover writes times, counts and figures: the small words every message, the report
and each item kind's lines share (handover/messages.py, handover/report.py, handover/models.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

ENTRY_CHARACTERS = 300


def format_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def format_clock(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def format_duration(span: timedelta) -> str:
    """`2h`, `1h30m`, `45s`: the way people write overlaps."""
    seconds = int(span.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return "".join(parts) or "0s"


def sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short(text: str, limit: int = ENTRY_CHARACTERS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_rate(value: float | None) -> str:
    """A rollout's last observed error rate: `0.4%`, or `unknown` (never a made-up 0)."""
    return "unknown" if value is None else f"{value:g}%"


def stay(names: Sequence[str]) -> str:
    return "stays" if len(names) == 1 else "stay"


def by_at(by: str, at: datetime) -> str:
    """Who did something, and when: `bob@example.com at 2026-12-01 09:30 UTC`."""
    return f"{by} at {format_time(at)}"


def words(identifier: str) -> str:
    """A kind's identifier as words: `change_request` → `change request`."""
    return identifier.replace("_", " ")


def cell(text: str | None) -> str:
    """Text in a Markdown table cell: `—` for nothing, its pipes escaped, on one line."""
    return (text or "—").replace("|", "\\|").replace("\n", " ")
