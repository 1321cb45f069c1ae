"""The sandbox's world: the scenario file, the live in-memory state made from it, the write log.

A scenario is YAML validated by `Scenario`. Times in it may be relative to the moment it is
loaded (`-3h`, `-90m`, `+2d`, `now`) so a demo always looks recent; they are resolved once, at
load or reset. `Store` holds the live state that the API modules read and change, and the log
of every write request (what tests assert on).
"""

from __future__ import annotations

import functools
import json
import random
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from sandbox.faults import FaultPlan
from sandbox.limits import LimitPlan

SCENARIOS = Path(__file__).parent / "scenarios"
"""The sandbox's own scenario files."""
DEMO_SCENARIO = SCENARIOS / "demo.yaml"


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=1 << 12)
def iso(moment: datetime) -> str:
    """PagerDuty, Slack and the platform all write times as ISO 8601 in UTC with a Z. (Cached: a page
    of 100 incidents writes 500 of them, 5 µs each, a quarter of the sandbox's CPU under `make
    bench`'s acknowledgements; equal moments in any zone write alike.)"""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from a query string; naive times are UTC. Raises ValueError."""
    moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


# --- scenario times ------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<parts>(\d+(\.\d+)?[smhdw])+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _resolve_time(value: Any, info: ValidationInfo) -> Any:
    now = (info.context or {}).get("now") or utcnow()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text == "now":
        return now
    match = _RELATIVE.match(text.replace(" ", ""))
    if match:
        offset = sum(
            (timedelta(**{_UNITS[unit]: float(amount)}) for amount, unit in _PART.findall(match["parts"])),
            timedelta(),
        )
        return now - offset if match["sign"] == "-" else now + offset
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: use ISO 8601 (2026-11-28T14:00:00Z), 'now', "
            "or a time relative to now such as -3h, -2h30m, +2d"
        ) from None


When = Annotated[datetime, BeforeValidator(_resolve_time)]
"""A scenario time: absolute ISO 8601, `now`, or relative to the load time (`-3h`)."""


class ScenarioModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- scenario: PagerDuty -------------------------------------------------------------------


class PdUser(ScenarioModel):
    id: str = Field(pattern=r"^P[A-Z0-9]{2,13}$")
    name: str
    email: str
    time_zone: str = "Europe/Paris"
    role: Literal["admin", "user", "limited_user", "observer", "owner"] = "user"
    job_title: str = ""
    teams: list[str] = []
    """Team ids (`pagerduty.teams`)."""


class PdTeam(ScenarioModel):
    id: str
    name: str


class PdService(ScenarioModel):
    id: str
    name: str
    description: str = ""
    teams: list[str] = []
    """Team ids; an incident belongs to its service's teams (`GET /incidents?team_ids[]=`)."""
    escalation_policy: PdEscalationPolicy = Field(
        default_factory=lambda: PdEscalationPolicy(id="PDEFAUL", name="Default")
    )
    """Every PagerDuty service has one; a new account's is called "Default"."""


class PdEscalationPolicy(ScenarioModel):
    id: str
    name: str


class PdOverride(ScenarioModel):
    id: str = ""
    """Empty in a scenario file means "give it an id at load"."""
    user: str
    start: When
    end: When
    time_zone: str = "UTC"


class PdRestriction(ScenarioModel):
    """When a layer may have someone on call, in the schedule's time zone (PagerDuty's
    `restrictions`): every day from `start_time_of_day` for `duration_seconds`, or every week from
    `start_day_of_week` (1 is Monday) at that time."""

    type: Literal["daily_restriction", "weekly_restriction"]
    start_time_of_day: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
    duration_seconds: int = Field(gt=0)
    start_day_of_week: int | None = Field(default=None, ge=1, le=7)

    @model_validator(mode="after")
    def _fits(self) -> PdRestriction:
        cycle = 86_400 if self.type == "daily_restriction" else 7 * 86_400
        if self.duration_seconds > cycle:
            raise ValueError(f"a {self.type} lasts at most {cycle} seconds")
        if self.type == "weekly_restriction" and self.start_day_of_week is None:
            raise ValueError("a weekly_restriction needs start_day_of_week (1 is Monday)")
        return self


class PdLayer(ScenarioModel):
    """One layer of a schedule: its users take turns of `rotation_turn_length_seconds` from
    `rotation_virtual_start`, between `start` and `end`, within its restrictions."""

    name: str = ""
    users: list[str] = Field(min_length=1)
    rotation_virtual_start: When
    rotation_turn_length_seconds: int = Field(gt=0)
    start: When | None = None
    """When the layer begins to apply (default: its rotation's virtual start)."""
    end: When | None = None
    """When it stops applying (default: never)."""
    restrictions: list[PdRestriction] = []


class PdSchedule(ScenarioModel):
    """A schedule: its `layers`, the first the lowest ("Layer 1"; a later layer takes precedence
    where it has someone on call, as in PagerDuty), or one layer in short (`rotation_users`,
    `rotation_start`, `turn_length_hours`), and overrides on top of them all."""

    id: str
    name: str
    time_zone: str = "Europe/Paris"
    description: str = ""
    escalation_policy: PdEscalationPolicy | None = None
    rotation_users: list[str] = []
    """One layer in short: user ids in turn order."""
    rotation_start: When | None = None
    """The start of the first user's turn (PagerDuty's `rotation_virtual_start`)."""
    turn_length_hours: float = Field(default=168, gt=0)
    layers: list[PdLayer] = []
    overrides: list[PdOverride] = []

    @model_validator(mode="after")
    def _one_way(self) -> PdSchedule:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"time_zone {self.time_zone!r} is not an IANA time zone, e.g. Europe/Paris"
            ) from None
        if self.layers and (self.rotation_users or self.rotation_start is not None):
            raise ValueError("give either layers or rotation_users and rotation_start, not both")
        if not self.layers and (not self.rotation_users or self.rotation_start is None):
            raise ValueError("a schedule needs layers, or rotation_users and rotation_start")
        return self

    @property
    def all_layers(self) -> list[PdLayer]:
        """Its layers, the lowest first: as given, or the one given in short."""
        if self.layers:
            return self.layers
        assert self.rotation_start is not None
        return [
            PdLayer(
                name="Layer 1",
                users=self.rotation_users,
                rotation_virtual_start=self.rotation_start,
                rotation_turn_length_seconds=round(self.turn_length_hours * 3600),
            )
        ]

    @property
    def users(self) -> list[str]:
        """Everyone on one of its layers, once each, in order."""
        return list(dict.fromkeys(user for layer in self.all_layers for user in layer.users))


class PdNote(ScenarioModel):
    id: str = ""
    user: str
    content: str
    at: When


class PdLogEntry(ScenarioModel):
    """An extra log entry (trigger, assignment, acknowledgements and notes are made for you)."""

    id: str = ""
    type: Literal[
        "trigger_log_entry",
        "acknowledge_log_entry",
        "annotate_log_entry",
        "assign_log_entry",
        "reassign_log_entry",
        "escalate_log_entry",
        "notify_log_entry",
        "resolve_log_entry",
        "unacknowledge_log_entry",
        "urgency_change_log_entry",
        "snooze_log_entry",
    ]
    at: When
    summary: str
    agent: str | None = None
    """A user id; none means the service did it."""
    assignees: list[str] = []


class PdIncident(ScenarioModel):
    id: str
    number: int = Field(gt=0)
    title: str
    service: str
    status: Literal["triggered", "acknowledged", "resolved"] = "triggered"
    urgency: Literal["high", "low"] = "high"
    created_at: When
    assignees: list[str] = []
    acknowledged_by: list[str] | None = None
    """Defaults to the assignees when the incident is acknowledged."""
    acknowledged_at: When | None = None
    resolved_at: When | None = None
    notes: list[PdNote] = []
    log_entries: list[PdLogEntry] = []

    @model_validator(mode="after")
    def _check(self) -> PdIncident:
        if self.status == "resolved" and self.resolved_at is None:
            self.resolved_at = self.created_at + timedelta(hours=1)
        if self.status == "acknowledged" and self.acknowledged_by is None:
            self.acknowledged_by = list(self.assignees)
        return self


class PagerDutyScenario(ScenarioModel):
    subdomain: str = "novalien"
    teams: list[PdTeam] = []
    users: list[PdUser] = []
    services: list[PdService] = []
    schedules: list[PdSchedule] = []
    incidents: list[PdIncident] = []


# --- scenario: Slack -----------------------------------------------------------------------


class SlackTeam(ScenarioModel):
    id: str = Field(pattern=r"^T[A-Z0-9]+$")
    name: str
    domain: str


BOT_SCOPES = (
    "chat:write",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
    "reactions:read",
    "users:read",
    "users:read.email",
)
"""Every scope the service needs (activities/slack.py): a scenario's bot has them unless it says."""
USER_SCOPES = (*BOT_SCOPES, "reactions:write")
"""What the scenario's people's user tokens may do (they react in tests)."""


class SlackBot(ScenarioModel):
    user_id: str = Field(pattern=r"^[UW][A-Z0-9]+$")
    bot_id: str = Field(pattern=r"^B[A-Z0-9]+$")
    app_id: str = "A0SANDBOX"
    name: str
    scopes: list[Annotated[str, Field(pattern=r"^[a-z]+(:[a-z._]+)+$")]] = list(BOT_SCOPES)
    """The bot token's granted scopes, as the app's OAuth page lists them (`chat:write`, …)."""


class SlackUser(ScenarioModel):
    id: str = Field(pattern=r"^[UW][A-Z0-9]+$")
    name: str
    """The handle, e.g. `alice`."""
    real_name: str
    email: str
    user_token: str | None = Field(default=None, pattern=r"^xoxp-")
    tz: str = "Europe/Paris"


class SlackReaction(ScenarioModel):
    name: str
    users: list[str] = Field(min_length=1)


class SlackReply(ScenarioModel):
    at: When
    user: str
    text: str
    broadcast: bool = False


class SlackMessage(ScenarioModel):
    at: When
    user: str
    text: str
    metadata: dict[str, Any] | None = None
    reactions: list[SlackReaction] = []
    replies: list[SlackReply] = []


class SlackChannel(ScenarioModel):
    id: str = Field(pattern=r"^[CG][A-Z0-9]+$")
    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    topic: str = ""
    is_private: bool = False
    is_archived: bool = False
    members: list[str] | None = None
    """Slack user ids in the channel; by default the bot and every user of the scenario."""
    messages: list[SlackMessage] = []


class SlackScenario(ScenarioModel):
    team: SlackTeam
    bot: SlackBot
    users: list[SlackUser] = []
    channels: list[SlackChannel] = []


# --- scenario: platform --------------------------------------------------------------------


class PlatformAdmin(ScenarioModel):
    email: str
    name: str
    platform_admin: bool = True
    active: bool = True


TicketStateName = Literal["waiting_on_customer", "waiting_on_engineering", "active", "open", "solved"]
RolloutStateName = Literal["draft", "ramping", "paused", "complete", "rolled_back"]


class TicketComment(ScenarioModel):
    author: str
    at: When
    body: str


class PlatformTicket(ScenarioModel):
    id: str
    subject: str
    customer: str
    state: TicketStateName
    assignee: str
    pinned: bool = False
    labels: list[str] = []
    engineering_issue: str | None = None
    updated_at: When = Field(default="now", validate_default=True)
    comments: list[TicketComment] = []


class PlatformSession(ScenarioModel):
    id: str
    admin: str
    ticket_id: str | None = None
    state: Literal["open", "ended"] = "open"
    started_at: When
    ended_at: When | None = None
    ended_by: str | None = None


class PlatformRollout(ScenarioModel):
    id: str
    flag: str
    state: RolloutStateName
    ramp_percent: float = Field(ge=0, le=100)
    error_rate: float | None = Field(default=None, ge=0, le=100)
    owner: str
    updated_at: When = Field(default="now", validate_default=True)


class PlatformAnnotation(ScenarioModel):
    id: str
    rollout_id: str
    author: str
    owner: str
    ramp_percent: float
    error_rate: float | None
    next_step: str
    handover_id: str | None = None
    created_at: When


class AuditTarget(ScenarioModel):
    type: str
    id: str


class PlatformAuditEvent(ScenarioModel):
    id: str
    event_type: str
    actor: str
    at: When
    target: AuditTarget
    visible_at: When | None = None
    """When `GET /audit-log` starts to show it; defaults to `at`."""


class PlatformScenario(ScenarioModel):
    admins: list[PlatformAdmin] = []
    tickets: list[PlatformTicket] = []
    impersonation_sessions: list[PlatformSession] = []
    rollouts: list[PlatformRollout] = []
    annotations: list[PlatformAnnotation] = []
    audit_events: list[PlatformAuditEvent] = []
    audit_lag_seconds: float = Field(default=0, ge=0)


# --- scenario ------------------------------------------------------------------------------


class Tokens(ScenarioModel):
    pagerduty_token: str = Field(min_length=1)
    """The account-level REST API key (Integrations → API Access Keys)."""
    pagerduty_user_tokens: dict[str, str] = {}
    """User-level REST API keys, token → PagerDuty user id: accepted like the account key, and
    `GET /users/me` answers with their user (with the account key it is a 400), as PagerDuty does."""
    slack_bot_token: str = Field(pattern=r"^xoxb-")
    platform_token: str = Field(min_length=1)


class Scenario(ScenarioModel):
    name: str
    description: str = ""
    faults: FaultPlan | None = None
    """Faults to inject from the start (see sandbox/faults.py); `PUT /_sandbox/faults` changes them."""
    limits: LimitPlan | None = None
    """Rate limits and bulk sizes (see sandbox/limits.py); `PUT /_sandbox/limits` changes them."""
    tokens: Tokens
    pagerduty: PagerDutyScenario
    slack: SlackScenario
    platform: PlatformScenario

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        problems: list[str] = []

        def unique(where: str, ids: list[str]) -> None:
            seen: set[str] = set()
            for item in ids:
                if item in seen:
                    problems.append(f"{where}: duplicate id {item!r}")
                seen.add(item)

        def known(where: str, value: str | None, ids: set[str], what: str) -> None:
            """A reference names something the scenario has (None names nothing: nothing to check)."""
            if value is not None and value not in ids:
                problems.append(f"{where}: unknown {what} {value!r}")

        pd = self.pagerduty
        user_ids = {u.id for u in pd.users}
        service_ids = {s.id for s in pd.services}
        unique("pagerduty.users", [u.id for u in pd.users])
        unique("pagerduty.users (email)", [u.email.lower() for u in pd.users])
        unique("pagerduty.services", [s.id for s in pd.services])
        unique("pagerduty.schedules", [s.id for s in pd.schedules])
        unique("pagerduty.teams", [t.id for t in pd.teams])
        team_ids = {t.id for t in pd.teams}
        for where, items in (("users", pd.users), ("services", pd.services)):
            for n, item in enumerate(items):
                for team in item.teams:
                    known(f"pagerduty.{where}[{n}].teams", team, team_ids, "team")
        unique("pagerduty.incidents", [i.id for i in pd.incidents])
        unique("pagerduty.incidents (number)", [str(i.number) for i in pd.incidents])

        def user(where: str, user_id: str | None) -> None:
            known(where, user_id, user_ids, "PagerDuty user")

        for token, user_id in self.tokens.pagerduty_user_tokens.items():
            user("tokens.pagerduty_user_tokens", user_id)
            if token == self.tokens.pagerduty_token:
                problems.append("tokens.pagerduty_user_tokens: a user token cannot be the account token")

        for s, schedule in enumerate(pd.schedules):
            if schedule.rotation_users:  # one layer, in short
                for r, user_id in enumerate(schedule.rotation_users):
                    user(f"pagerduty.schedules[{s}].rotation_users[{r}]", user_id)
            else:
                for n, layer in enumerate(schedule.layers):
                    for r, user_id in enumerate(layer.users):
                        user(f"pagerduty.schedules[{s}].layers[{n}].users[{r}]", user_id)
            for o, override in enumerate(schedule.overrides):
                user(f"pagerduty.schedules[{s}].overrides[{o}].user", override.user)
                if override.end <= override.start:
                    problems.append(f"pagerduty.schedules[{s}].overrides[{o}]: end is not after start")
        for i, incident in enumerate(pd.incidents):
            where = f"pagerduty.incidents[{i}]"
            known(f"{where}.service", incident.service, service_ids, "service")
            for a, user_id in enumerate(incident.assignees):
                user(f"{where}.assignees[{a}]", user_id)
            for a, user_id in enumerate(incident.acknowledged_by or []):
                user(f"{where}.acknowledged_by[{a}]", user_id)
            for n, note in enumerate(incident.notes):
                user(f"{where}.notes[{n}].user", note.user)
            for e, entry in enumerate(incident.log_entries):
                user(f"{where}.log_entries[{e}].agent", entry.agent)
            if incident.status == "resolved" and incident.assignees:
                problems.append(f"{where}: a resolved incident has no assignees in PagerDuty")

        sl = self.slack
        slack_users = {u.id for u in sl.users} | {sl.bot.user_id}
        unique("slack.users", [u.id for u in sl.users])
        unique("slack.users (email)", [u.email.lower() for u in sl.users])
        unique("slack.channels", [c.id for c in sl.channels])
        unique("slack.channels (name)", [c.name for c in sl.channels])
        tokens = [u.user_token for u in sl.users if u.user_token]
        unique("slack.users (user_token)", tokens)

        def slack_user(where: str, user_id: str) -> None:
            known(where, user_id, slack_users, "Slack user")

        for c, channel in enumerate(sl.channels):
            for member in channel.members or []:
                slack_user(f"slack.channels[{c}].members", member)
            for m, message in enumerate(channel.messages):
                where = f"slack.channels[{c}].messages[{m}]"
                slack_user(f"{where}.user", message.user)
                for r, reply in enumerate(message.replies):
                    slack_user(f"{where}.replies[{r}].user", reply.user)
                for r, reaction in enumerate(message.reactions):
                    for who in reaction.users:
                        slack_user(f"{where}.reactions[{r}]", who)

        pl = self.platform
        unique("platform.admins", [a.email.lower() for a in pl.admins])
        unique("platform.tickets", [t.id for t in pl.tickets])
        unique("platform.impersonation_sessions", [s.id for s in pl.impersonation_sessions])
        unique("platform.rollouts", [r.id for r in pl.rollouts])
        unique("platform.audit_events", [e.id for e in pl.audit_events])
        ticket_ids = {t.id for t in pl.tickets}
        rollout_ids = {r.id for r in pl.rollouts}
        for s, session in enumerate(pl.impersonation_sessions):
            known(f"platform.impersonation_sessions[{s}].ticket_id", session.ticket_id, ticket_ids, "ticket")
            if session.state == "ended" and session.ended_at is None:
                problems.append(f"platform.impersonation_sessions[{s}]: an ended session needs ended_at")
        for a, annotation in enumerate(pl.annotations):
            known(f"platform.annotations[{a}].rollout_id", annotation.rollout_id, rollout_ids, "rollout")

        if problems:
            raise ValueError("; ".join(problems))
        return self


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message says where and why."""


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in item["loc"])
        where = where.replace(".[", "[")
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def parse_scenario(data: Any, *, now: datetime | None = None, source: str = "scenario") -> Scenario:
    """Validates scenario data (as loaded from YAML), resolving relative times against `now`."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (name, tokens, pagerduty, slack, platform)")
    try:
        return Scenario.model_validate(data, context={"now": now or utcnow()})
    except ValidationError as error:
        raise ScenarioError(f"{source}: {_format_validation_error(error)}") from None


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """The raw scenario data in a YAML file (times not yet resolved)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read the scenario file ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping (name, tokens, pagerduty, slack, platform)")
    return data


def load_scenario(path: str | Path, *, now: datetime | None = None) -> Scenario:
    return parse_scenario(read_scenario_file(path), now=now, source=str(path))


# --- live state ----------------------------------------------------------------------------


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assignment(Record):
    user: str
    at: datetime


class Acknowledgement(Record):
    user: str
    at: datetime


class LogEntry(Record):
    id: str
    type: str
    at: datetime
    summary: str
    agent: str | None
    """A user id; None means the incident's service."""
    assignees: list[str] = []
    note: str | None = None


class Incident(Record):
    id: str
    number: int
    title: str
    service: str
    status: str
    urgency: str
    created_at: datetime
    updated_at: datetime
    last_status_change_at: datetime
    last_status_change_by: str | None
    resolved_at: datetime | None
    assignments: list[Assignment]
    acknowledgements: list[Acknowledgement]
    notes: list[PdNote]
    log_entries: list[LogEntry]
    trigger_log_entry_id: str


class PagerDutyState(Record):
    subdomain: str
    teams: dict[str, str] = {}
    """Team id -> name."""
    users: dict[str, PdUser]
    services: dict[str, PdService]
    schedules: dict[str, PdSchedule]
    incidents: dict[str, Incident]

    def user_by_email(self, email: str) -> PdUser | None:
        email = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == email), None)


class Reaction(Record):
    name: str
    users: list[str]


class Edited(Record):
    """Who last changed a message and when (Slack's `edited`, once chat.update has changed it)."""

    user: str
    ts: str


class Message(Record):
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    bot_id: str | None = None
    app_id: str | None = None
    thread_ts: str | None = None
    """Set on a reply (its parent's ts), and on a parent once it has replies."""
    broadcast: bool = False
    metadata: dict[str, Any] | None = None
    reactions: list[Reaction] = []
    edited: Edited | None = None


class Channel(Record):
    id: str
    name: str
    topic: str
    is_private: bool = False
    is_archived: bool = False
    members: list[str] = []
    messages: list[Message]
    """Every message of the channel, replies included, oldest first."""


class OpenView(Record):
    """A modal open on someone's screen (views.open), until it is submitted and closed."""

    user: str
    view: dict[str, Any]
    """As Slack answers views.open: its id, hash, blocks, `state.values` (what the person has
    entered so far), …"""
    errors: dict[str, str] = {}
    """block_id -> the sentence shown under it: the app's `response_action: errors`, or Slack's
    own refusal of an empty required field."""


class Trigger(Record):
    """A trigger_id Slack gave an interaction: one views.open, within a few seconds."""

    user: str
    issued: float
    """time.monotonic() when it was issued."""
    exchanged: bool = False


class ResponseUrl(Record):
    """The response_url of a button press: a few answers, for a while, to where it was pressed."""

    user: str
    channel: str
    message_ts: str
    issued: float
    """time.monotonic() when it was issued."""
    uses: int = 0


class Ephemeral(Record):
    """A message only its `user` sees (in `channel`, never in its history)."""

    user: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    at: str


class SlackState(Record):
    team: SlackTeam
    bot: SlackBot
    users: dict[str, SlackUser]
    channels: dict[str, Channel]
    views: dict[str, OpenView] = {}
    """Open modals by view id, oldest first."""
    triggers: dict[str, Trigger] = {}
    response_urls: dict[str, ResponseUrl] = {}
    """By the token that ends the URL."""
    ephemeral: list[Ephemeral] = []
    """Oldest first."""


class SlackApp(BaseModel):
    """The Slack app's interactivity settings (its Request URL, its signing secret), as set on
    api.slack.com: not part of a scenario, so a reset keeps them (`PUT /_sandbox/slack/app`)."""

    model_config = ConfigDict(extra="forbid")

    request_url: str = Field(pattern=r"^https?://")
    signing_secret: str = Field(min_length=1)


class PlatformState(Record):
    admins: dict[str, PlatformAdmin]
    """Keyed by lower-case email."""
    tickets: dict[str, PlatformTicket]
    sessions: dict[str, PlatformSession]
    rollouts: dict[str, PlatformRollout]
    annotations: dict[str, PlatformAnnotation]
    idempotency_keys: dict[str, str]
    """Idempotency-Key -> annotation id."""
    audit_events: list[PlatformAuditEvent]
    audit_lag_seconds: float


class State(Record):
    scenario_name: str
    loaded_at: datetime
    tokens: Tokens
    pagerduty: PagerDutyState
    slack: SlackState
    platform: PlatformState


class WriteEntry(BaseModel):
    """One write request as the sandbox saw it (`GET /_sandbox/writes`)."""

    seq: int
    at: str
    api: Literal["pagerduty", "slack", "platform"]
    method: str
    path: str
    status: int
    actor: str | None
    body: Any
    result: dict[str, Any]
    fault: str | None = None
    """The injected fault this request met (sandbox/faults.py), if any."""


def readable_body(raw: bytes, content_type: str) -> Any:
    """The request body for the write log: parsed JSON or form, never a token."""
    if not raw:
        return None
    if "json" in content_type:
        try:
            body = json.loads(raw)
        except ValueError:
            return raw[:2000].decode("utf-8", "replace")
    elif "x-www-form-urlencoded" in content_type or not content_type:
        body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        return raw[:2000].decode("utf-8", "replace")
    if isinstance(body, dict):
        body.pop("token", None)
    return body


class IdMaker:
    """Plausible-looking ids (PagerDuty style: upper-case letters and digits), repeatable per reset."""

    _ALPHABET = string.ascii_uppercase + string.digits

    def __init__(self, seed: int = 20261128) -> None:
        self._random = random.Random(seed)
        self._given: set[str] = set()

    def new(self, prefix: str, length: int = 7) -> str:
        while True:
            made = prefix + "".join(self._random.choices(self._ALPHABET, k=length - len(prefix)))
            if made not in self._given:
                self._given.add(made)
                return made


def new_log_entry(
    ids: IdMaker, kind: str, at: datetime, summary: str, agent: str | None, **extra: Any
) -> LogEntry:
    """A log entry PagerDuty writes now, with a fresh id of PagerDuty's 26 characters."""
    return LogEntry(id=ids.new("R", 26), type=kind, at=at, summary=summary, agent=agent, **extra)


def ts_key(ts: str) -> tuple[int, int]:
    """Slack timestamps compare as (seconds, microseconds), never as floats."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros.ljust(6, "0")[:6] or 0)


class SlackClock:
    """Slack message timestamps: "<unix seconds>.<6 digits>", unique and increasing."""

    def __init__(self) -> None:
        self._last = (0, 0)

    def next(self, moment: datetime) -> str:
        wanted = (int(moment.timestamp()), moment.microsecond)
        if wanted <= self._last:
            seconds, micros = self._last
            micros += 1
            wanted = (seconds + micros // 1_000_000, micros % 1_000_000)
        self._last = wanted
        return f"{wanted[0]}.{wanted[1]:06d}"


def build_state(scenario: Scenario, ids: IdMaker, clock: SlackClock, now: datetime) -> State:
    pd = scenario.pagerduty
    schedules = {}
    for schedule in pd.schedules:
        schedule = schedule.model_copy(deep=True)
        for override in schedule.overrides:
            override.id = override.id or ids.new("Q", 14)
        schedules[schedule.id] = schedule
    incidents = {incident.id: _build_incident(incident, ids) for incident in pd.incidents}

    sl = scenario.slack
    channels = {}
    for channel in sl.channels:
        messages: list[Message] = []
        for item in sorted(channel.messages, key=lambda m: m.at):
            parent = Message(
                ts=clock.next(item.at),
                user=item.user,
                text=item.text,
                metadata=item.metadata,
                reactions=[Reaction(name=r.name.strip(":"), users=list(r.users)) for r in item.reactions],
            )
            if item.user == sl.bot.user_id:
                parent.bot_id, parent.app_id = sl.bot.bot_id, sl.bot.app_id
            messages.append(parent)
            for reply in sorted(item.replies, key=lambda r: r.at):
                parent.thread_ts = parent.ts
                messages.append(
                    Message(
                        ts=clock.next(max(reply.at, item.at)),
                        user=reply.user,
                        text=reply.text,
                        thread_ts=parent.ts,
                        broadcast=reply.broadcast,
                    )
                )
        messages.sort(key=lambda m: ts_key(m.ts))
        members = channel.members
        if members is None:  # by default everyone is in every channel, the bot too
            members = [sl.bot.user_id, *(u.id for u in sl.users)]
        channels[channel.id] = Channel(
            id=channel.id,
            name=channel.name,
            topic=channel.topic,
            is_private=channel.is_private,
            is_archived=channel.is_archived,
            members=list(dict.fromkeys(members)),
            messages=messages,
        )

    pl = scenario.platform
    audit_events = []
    for event in pl.audit_events:
        event = event.model_copy(deep=True)
        event.visible_at = event.visible_at or event.at
        audit_events.append(event)

    return State(
        scenario_name=scenario.name,
        loaded_at=now,
        tokens=scenario.tokens.model_copy(),
        pagerduty=PagerDutyState(
            subdomain=pd.subdomain,
            teams={t.id: t.name for t in pd.teams},
            users={u.id: u.model_copy() for u in pd.users},
            services={s.id: s.model_copy() for s in pd.services},
            schedules=schedules,
            incidents=incidents,
        ),
        slack=SlackState(
            team=sl.team.model_copy(),
            bot=sl.bot.model_copy(deep=True),
            users={u.id: u.model_copy() for u in sl.users},
            channels=channels,
        ),
        platform=PlatformState(
            admins={a.email.lower(): a.model_copy() for a in pl.admins},
            tickets={t.id: t.model_copy(deep=True) for t in pl.tickets},
            sessions={s.id: s.model_copy() for s in pl.impersonation_sessions},
            rollouts={r.id: r.model_copy() for r in pl.rollouts},
            annotations={a.id: a.model_copy() for a in pl.annotations},
            idempotency_keys={},
            audit_events=audit_events,
            audit_lag_seconds=pl.audit_lag_seconds,
        ),
    )


def _build_incident(item: PdIncident, ids: IdMaker) -> Incident:
    """An incident with the history PagerDuty would have recorded for the scenario's facts."""
    trigger = new_log_entry(ids, "trigger_log_entry", item.created_at, "Triggered through the API", None)
    entries = [trigger]
    assignments = []
    if item.assignees:
        assignments = [Assignment(user=u, at=item.created_at) for u in item.assignees]
        entries.append(
            new_log_entry(
                ids,
                "assign_log_entry",
                item.created_at,
                "Assigned via the escalation policy",
                None,
                assignees=list(item.assignees),
            )
        )
    acknowledged_at = item.acknowledged_at or item.created_at + timedelta(minutes=4)
    acknowledgements = []
    if item.status == "acknowledged":
        for user in item.acknowledged_by or []:
            acknowledgements.append(Acknowledgement(user=user, at=acknowledged_at))
            entries.append(new_log_entry(ids, "acknowledge_log_entry", acknowledged_at, "Acknowledged", user))
    notes = []
    for note in item.notes:
        note = note.model_copy()
        note.id = note.id or ids.new("P", 7)
        notes.append(note)
        entries.append(
            new_log_entry(ids, "annotate_log_entry", note.at, "Note added", note.user, note=note.content)
        )
    for extra in item.log_entries:
        entries.append(
            LogEntry(
                id=extra.id or ids.new("R", 26),
                type=extra.type,
                at=extra.at,
                summary=extra.summary,
                agent=extra.agent,
                assignees=list(extra.assignees),
            )
        )
    if item.status == "resolved":
        entries.append(new_log_entry(ids, "resolve_log_entry", item.resolved_at, "Resolved", None))
    entries.sort(key=lambda e: e.at)
    last_change = max(e.at for e in entries)
    return Incident(
        **item.model_dump(include={"id", "number", "title", "service", "status", "urgency", "created_at"}),
        updated_at=last_change,
        last_status_change_at=last_change,
        last_status_change_by=None,
        resolved_at=item.resolved_at if item.status == "resolved" else None,
        assignments=assignments,
        acknowledgements=acknowledgements,
        notes=notes,
        log_entries=entries,
        trigger_log_entry_id=trigger.id,
    )


class Store:
    """The live state, the scenario it came from, and the write log.

    Every route handler is `async def` and never awaits while it changes state, so requests are
    applied one at a time on the server's event loop without a lock.
    """

    def __init__(self, scenario: Scenario | dict[str, Any], source: str = "scenario") -> None:
        self.ids = IdMaker()
        self.clock = SlackClock()
        self.writes: list[WriteEntry] = []
        self.slack_app: SlackApp | None = None
        """Where Slack sends interactions (sandbox/interactivity.py); kept across resets and loads."""
        self.load(scenario, source)

    def load(self, scenario: Scenario | dict[str, Any], source: str = "scenario") -> None:
        """Replaces the scenario (raw data is re-resolved against the current time)."""
        now = utcnow()
        self.scenario_data = scenario if isinstance(scenario, dict) else None
        self.scenario = (
            scenario if isinstance(scenario, Scenario) else parse_scenario(scenario, now=now, source=source)
        )
        self.source = source
        self.reset()

    def reset(self) -> None:
        """Back to the scenario as loaded; the write log is cleared."""
        now = utcnow()
        scenario = self.scenario
        if self.scenario_data is not None:
            scenario = parse_scenario(self.scenario_data, now=now, source=self.source)
        self.ids = IdMaker()
        self.clock = SlackClock()
        self.writes = []
        self.state = build_state(scenario, self.ids, self.clock, now)

    def record_write(self, **request: Any) -> WriteEntry:
        """Logs a write request: `request` is a `WriteEntry`'s fields but its number and time."""
        entry = WriteEntry(
            seq=len(self.writes) + 1, at=utcnow().isoformat().replace("+00:00", "Z"), **request
        )
        self.writes.append(entry)
        return entry
