"""PagerDuty REST API v2, the subset the handover uses, as PagerDuty answers it.

Mounted at `/pagerduty`, so `pagerduty.RestApiV2Client(token, base_url=".../pagerduty")` works
unchanged. Shapes follow contracts/pagerduty-subset.json (PagerDuty's official schema) and the
behaviour checked against the real API (DESIGN.md §5): `Authorization: Token token=…`, the `From`
header on incident writes, classic pagination, the bare-array answer of the override POST, 200
(not 201) for notes, `user_ids[]` returning only open incidents, 250 incidents per bulk PUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.oncall import Span, final_spans, layer_spans, longest_turn, override_spans
from sandbox.state import (
    Acknowledgement,
    Assignment,
    Incident,
    LogEntry,
    PagerDutyState,
    PdEscalationPolicy,
    PdNote,
    PdOverride,
    PdSchedule,
    PdService,
    PdUser,
    Store,
    iso,
    new_log_entry,
    parse_time,
    utcnow,
)

PREFIX = "/pagerduty"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
ITERATION_LIMIT = 10_000
NOTE_CHANNEL = "The PagerDuty website or APIs"

M = TypeVar("M", bound=BaseModel)


class PagerDutyError(Exception):
    """Answered as PagerDuty's error body: `{"error": {"message", "code", "errors"}}`."""

    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors or []


def error_response(error: PagerDutyError) -> JSONResponse:
    body: dict[str, Any] = {"message": error.message, "code": error.code}
    if error.errors:
        body["errors"] = error.errors
    return JSONResponse({"error": body}, status_code=error.status)


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, "Invalid Input Provided", 2001, list(errors))


def not_found() -> PagerDutyError:
    return PagerDutyError(404, "Not Found", 2100)


def store_of(request: Request) -> Store:
    return request.app.state.store


ACCOUNT_TOKEN_HAS_NO_USER = (
    "Because this request was made using an account-level access token, we were unable to "
    "determine the user's identity. Please use a user-level token."
)
"""`GET /users/me` with an account-level key: a 400 whose `error` is this bare string (not the
usual error object), as the official client's `api_key_access` expects (checked 2025-11-14)."""


def token_of(request: Request) -> str:
    header = request.headers.get("authorization", "").strip()
    return header.removeprefix("Token token=") if header.startswith("Token token=") else ""


async def require_token(request: Request) -> None:
    """The account-level key, or a user's own key (`tokens.pagerduty_user_tokens`)."""
    tokens = store_of(request).state.tokens
    token = token_of(request)
    if not token or (token != tokens.pagerduty_token and token not in tokens.pagerduty_user_tokens):
        raise PagerDutyError(401, "Unauthorized", 2006)


def requester(request: Request, pd: PagerDutyState) -> PdUser:
    """The user named by the `From` header, which PagerDuty demands on incident writes."""
    email = request.headers.get("from", "").strip()
    if not email:
        raise PagerDutyError(
            400, 'You must specify a user\'s email address in the "From" header to perform this action', 2016
        )
    user = pd.user_by_email(email)
    if user is None:
        raise invalid("Requester User Not Found")
    return user


router = APIRouter(prefix=PREFIX, dependencies=[Depends(require_token)])


# --- rendering -----------------------------------------------------------------------------


@dataclass
class View:
    """Renders state as PagerDuty JSON. `self` links point at the sandbox so `rget(obj)` works."""

    pd: PagerDutyState
    api: str
    web: str
    zone: ZoneInfo | None = None
    """`time_zone=`: times are rendered in it (PagerDuty's default is the account's, UTC here)."""

    @classmethod
    def of(cls, request: Request) -> View:
        pd = store_of(request).state.pagerduty
        api = str(request.base_url).rstrip("/") + PREFIX
        return cls(pd=pd, api=api, web=f"https://{pd.subdomain}.pagerduty.com", zone=_zone(request))

    def at(self, moment: datetime) -> str:
        if self.zone is None:
            return iso(moment)
        return moment.astimezone(self.zone).replace(microsecond=0).isoformat()

    def ref(
        self, kind: str, item_id: str, summary: str, path: str, web_path: str | None = None
    ) -> dict[str, Any]:
        """A reference as PagerDuty writes one: `{"id", "type": "<kind>_reference", "summary", "self",
        "html_url"}`, `self` at `<api>/<path>/<id>` and `html_url` on the website (`web_path`, or the
        same path)."""
        return {
            "id": item_id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.api}/{path}/{item_id}",
            "html_url": f"{self.web}/{web_path or path}/{item_id}",
        }

    def team_refs(self, team_ids: list[str]) -> list[dict[str, Any]]:
        return [
            self.ref("team", team_id, self.pd.teams.get(team_id, team_id), "teams") for team_id in team_ids
        ]

    def incident_teams(self, incident: Incident) -> list[str]:
        """An incident belongs to its service's teams."""
        return list(self.pd.services[incident.service].teams)

    def user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.pd.users[user_id]
        return self.ref("user", user.id, user.name, "users")

    def user(self, user: PdUser) -> dict[str, Any]:
        return {
            **self.ref("user", user.id, user.name, "users"),
            "type": "user",
            "name": user.name,
            "email": user.email,
            "time_zone": user.time_zone,
            "color": "purple",
            "role": user.role,
            "avatar_url": "https://secure.gravatar.com/avatar/00000000000000000000000000000000.png",
            "description": "",
            "invitation_sent": False,
            "created_via_sso": True,
            "job_title": user.job_title,
            "teams": self.team_refs(user.teams),
            "contact_methods": [],
            "notification_rules": [],
        }

    def service_ref(self, service_id: str) -> dict[str, Any]:
        service = self.pd.services[service_id]
        return self.ref("service", service.id, service.name, "services", "service-directory")

    def service(self, service: PdService, include: list[str]) -> dict[str, Any]:
        # `include[]` expands references into objects; the scenario models no escalation rules,
        # teams or integrations to expand them with, so the policy stays a reference.
        body: dict[str, Any] = {
            **self.service_ref(service.id),
            "type": "service",
            "name": service.name,
            "description": service.description,
            "auto_resolve_timeout": 14400,
            "acknowledgement_timeout": 1800,
            "status": self._service_status(service.id),
            "escalation_policy": self.policy_ref(service.escalation_policy),
            "teams": [],
            "integrations": [],
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "alert_creation": "create_alerts_and_incidents",
        }
        if "auto_pause_notifications_parameters" in include:
            body["auto_pause_notifications_parameters"] = {"enabled": False, "timeout": 0}
        return body

    def _service_status(self, service_id: str) -> str:
        """`critical` with a triggered incident, `warning` with an acknowledged one, as PagerDuty."""
        statuses = {i.status for i in self.pd.incidents.values() if i.service == service_id}
        if "triggered" in statuses:
            return "critical"
        return "warning" if "acknowledged" in statuses else "active"

    def agent_ref(self, user_id: str | None, service_id: str) -> dict[str, Any]:
        return self.user_ref(user_id) if user_id else self.service_ref(service_id)

    def incident_ref(self, incident: Incident) -> dict[str, Any]:
        return self.ref("incident", incident.id, f"[#{incident.number}] {incident.title}", "incidents")

    def incident(self, incident: Incident) -> dict[str, Any]:
        resolved = incident.status == "resolved"
        body: dict[str, Any] = {
            **self.incident_ref(incident),
            "type": "incident",
            "incident_number": incident.number,
            "title": incident.title,
            "created_at": self.at(incident.created_at),
            "updated_at": self.at(incident.updated_at),
            "status": incident.status,
            "incident_key": f"sandbox-{incident.id.lower()}",
            "service": self.service_ref(incident.service),
            "assignments": [
                {"at": self.at(a.at), "assignee": self.user_ref(a.user)} for a in incident.assignments
            ],
            "assigned_via": "escalation_policy",
            "last_status_change_at": self.at(incident.last_status_change_at),
            "last_status_change_by": self.agent_ref(incident.last_status_change_by, incident.service),
            "first_trigger_log_entry": {
                "id": incident.trigger_log_entry_id,
                "type": "trigger_log_entry_reference",
                "summary": "Triggered through the API",
                "self": f"{self.api}/log_entries/{incident.trigger_log_entry_id}?incident_id={incident.id}",
                "html_url": f"{self.web}/incidents/{incident.id}/log_entries/{incident.trigger_log_entry_id}",
            },
            "alert_counts": {"all": 1, "triggered": 0 if resolved else 1, "resolved": 1 if resolved else 0},
            "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "teams": self.team_refs(self.incident_teams(incident)),
            "pending_actions": [],
            "acknowledgements": [
                {"at": self.at(a.at), "acknowledger": self.user_ref(a.user)}
                for a in incident.acknowledgements
            ],
            "incidents_responders": [],
            "responder_requests": [],
            "urgency": incident.urgency,
        }
        if incident.resolved_at is not None:
            body["resolved_at"] = self.at(incident.resolved_at)
        return body

    def note(self, note: PdNote) -> dict[str, Any]:
        return {
            "id": note.id,
            "user": self.user_ref(note.user),
            "channel": {"summary": NOTE_CHANNEL},
            "content": note.content,
            "created_at": self.at(note.at),
        }

    def log_entry(self, incident: Incident, entry: LogEntry) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": entry.id,
            "type": entry.type,
            "summary": entry.summary,
            "self": f"{self.api}/log_entries/{entry.id}",
            "html_url": f"{self.web}/incidents/{incident.id}/log_entries/{entry.id}",
            "created_at": self.at(entry.at),
            "agent": self.agent_ref(entry.agent, incident.service),
            "channel": {"type": "note", "summary": entry.note} if entry.note is not None else {"type": "api"},
            "service": self.service_ref(incident.service),
            "incident": self.incident_ref(incident),
            "teams": self.team_refs(self.incident_teams(incident)),
            "contexts": [],
            "event_details": {},
        }
        if entry.type in ("assign_log_entry", "reassign_log_entry"):
            body["assignees"] = [self.user_ref(u) for u in entry.assignees]
        return body

    def override(self, override: PdOverride) -> dict[str, Any]:
        return {
            "id": override.id,
            "start": self.at(override.start),
            "end": self.at(override.end),
            "user": self.user_ref(override.user),
            "time_zone": override.time_zone,
        }

    def schedule_ref(self, schedule: PdSchedule) -> dict[str, Any]:
        return self.ref("schedule", schedule.id, schedule.name, "schedules")

    def policy_ref(self, policy: PdEscalationPolicy) -> dict[str, Any]:
        return self.ref("escalation_policy", policy.id, policy.name, "escalation_policies")

    def escalation_policy_ref(self, schedule: PdSchedule) -> dict[str, Any] | None:
        return None if schedule.escalation_policy is None else self.policy_ref(schedule.escalation_policy)

    def entries(self, spans: list[Span]) -> list[dict[str, Any]]:
        return [
            {"start": self.at(s.start), "end": self.at(s.end), "user": self.user_ref(s.user)} for s in spans
        ]

    def schedule(self, schedule: PdSchedule, since: datetime, until: datetime) -> dict[str, Any]:
        overrides = override_spans(schedule, since, until)
        policy = self.escalation_policy_ref(schedule)
        layers = []
        for number, layer in enumerate(schedule.all_layers, 1):
            spans = layer_spans(schedule, layer, since, until)
            layers.append(
                {
                    "id": f"L{schedule.id[1:]}"[:7] if number == 1 else f"L{schedule.id[1:5]}{number:02d}",
                    "name": layer.name or f"Layer {number}",
                    "start": self.at(layer.start or layer.rotation_virtual_start),
                    "users": [{"user": self.user_ref(u)} for u in layer.users],
                    "restrictions": [r.model_dump(exclude_none=True) for r in layer.restrictions],
                    "rotation_virtual_start": self.at(layer.rotation_virtual_start),
                    "rotation_turn_length_seconds": layer.rotation_turn_length_seconds,
                    "rendered_schedule_entries": self.entries(spans),
                    "rendered_coverage_percentage": _coverage(spans, since, until),
                    # (no `end` for a layer that does not end: the schema's type is a string)
                    **({"end": self.at(layer.end)} if layer.end else {}),
                }
            )
        final = final_spans(schedule, since, until)
        return {
            **self.schedule_ref(schedule),
            "type": "schedule",
            "name": schedule.name,
            "time_zone": schedule.time_zone,
            "description": schedule.description,
            "schedule_layers": layers,
            "overrides_subschedule": {
                "name": "Overrides",
                "rendered_schedule_entries": self.entries(overrides),
                "rendered_coverage_percentage": _coverage(overrides, since, until),
            },
            "final_schedule": {
                "name": "Final Schedule",
                "rendered_schedule_entries": self.entries(final),
                "rendered_coverage_percentage": _coverage(final, since, until),
            },
            "escalation_policies": [policy] if policy else [],
            "users": [self.user_ref(u) for u in schedule.users],
            "teams": [],
        }


def _coverage(spans: list[Span], since: datetime, until: datetime) -> float:
    """The share of [since, until) someone is on call in, in percent (PagerDuty's rounding)."""
    window = (until - since).total_seconds()
    covered = sum((s.end - s.start).total_seconds() for s in spans)
    return round(100 * covered / window, 2) if window > 0 else 0.0


# --- pagination ----------------------------------------------------------------------------


def classic_page(name: str, items: list[Any], limit: int | None, offset: int, total: bool) -> dict[str, Any]:
    """PagerDuty's classic pagination: limit (at most 100), offset, more, total (only if asked)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 1:
        raise invalid("Limit must be greater than 0")
    if offset < 0:
        raise invalid("Offset must be greater than or equal to 0")
    limit = min(limit, MAX_LIMIT)
    if offset + limit > ITERATION_LIMIT:
        raise invalid(f"Offset + limit must be less than or equal to {ITERATION_LIMIT}")
    page = items[offset : offset + limit]
    return {
        name: page,
        "limit": limit,
        "offset": offset,
        "more": offset + len(page) < len(items),
        "total": len(items) if total else None,
    }


def _zone(request: Request) -> ZoneInfo | None:
    """The `time_zone` query parameter, as PagerDuty takes it (an IANA zone name)."""
    name = request.query_params.get("time_zone")
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"time_zone {name!r} is not a time zone") from None


def no_includes(include: list[str]) -> None:
    """`include[]` asks for related objects in full. The sandbox renders references only: it
    refuses the parameter out loud rather than ignore it (an ignored parameter hides bugs)."""
    if include:
        raise invalid(f"include[]={include[0]} is not modelled by the sandbox; references only")


def query_time(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise invalid(f"{name} is not a valid date-time: {value!r}") from None


# --- users ---------------------------------------------------------------------------------


@router.get("/users")
async def list_users(
    request: Request,
    query: str | None = None,
    team_ids: list[str] = Query(default=[], alias="team_ids[]"),
    include: list[str] = Query(default=[], alias="include[]"),
    limit: int | None = None,
    offset: int = 0,
    total: bool = False,
) -> dict[str, Any]:
    no_includes(include)
    view = View.of(request)
    users = list(view.pd.users.values())
    if query:
        needle = query.lower()
        users = [u for u in users if needle in u.name.lower() or needle in u.email.lower()]
    if team_ids:
        users = [u for u in users if set(u.teams) & set(team_ids)]
    page = classic_page("users", users, limit, offset, total)
    page["users"] = [view.user(u) for u in page["users"]]
    return page


USER_INCLUDES = {"contact_methods", "notification_rules", "teams", "subdomains", "calendar_urls"}


@router.get("/users/me")
async def get_current_user(
    request: Request, include: list[str] = Query(default=[], alias="include[]")
) -> Any:
    """The token's own user. Only a user-level key has one: PagerDuty refuses the account key."""
    unknown = set(include) - USER_INCLUDES
    if unknown:
        raise invalid(f"include[] may only contain {', '.join(sorted(USER_INCLUDES))}")
    view = View.of(request)
    user_id = store_of(request).state.tokens.pagerduty_user_tokens.get(token_of(request))
    if user_id is None:
        return JSONResponse({"error": ACCOUNT_TOKEN_HAS_NO_USER}, status_code=400)
    # The scenario's users have no contact methods, notification rules or teams to expand, and
    # calendar URLs come only from GET /users/{id} (the schema says so).
    return {"user": view.user(view.pd.users[user_id])}


# --- services ------------------------------------------------------------------------------

SERVICE_INCLUDES = {"escalation_policies", "teams", "auto_pause_notifications_parameters", "integrations"}


@router.get("/services/{service_id}")
async def get_service(
    request: Request, service_id: str, include: list[str] = Query(default=[], alias="include[]")
) -> dict[str, Any]:
    unknown = set(include) - SERVICE_INCLUDES
    if unknown:
        raise invalid(f"include[] may only contain {', '.join(sorted(SERVICE_INCLUDES))}")
    view = View.of(request)
    service = view.pd.services.get(service_id)
    if service is None:
        raise not_found()
    return {"service": view.service(service, include)}


# --- schedules and overrides ---------------------------------------------------------------


def schedule_or_404(pd: PagerDutyState, schedule_id: str) -> PdSchedule:
    schedule = pd.schedules.get(schedule_id)
    if schedule is None:
        raise not_found()
    return schedule


@router.get("/schedules/{schedule_id}")
async def get_schedule(
    request: Request,
    schedule_id: str,
    since: str | None = None,
    until: str | None = None,
    time_zone: str | None = None,
) -> dict[str, Any]:
    view = View.of(request)
    schedule = schedule_or_404(view.pd, schedule_id)
    start = query_time("since", since) or utcnow().replace(microsecond=0)
    end = query_time("until", until) or start + timedelta(weeks=2)
    if end < start:
        raise invalid("until must be after since")
    return {"schedule": view.schedule(schedule, start, end)}


@router.get("/schedules/{schedule_id}/overrides")
async def list_overrides(
    request: Request,
    schedule_id: str,
    since: str | None = None,
    until: str | None = None,
    editable: bool = False,
    overflow: bool = False,
) -> dict[str, Any]:
    # The official schema says 201 here; PagerDuty answers 200, and so does the sandbox.
    view = View.of(request)
    schedule = schedule_or_404(view.pd, schedule_id)
    start, end = query_time("since", since), query_time("until", until)
    if start is None or end is None:
        raise invalid("Since and until are required")
    found = [o for o in schedule.overrides if o.start < end and o.end > start]
    if editable:
        found = [o for o in found if o.start > utcnow()]  # as PagerDuty: only future ones
    if not overflow:
        # As PagerDuty: entries that pass the window's bounds are cut at them unless overflow=true.
        found = [o.model_copy(update={"start": max(o.start, start), "end": min(o.end, end)}) for o in found]
    return {"overrides": [view.override(o) for o in sorted(found, key=lambda o: o.start)]}


class UserReferenceIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    type: str = "user_reference"


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    start: datetime
    end: datetime
    user: UserReferenceIn
    time_zone: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _utc_if_naive(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _new_override(
    pd: PagerDutyState, store: Store, schedule: PdSchedule, raw: Any
) -> tuple[int, PdOverride | None, list[str], dict[str, Any]]:
    """Checks one requested override; returns (status, created override, errors, echo of the request)."""
    echo = raw if isinstance(raw, dict) else {}
    try:
        item = OverrideIn.model_validate(raw)
    except ValidationError as error:
        return 400, None, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()], echo
    if item.user.type != "user_reference" or item.user.id not in pd.users:
        return 400, None, [f"User {item.user.id} not found"], echo
    if item.end <= item.start:
        return 400, None, ["Override must end after its start"], echo
    override = PdOverride(
        id=store.ids.new("Q", 14),
        user=item.user.id,
        start=item.start,
        end=item.end,
        time_zone=item.time_zone,
    )
    schedule.overrides.append(override)
    return 201, override, [], echo


@router.post("/schedules/{schedule_id}/overrides", status_code=201)
async def create_overrides(request: Request, schedule_id: str) -> Response:
    store = store_of(request)
    view = View.of(request)
    schedule = schedule_or_404(view.pd, schedule_id)
    body = await json_body(request)

    if isinstance(body, dict) and "overrides" in body:
        requested = body["overrides"]
        if not isinstance(requested, list) or not requested:
            raise invalid("overrides must be a non-empty array of overrides")
        answers = []
        created = []
        for raw in requested:
            status, override, errors, echo = _new_override(view.pd, store, schedule, raw)
            if override is not None:
                created.append(override.id)
                answers.append({"status": status, "override": view.override(override)})
            else:
                rejected = {k: echo[k] for k in ("start", "end", "user", "time_zone") if k in echo}
                answers.append({"status": status, "errors": errors, "override": rejected})
        request.state.write_result = {
            "schedule_id": schedule.id,
            "override_ids": created,
            "rejected": len(requested) - len(created),
        }
        return JSONResponse(answers, status_code=201)

    if isinstance(body, dict) and "override" in body:
        # The deprecated single form: one override in, one wrapped override out.
        status, override, errors, _ = _new_override(view.pd, store, schedule, body["override"])
        if override is None:
            raise invalid(*errors)
        request.state.write_result = {
            "schedule_id": schedule.id,
            "override_ids": [override.id],
            "rejected": 0,
        }
        return JSONResponse({"override": view.override(override)}, status_code=201)

    raise invalid('The request body must be {"overrides": [...]}')


@router.delete("/schedules/{schedule_id}/overrides/{override_id}")
async def delete_override(request: Request, schedule_id: str, override_id: str) -> Response:
    pd = store_of(request).state.pagerduty
    schedule = schedule_or_404(pd, schedule_id)
    override = next((o for o in schedule.overrides if o.id == override_id), None)
    if override is None:
        raise not_found()
    now = utcnow()
    if override.end <= now:
        raise invalid("You cannot remove a past override")
    request.state.write_result = {"schedule_id": schedule.id, "override_id": override.id}
    if override.start < now:
        # As PagerDuty documents: an override in progress is cut short at now, answered 200.
        override.end = now
        request.state.write_result["truncated"] = True
        return Response(status_code=200)
    schedule.overrides.remove(override)
    request.state.write_result["deleted"] = True
    return Response(status_code=204)


# --- incidents -----------------------------------------------------------------------------

IncidentStatus = Literal["triggered", "acknowledged", "resolved"]
SORT_FIELDS = {
    "incident_number": "number",
    "created_at": "created_at",
    "resolved_at": "resolved_at",
    "urgency": "urgency",
}


def incident_or_404(pd: PagerDutyState, incident_id: str) -> Incident:
    incident = pd.incidents.get(incident_id)
    if incident is None:
        raise not_found()
    return incident


def sort_incidents(incidents: list[Incident], sort_by: str | None) -> list[Incident]:
    ordered = sorted(incidents, key=lambda i: (i.created_at, i.number))
    if not sort_by:
        return ordered
    keys = [part.strip() for part in sort_by.split(",") if part.strip()]
    if len(keys) > 2:
        raise invalid("sort_by takes at most two fields")
    for key in reversed(keys):
        field, _, direction = key.partition(":")
        if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise invalid(f"Invalid sort_by value {key!r}")
        attribute = SORT_FIELDS[field]
        ordered.sort(key=lambda i: getattr(i, attribute) or i.created_at, reverse=direction == "desc")
    return ordered


@router.get("/incidents")
async def list_incidents(
    request: Request,
    statuses: list[IncidentStatus] = Query(default=[], alias="statuses[]"),
    service_ids: list[str] = Query(default=[], alias="service_ids[]"),
    user_ids: list[str] = Query(default=[], alias="user_ids[]"),
    team_ids: list[str] = Query(default=[], alias="team_ids[]"),
    urgencies: list[Literal["high", "low"]] = Query(default=[], alias="urgencies[]"),
    incident_key: str | None = None,
    since: str | None = None,
    until: str | None = None,
    date_range: Literal["all"] | None = None,
    sort_by: str | None = None,
    time_zone: str | None = None,
    include: list[str] = Query(default=[], alias="include[]"),
    limit: int | None = None,
    offset: int = 0,
    total: bool = False,
) -> dict[str, Any]:
    no_includes(include)
    view = View.of(request)
    incidents = list(view.pd.incidents.values())
    if date_range != "all":
        # PagerDuty searches the last month unless told otherwise.
        end = query_time("until", until) or utcnow()
        start = query_time("since", since) or end - timedelta(days=30)
        incidents = [i for i in incidents if start <= i.created_at < end]
    if statuses:
        incidents = [i for i in incidents if i.status in statuses]
    if service_ids:
        incidents = [i for i in incidents if i.service in service_ids]
    if team_ids:
        incidents = [i for i in incidents if set(view.incident_teams(i)) & set(team_ids)]
    if user_ids:
        # As PagerDuty: filtering by assignee only ever returns open incidents.
        incidents = [
            i
            for i in incidents
            if i.status in ("triggered", "acknowledged") and any(a.user in user_ids for a in i.assignments)
        ]
    if urgencies:
        incidents = [i for i in incidents if i.urgency in urgencies]
    if incident_key:
        incidents = [i for i in incidents if f"sandbox-{i.id.lower()}" == incident_key]
    page = classic_page("incidents", sort_incidents(incidents, sort_by), limit, offset, total)
    page["incidents"] = [view.incident(i) for i in page["incidents"]]
    return page


@router.get("/incidents/{incident_id}")
async def get_incident(
    request: Request, incident_id: str, include: list[str] = Query(default=[], alias="include[]")
) -> dict[str, Any]:
    no_includes(include)
    view = View.of(request)
    return {"incident": view.incident(incident_or_404(view.pd, incident_id))}


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    assignee: UserReferenceIn


class IncidentChange(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["incident", "incident_reference"]
    status: IncidentStatus | None = None
    assignments: list[AssignmentIn] | None = None
    urgency: Literal["high", "low"] | None = None
    title: str | None = None
    resolution: str | None = None


class BulkIncidentChange(IncidentChange):
    id: str


class IncidentsUpdate(BaseModel):
    incidents: list[BulkIncidentChange]


class IncidentUpdate(BaseModel):
    incident: IncidentChange


def check_change(pd: PagerDutyState, incident: Incident, change: IncidentChange) -> None:
    if incident.status == "resolved" and change.status in ("triggered", "acknowledged"):
        # As PagerDuty: a resolved incident stays resolved; it cannot be reopened.
        raise invalid(f"Incident {incident.id} is already resolved")
    if change.assignments is not None:
        if not change.assignments:
            raise invalid(f"Incident {incident.id}: assignments must name at least one user")
        for assignment in change.assignments:
            if assignment.assignee.type != "user_reference" or assignment.assignee.id not in pd.users:
                raise invalid(f"Assignee {assignment.assignee.id} not found")
        if incident.status == "resolved" and change.status not in ("triggered", "acknowledged"):
            raise invalid(f"Incident {incident.id} is already resolved")


def apply_change(store: Store, incident: Incident, change: IncidentChange, actor: PdUser) -> None:
    """Applies one checked change as PagerDuty does, with the log entries it would write."""
    pd = store.state.pagerduty
    now = utcnow()
    before = incident.status

    def log(kind: str, summary: str, **extra: Any) -> None:
        incident.log_entries.append(new_log_entry(store.ids, kind, now, summary, actor.id, **extra))

    if change.assignments is not None:
        assignees = list(dict.fromkeys(a.assignee.id for a in change.assignments))
        incident.assignments = [Assignment(user=u, at=now) for u in assignees]
        incident.acknowledgements = []
        incident.status = "triggered"
        names = ", ".join(pd.users[u].name for u in assignees)
        log("reassign_log_entry", f"Reassigned to {names} by {actor.name}.", assignees=assignees)
    if change.status == "acknowledged":
        if not any(a.user == actor.id for a in incident.acknowledgements):
            incident.acknowledgements.append(Acknowledgement(user=actor.id, at=now))
        incident.status = "acknowledged"
        log("acknowledge_log_entry", f"Acknowledged by {actor.name}.")
    elif change.status == "resolved" and incident.status != "resolved":
        incident.status = "resolved"
        incident.resolved_at = now
        incident.assignments = []
        incident.acknowledgements = []
        log("resolve_log_entry", f"Resolved by {actor.name}.", note=change.resolution)
    elif change.status == "triggered" and change.assignments is None and incident.acknowledgements:
        incident.acknowledgements = []
        incident.status = "triggered"
        log("unacknowledge_log_entry", f"Unacknowledged by {actor.name}.")
    if change.urgency is not None and change.urgency != incident.urgency:
        incident.urgency = change.urgency
        log("urgency_change_log_entry", f"Urgency changed to {change.urgency} by {actor.name}.")
    if change.title is not None:
        incident.title = change.title
    incident.updated_at = now
    if incident.status != before or change.assignments is not None:
        incident.last_status_change_at = now
        incident.last_status_change_by = actor.id


def change_result(incidents: list[Incident]) -> dict[str, Any]:
    return {
        "incident_ids": [i.id for i in incidents],
        "statuses": {i.id: i.status for i in incidents},
        "assignees": {i.id: [a.user for a in i.assignments] for i in incidents},
    }


@router.put("/incidents")
async def update_incidents(request: Request) -> dict[str, Any]:
    store = store_of(request)
    pd = store.state.pagerduty
    actor = requester(request, pd)
    body = await json_body(request)
    most = request.app.state.limits.plan.max_bulk_incidents
    if isinstance(body, dict) and isinstance(body.get("incidents"), list) and len(body["incidents"]) > most:
        raise PagerDutyError(
            413, "Request Entity Too Large", 2001, [f"At most {most} incidents may be updated at a time"]
        )
    update = validated(IncidentsUpdate, body)
    changes = []
    for change in update.incidents:
        incident = pd.incidents.get(change.id)
        if incident is None:
            raise invalid(f"Incident {change.id} not found")
        check_change(pd, incident, change)
        changes.append((incident, change))
    for incident, change in changes:
        apply_change(store, incident, change, actor)
    done = [incident for incident, _ in changes]
    request.state.write_result = change_result(done)
    view = View.of(request)
    return {"incidents": [view.incident(i) for i in done]}


@router.put("/incidents/{incident_id}")
async def update_incident(request: Request, incident_id: str) -> dict[str, Any]:
    store = store_of(request)
    pd = store.state.pagerduty
    actor = requester(request, pd)
    incident = incident_or_404(pd, incident_id)
    update = validated(IncidentUpdate, await json_body(request))
    check_change(pd, incident, update.incident)
    apply_change(store, incident, update.incident, actor)
    request.state.write_result = change_result([incident])
    return {"incident": View.of(request).incident(incident)}


# --- notes and log entries -----------------------------------------------------------------


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    content: str = Field(min_length=1, max_length=25_000)


class NoteCreate(BaseModel):
    note: NoteIn


@router.get("/incidents/{incident_id}/notes")
async def list_notes(request: Request, incident_id: str) -> dict[str, Any]:
    view = View.of(request)
    incident = incident_or_404(view.pd, incident_id)
    return {"notes": [view.note(n) for n in sorted(incident.notes, key=lambda n: n.at)]}


@router.post("/incidents/{incident_id}/notes")
async def create_note(request: Request, incident_id: str) -> dict[str, Any]:
    # PagerDuty answers 200 here, not 201.
    store = store_of(request)
    pd = store.state.pagerduty
    actor = requester(request, pd)
    incident = incident_or_404(pd, incident_id)
    create = validated(NoteCreate, await json_body(request))
    now = utcnow()
    note = PdNote(id=store.ids.new("P", 7), user=actor.id, content=create.note.content, at=now)
    incident.notes.append(note)
    incident.log_entries.append(
        new_log_entry(
            store.ids, "annotate_log_entry", now, f"Note added by {actor.name}.", actor.id, note=note.content
        )
    )
    incident.updated_at = now
    request.state.write_result = {"incident_id": incident.id, "note_id": note.id}
    return {"note": View.of(request).note(note)}


@router.get("/incidents/{incident_id}/log_entries")
async def list_log_entries(
    request: Request,
    incident_id: str,
    since: str | None = None,
    until: str | None = None,
    is_overview: bool = False,
    time_zone: str | None = None,
    include: list[str] = Query(default=[], alias="include[]"),
    limit: int | None = None,
    offset: int = 0,
    total: bool = False,
) -> dict[str, Any]:
    no_includes(include)
    view = View.of(request)
    incident = incident_or_404(view.pd, incident_id)
    entries = list(reversed(incident.log_entries))  # kept oldest first; PagerDuty lists newest first
    if is_overview:
        # The most important changes only: no notifications, no notes.
        entries = [e for e in entries if e.type in OVERVIEW_TYPES]
    start, end = query_time("since", since), query_time("until", until)
    if start is not None:
        entries = [e for e in entries if e.at >= start]
    if end is not None:
        entries = [e for e in entries if e.at < end]
    page = classic_page("log_entries", entries, limit, offset, total)
    page["log_entries"] = [view.log_entry(incident, e) for e in page["log_entries"]]
    return page


OVERVIEW_TYPES = {
    "trigger_log_entry",
    "acknowledge_log_entry",
    "unacknowledge_log_entry",
    "assign_log_entry",
    "reassign_log_entry",
    "escalate_log_entry",
    "resolve_log_entry",
    "urgency_change_log_entry",
}
"""`is_overview=true`: the log entries that change the incident (not notifications or notes)."""


# --- on-calls ------------------------------------------------------------------------------


@router.get("/oncalls")
async def list_oncalls(
    request: Request,
    schedule_ids: list[str] = Query(default=[], alias="schedule_ids[]"),
    user_ids: list[str] = Query(default=[], alias="user_ids[]"),
    escalation_policy_ids: list[str] = Query(default=[], alias="escalation_policy_ids[]"),
    since: str | None = None,
    until: str | None = None,
    earliest: bool = False,
    time_zone: str | None = None,
    include: list[str] = Query(default=[], alias="include[]"),
    limit: int | None = None,
    offset: int = 0,
    total: bool = False,
) -> dict[str, Any]:
    no_includes([i for i in include if i != "users"])  # users in full: their emails, with the on-calls
    view = View.of(request)
    start = query_time("since", since) or utcnow()
    end = query_time("until", until) or start
    if end < start:
        raise invalid("until must be after since")
    oncalls = []
    for schedule in view.pd.schedules.values():
        if schedule_ids and schedule.id not in schedule_ids:
            continue
        policy = view.escalation_policy_ref(schedule)
        if escalation_policy_ids and (policy is None or policy["id"] not in escalation_policy_ids):
            continue
        # Render beyond each side so shifts keep their real start and end: two of the longest
        # turns, and two weeks at least (a shift merged over turns, or a layer's, is longer).
        margin = max(2 * longest_turn(schedule), timedelta(days=14))
        spans = final_spans(schedule, start - margin, end + margin)
        seen: set[str] = set()
        for span in spans:
            overlaps = (
                span.start <= start < span.end if start == end else span.start < end and span.end > start
            )
            if not overlaps or (user_ids and span.user not in user_ids):
                continue
            if earliest and span.user in seen:
                continue
            seen.add(span.user)
            oncall: dict[str, Any] = {
                "user": view.user(view.pd.users[span.user])
                if "users" in include
                else view.user_ref(span.user),
                "schedule": view.schedule_ref(schedule),
                "escalation_level": 1,
                "start": view.at(span.start),
                "end": view.at(span.end),
            }
            if policy:
                oncall["escalation_policy"] = policy
            oncalls.append(oncall)
    return classic_page("oncalls", oncalls, limit, offset, total)


# --- request bodies ------------------------------------------------------------------------


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise invalid("The request body is not valid JSON") from None


def validated(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise invalid(*(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
