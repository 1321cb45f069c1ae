"""Rate limits and bulk sizes the way the real APIs enforce them, so the service must respect them
rather than be lucky.

- Rate: at most `per_minute` requests per API token in a fixed 60-second window that starts with
  the token's first request (tests may shorten the window with `window_seconds`). Over it, the
  API's own 429: PagerDuty answers `{"error": {"code": 2020}}` with `ratelimit-limit`,
  `ratelimit-remaining: 0` and `ratelimit-reset` (seconds to the window's end; never
  `Retry-After`); Slack `{"ok": false, "error": "ratelimited"}` with
  `Retry-After`; the platform API its error body with `Retry-After`. PagerDuty's answers under a
  limit carry the three `ratelimit-*` headers, as the real API's do. The real PagerDuty limit is
  960 requests a minute per key.
- Bulk: PagerDuty's `PUT /incidents` takes at most `max_bulk_incidents` (250) incidents; more is a
  413 (sandbox/pagerduty.py).

- Latency: `latency_ms` per API, added to every answer. A real API is a network away (tens to
  hundreds of milliseconds); an in-machine sandbox answers in a few, which flatters a script that
  makes one call after another. The benchmark sets it; nothing else does.

Off by default. Set at run time with `PUT /_sandbox/limits`
(`{"rate_limits": [{"api": "pagerduty", "per_minute": 960}]}`), read the counts with
`GET /_sandbox/limits`, clear with `DELETE /_sandbox/limits`; or give `limits:` in a scenario.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Api = Literal["pagerduty", "slack", "platform"]
WINDOW_SECONDS = 60.0
PAGERDUTY_PER_MINUTE = 960
MAX_BULK_INCIDENTS = 250


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api: Api
    per_minute: int = Field(ge=1)
    """Requests per window per token (the name says the real APIs' window)."""
    window_seconds: float = Field(default=WINDOW_SECONDS, gt=0, le=3600)


class LimitPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_limits: list[RateLimit] = []
    latency_ms: dict[Api, float] = Field(default_factory=dict)
    max_bulk_incidents: int = Field(default=MAX_BULK_INCIDENTS, ge=1, le=MAX_BULK_INCIDENTS)


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class Verdict:
    """What the limiter says about one request: allowed or not, and the headers to send."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float


@dataclass
class Limits:
    """The limits in force, each token's current window, and how often a request was refused."""

    plan: LimitPlan = field(default_factory=LimitPlan)
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    """Every request per API, limited or not (the benchmark counts PagerDuty's)."""
    allowed: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def set(self, plan: LimitPlan) -> None:
        self.plan = plan
        self._windows.clear()
        self.requests.clear()
        self.allowed.clear()
        self.refused.clear()

    def check(self, api: str, credential: str) -> Verdict | None:
        """Counts the request against its token's window; None when the API has no rate limit."""
        self.requests[api] = self.requests.get(api, 0) + 1
        rule = next((r for r in self.plan.rate_limits if r.api == api), None)
        if rule is None:
            return None
        limit = rule.per_minute
        # Keyed by a digest: the sandbox keeps no token it was sent.
        key = (api, hashlib.sha256(credential.encode()).hexdigest()[:16])
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= rule.window_seconds:
            window = self._windows[key] = _Window(started=now)
        reset = max(1, math.ceil(window.started + rule.window_seconds - now))
        if window.used >= limit:
            self.refused[api] = self.refused.get(api, 0) + 1
            return Verdict(allowed=False, limit=limit, remaining=0, reset_seconds=reset)
        window.used += 1
        self.allowed[api] = self.allowed.get(api, 0) + 1
        return Verdict(allowed=True, limit=limit, remaining=limit - window.used, reset_seconds=reset)

    def latency(self, api: str) -> float:
        """Seconds to wait before answering a request to `api`."""
        return self.plan.latency_ms.get(api, 0.0) / 1000  # type: ignore[call-overload]

    def report(self) -> dict:
        return {
            "plan": self.plan.model_dump(),
            "requests": self.requests,
            "allowed": self.allowed,
            "refused": self.refused,
        }


def credential_of(headers: dict[str, str], body: dict | None = None) -> str:
    """The token a request authenticates with (Slack also takes it as a form field)."""
    credential = headers.get("authorization", "")
    if not credential and isinstance(body, dict):
        credential = str(body.get("token", ""))
    return credential
