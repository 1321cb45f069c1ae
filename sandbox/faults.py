"""Fault injection: what production does to the service, on demand, per API and per route.

A fault plan is a list of rules and a seed. Each request to an API is matched against the rules
in order; a matching rule fires with its probability (`rate`), drawn from a random generator
seeded by the plan, so a run is repeatable. Kinds:

- `error`         answer 500 in the API's own error format; nothing is done.
- `rate_limit`    answer 429 the way the API does (PagerDuty: `ratelimit-reset`; Slack and the
                  platform: `Retry-After`) with `retry_after` seconds; nothing is done.
- `drop`          drop the connection before the request is handled; nothing is done.
- `slow`          handle the request (the write happens), answer `delay` seconds late: past the
                  caller's timeout, the caller never hears.
- `lost_response` handle the request (the write happens), then drop the connection: the write
                  succeeded but the response was lost.
- `partial`       PagerDuty's `PUT /incidents` changes only part of the incidents asked (about
                  half, at least one) and answers with those; `PUT /incidents/{id}` answers 200
                  with the incident unchanged. What a caller that does not read the answer misses.
- `ignore_param`  the API ignores the query parameters named in `params` (filters it should
                  apply), as a broken or older API would: what a caller that trusts a listing misses.

Set at run time with `PUT /_sandbox/faults` (`{"seed": 7, "faults": [{...}]}`), read the plan and
what fired with `GET /_sandbox/faults`, clear with `DELETE /_sandbox/faults`; or give `faults:` in
a scenario file.
"""

from __future__ import annotations

import fnmatch
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Api = Literal["pagerduty", "slack", "platform"]
Kind = Literal["error", "rate_limit", "drop", "slow", "lost_response", "partial", "ignore_param"]


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    rate: float = Field(ge=0, le=1)
    api: Api | None = None
    """Only this API (default: all three)."""
    method: str | None = None
    """Only this HTTP method, e.g. POST (default: any)."""
    path: str = "*"
    """A glob on the path within the API, e.g. `/incidents/*/notes` or `/chat.postMessage`."""
    writes_only: bool = False
    """Only requests that change something."""
    body_contains: str | None = None
    """Only requests whose body contains this text, e.g. `"part": "summary"` for one Slack post."""
    times: int | None = Field(default=None, ge=1)
    """Fire at most this many times (default: no limit)."""
    retry_after: float = Field(default=1.0, ge=0)
    delay: float = Field(default=5.0, ge=0)
    params: list[str] = []
    """`ignore_param`: the query parameters the API ignores, e.g. `["owner"]` or `["user_ids[]"]`."""

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if (self.kind == "ignore_param") != bool(self.params):
            raise ValueError(
                "`params` names the query parameters of an `ignore_param` fault, and only of one"
            )
        return self

    def matches(self, api: str, method: str, path: str, write: bool, body: bytes = b"") -> bool:
        return (
            (self.api is None or self.api == api)
            and (self.method is None or self.method.upper() == method)
            and fnmatch.fnmatchcase(path, self.path)
            and (write or not self.writes_only)
            and (self.body_contains is None or self.body_contains.encode() in body)
        )


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 1
    faults: list[Fault] = []


class Faults:
    """The plan in force, and what it did."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.set(plan or FaultPlan())

    def set(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self.requests = 0
        self.fired: dict[str, int] = {}
        self.fired_by_rule = [0] * len(plan.faults)

    def draw(self, api: str, method: str, path: str, write: bool, body: bytes = b"") -> Fault | None:
        """The fault this request meets, if any (the first matching rule that fires)."""
        self.requests += 1
        for number, fault in enumerate(self.plan.faults):
            if fault.times is not None and self.fired_by_rule[number] >= fault.times:
                continue
            if fault.matches(api, method, path, write, body) and self._random.random() < fault.rate:
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                self.fired_by_rule[number] += 1
                return fault
        return None

    def part_of(self, items: list) -> list:
        """`partial`: the items the API handles (about half, at least one left out)."""
        left_out = set(self._random.sample(range(len(items)), k=max(1, len(items) // 2))) if items else set()
        return [item for number, item in enumerate(items) if number not in left_out]

    def report(self) -> dict:
        fired = sum(self.fired.values())
        return {
            "plan": self.plan.model_dump(),
            "requests": self.requests,
            "fired": self.fired,
            "fired_by_rule": self.fired_by_rule,
            "fired_share": round(fired / self.requests, 3) if self.requests else 0.0,
        }
