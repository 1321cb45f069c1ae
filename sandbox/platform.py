"""Novalien's platform API (tickets, impersonation sessions, rollouts, audit log), as its contract says.

Mounted at `/platform/v1`; the contract is contracts/platform-api.yaml and
tests/sandbox/test_platform_contract.py holds the sandbox to it. Conventions from the contract:
Bearer auth; `On-Behalf-Of: <email>` on every write, recorded as the audit actor; idempotent
writes (`Idempotency-Key` on annotations); cursor pagination; errors `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.state import (
    AuditTarget,
    PlatformAdmin,
    PlatformAnnotation,
    PlatformAuditEvent,
    PlatformRollout,
    PlatformState,
    PlatformTicket,
    RolloutStateName,
    Store,
    iso,
    parse_time,
    utcnow,
)

PREFIX = "/platform/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
LABEL = re.compile(r"^[a-z0-9_:-]{1,64}$")

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


class PlatformError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(error: PlatformError) -> JSONResponse:
    return JSONResponse({"error": {"code": error.code, "message": error.message}}, status_code=error.status)


def store_of(request: Request) -> Store:
    return request.app.state.store


async def require_token(request: Request) -> None:
    expected = f"Bearer {store_of(request).state.tokens.platform_token}"
    if request.headers.get("authorization", "").strip() != expected:
        raise PlatformError(
            401, "unauthorized", "A valid platform API token is required (Authorization: Bearer <token>)."
        )


def on_behalf_of(request: Request, platform: PlatformState) -> PlatformAdmin:
    """The admin a write is done for; the platform records them as the audit actor."""
    email = request.headers.get("on-behalf-of", "").strip()
    if not email:
        raise PlatformError(
            400,
            "missing_on_behalf_of",
            "Writes need an On-Behalf-Of header naming the platform admin they are done for.",
        )
    admin = platform.admins.get(email.lower())
    if admin is None or not admin.platform_admin or not admin.active:
        raise PlatformError(
            400, "invalid_on_behalf_of", f"On-Behalf-Of {email!r} is not an active platform admin."
        )
    return admin


def active_admin(platform: PlatformState, email: str, role: str) -> PlatformAdmin:
    admin = platform.admins.get(email.strip().lower())
    if admin is None or not admin.platform_admin or not admin.active:
        raise PlatformError(
            422, "not_platform_admin", f"The {role} {email!r} is not an active platform admin."
        )
    return admin


router = APIRouter(prefix=PREFIX, dependencies=[Depends(require_token)])


# --- rendering -----------------------------------------------------------------------------


ADMIN = "email name platform_admin active"
TICKET = "id subject customer state assignee pinned labels engineering_issue updated_at"
SESSION = "id admin ticket_id state started_at ended_at ended_by"
"""Impersonation tokens are per human and never leave the platform: there is no field for one."""
ROLLOUT = "id flag state ramp_percent error_rate owner updated_at"
ANNOTATION = "id rollout_id author owner ramp_percent error_rate next_step handover_id created_at"
EVENT = "id event_type actor at target"
"""The fields each kind of record shows, in the contract's order."""


def render(record: BaseModel, fields: str) -> dict[str, Any]:
    """The record's `fields` (names, space-separated) as the contract writes them: times in ISO 8601,
    nested records as objects."""
    return {name: _json(getattr(record, name)) for name in fields.split()}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    return list(value) if isinstance(value, list) else value


# --- pagination and bodies -----------------------------------------------------------------


def cursor_page(
    name: str, items: list[Any], fields: str, limit: int | None, cursor: str | None
) -> dict[str, Any]:
    """One page of the records, rendered, under `name`, and the opaque cursor of the next (None on
    the last page)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise PlatformError(400, "invalid_limit", f"limit must be between 1 and {MAX_LIMIT}.")
    offset = 0
    if cursor:
        try:
            text = base64.urlsafe_b64decode(cursor.encode()).decode()
            offset = int(text.removeprefix("offset:")) if text.startswith("offset:") else -1
        except (ValueError, binascii.Error):
            offset = -1
        if offset < 0:
            raise PlatformError(400, "invalid_cursor", "The cursor is not one this API gave out.")
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    next_cursor = base64.urlsafe_b64encode(f"offset:{offset + limit}".encode()).decode() if more else None
    return {name: [render(item, fields) for item in page], "next_cursor": next_cursor}


def found(record: R | None, message: str) -> R:
    """The record, or the contract's 404 with `message` when there is none."""
    if record is None:
        raise PlatformError(404, "not_found", message)
    return record


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise PlatformError(400, "invalid_request", "The request body must be JSON.") from None


def validated(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise PlatformError(400, "invalid_request", problems) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssigneeChange(Strict):
    assignee: str = Field(min_length=1)


class EngineeringIssue(Strict):
    issue: str = Field(min_length=2)


class EndSession(Strict):
    reason: str = Field(max_length=500)


class NewAnnotation(Strict):
    ramp_percent: float = Field(ge=0, le=100)
    error_rate: float | None = Field(ge=0, le=100)
    next_step: str = Field(min_length=1, max_length=2000)
    handover_id: str | None = None


class OwnerChange(Strict):
    owner: str = Field(min_length=1)
    annotation_id: str | None = None


# --- admins --------------------------------------------------------------------------------


@router.get("/admins/{email}")
async def get_admin(request: Request, email: str) -> dict[str, Any]:
    admin = store_of(request).state.platform.admins.get(email.strip().lower())
    return render(found(admin, f"No admin with email {email!r}."), ADMIN)


# --- tickets -------------------------------------------------------------------------------


def ticket_or_404(platform: PlatformState, ticket_id: str) -> PlatformTicket:
    return found(platform.tickets.get(ticket_id), f"No ticket {ticket_id!r}.")


@router.get("/tickets")
async def list_tickets(
    request: Request,
    assignee: str | None = None,
    pinned: bool | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    tickets = list(store_of(request).state.platform.tickets.values())
    if assignee is not None:
        tickets = [t for t in tickets if t.assignee.lower() == assignee.strip().lower()]
    if pinned is not None:
        tickets = [t for t in tickets if t.pinned == pinned]
    return cursor_page("tickets", tickets, TICKET, limit, cursor)


@router.get("/tickets/{ticket_id}")
async def get_ticket(request: Request, ticket_id: str) -> dict[str, Any]:
    return render(ticket_or_404(store_of(request).state.platform, ticket_id), TICKET)


@router.get("/tickets/{ticket_id}/comments")
async def list_ticket_comments(request: Request, ticket_id: str) -> dict[str, Any]:
    ticket = ticket_or_404(store_of(request).state.platform, ticket_id)
    return {
        "comments": [
            {"id": f"{ticket.id}-c{number}", "author": c.author, "at": iso(c.at), "body": c.body}
            for number, c in enumerate(ticket.comments, start=1)
        ]
    }


@router.put("/tickets/{ticket_id}/assignee")
async def reassign_ticket(request: Request, ticket_id: str) -> dict[str, Any]:
    platform = store_of(request).state.platform
    actor = on_behalf_of(request, platform)
    ticket = ticket_or_404(platform, ticket_id)
    change = validated(AssigneeChange, await json_body(request))
    assignee = active_admin(platform, change.assignee, "assignee")
    previous = ticket.assignee
    if ticket.assignee.lower() != assignee.email.lower():
        # US-PLAT-10: a ticket is never handed on while someone is impersonating its customer.
        open_sessions = [
            s.id for s in platform.sessions.values() if s.ticket_id == ticket.id and s.state == "open"
        ]
        if open_sessions:
            raise PlatformError(
                409,
                "impersonation_session_open",
                f"Ticket {ticket.id} has open impersonation session(s) {', '.join(open_sessions)}; "
                "end them first.",
            )
        ticket.assignee = assignee.email
        ticket.updated_at = utcnow()
    request.state.write_result = {
        "ticket_id": ticket.id,
        "assignee": ticket.assignee,
        "previous_assignee": previous,
        "changed": previous != ticket.assignee,
        "by": actor.email,
    }
    return render(ticket, TICKET)


@router.put("/tickets/{ticket_id}/labels/{label}")
async def add_ticket_label(request: Request, ticket_id: str, label: str) -> dict[str, Any]:
    platform = store_of(request).state.platform
    on_behalf_of(request, platform)
    ticket = ticket_or_404(platform, ticket_id)
    if not LABEL.match(label):
        raise PlatformError(400, "invalid_label", "A label is 1-64 characters of a-z, 0-9, '_', ':' and '-'.")
    changed = label not in ticket.labels
    if changed:
        ticket.labels.append(label)
        ticket.updated_at = utcnow()
    request.state.write_result = {"ticket_id": ticket.id, "label": label, "changed": changed}
    return render(ticket, TICKET)


@router.put("/tickets/{ticket_id}/engineering-issue")
async def link_engineering_issue(request: Request, ticket_id: str) -> dict[str, Any]:
    platform = store_of(request).state.platform
    on_behalf_of(request, platform)
    ticket = ticket_or_404(platform, ticket_id)
    link = validated(EngineeringIssue, await json_body(request))
    changed = ticket.engineering_issue != link.issue
    if changed:
        ticket.engineering_issue = link.issue
        ticket.updated_at = utcnow()
    request.state.write_result = {"ticket_id": ticket.id, "engineering_issue": link.issue, "changed": changed}
    return render(ticket, TICKET)


# --- impersonation sessions ----------------------------------------------------------------


@router.get("/impersonation-sessions")
async def list_sessions(
    request: Request,
    admin: str | None = None,
    state: Literal["open", "ended"] | None = None,
    ticket_id: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    sessions = sorted(store_of(request).state.platform.sessions.values(), key=lambda s: s.started_at)
    if admin is not None:
        sessions = [s for s in sessions if s.admin.lower() == admin.strip().lower()]
    if state is not None:
        sessions = [s for s in sessions if s.state == state]
    if ticket_id is not None:
        sessions = [s for s in sessions if s.ticket_id == ticket_id]
    return cursor_page("sessions", sessions, SESSION, limit, cursor)


@router.post("/impersonation-sessions/{session_id}/end")
async def end_session(request: Request, session_id: str) -> dict[str, Any]:
    store = store_of(request)
    platform = store.state.platform
    actor = on_behalf_of(request, platform)
    session = found(platform.sessions.get(session_id), f"No impersonation session {session_id!r}.")
    validated(EndSession, await json_body(request))
    if session.state == "ended":
        request.state.write_result = {"session_id": session.id, "ended": False, "already_ended": True}
        return render(session, SESSION)
    now = utcnow()
    session.state = "ended"
    session.ended_at = now
    session.ended_by = actor.email
    event = PlatformAuditEvent(
        id=store.ids.new("EVT", 16),
        event_type="platform.impersonation_ended",
        actor=actor.email,
        at=now,
        target=AuditTarget(type="impersonation_session", id=session.id),
        visible_at=now + timedelta(seconds=platform.audit_lag_seconds),
    )
    platform.audit_events.append(event)
    request.state.write_result = {"session_id": session.id, "ended": True, "audit_event_id": event.id}
    return render(session, SESSION)


# --- rollouts ------------------------------------------------------------------------------


def rollout_or_404(platform: PlatformState, rollout_id: str) -> PlatformRollout:
    return found(platform.rollouts.get(rollout_id), f"No rollout {rollout_id!r}.")


@router.get("/rollouts")
async def list_rollouts(
    request: Request,
    owner: str | None = None,
    state: list[RolloutStateName] = Query(default=[]),
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    rollouts = list(store_of(request).state.platform.rollouts.values())
    if owner is not None:
        rollouts = [r for r in rollouts if r.owner.lower() == owner.strip().lower()]
    if state:
        rollouts = [r for r in rollouts if r.state in state]
    return cursor_page("rollouts", rollouts, ROLLOUT, limit, cursor)


@router.get("/rollouts/{rollout_id}")
async def get_rollout(request: Request, rollout_id: str) -> dict[str, Any]:
    return render(rollout_or_404(store_of(request).state.platform, rollout_id), ROLLOUT)


@router.get("/rollouts/{rollout_id}/annotations")
async def list_annotations(request: Request, rollout_id: str) -> dict[str, Any]:
    platform = store_of(request).state.platform
    rollout = rollout_or_404(platform, rollout_id)
    annotations = [a for a in platform.annotations.values() if a.rollout_id == rollout.id]
    annotations.sort(key=lambda a: a.created_at)
    return {"annotations": [render(a, ANNOTATION) for a in annotations]}


@router.post("/rollouts/{rollout_id}/annotations")
async def annotate_rollout(request: Request, rollout_id: str) -> JSONResponse:
    store = store_of(request)
    platform = store.state.platform
    actor = on_behalf_of(request, platform)
    rollout = rollout_or_404(platform, rollout_id)
    key = request.headers.get("idempotency-key", "")
    if not 8 <= len(key) <= 200:
        raise PlatformError(
            400,
            "missing_idempotency_key",
            "Annotations need an Idempotency-Key header of 8 to 200 characters.",
        )
    known = platform.idempotency_keys.get(key)
    if known is not None:
        first = platform.annotations[known]
        if first.rollout_id != rollout.id:
            raise PlatformError(
                422,
                "idempotency_key_reused",
                f"Idempotency-Key was already used for rollout {first.rollout_id}.",
            )
        request.state.write_result = {"rollout_id": rollout.id, "annotation_id": first.id, "replayed": True}
        return JSONResponse(render(first, ANNOTATION), status_code=200)
    new = validated(NewAnnotation, await json_body(request))
    annotation = PlatformAnnotation(
        id=store.ids.new("ANN", 12),
        rollout_id=rollout.id,
        author=actor.email,
        owner=actor.email,
        **new.model_dump(),  # ramp_percent, error_rate, next_step, handover_id
        created_at=utcnow(),
    )
    platform.annotations[annotation.id] = annotation
    platform.idempotency_keys[key] = annotation.id
    request.state.write_result = {"rollout_id": rollout.id, "annotation_id": annotation.id, "replayed": False}
    return JSONResponse(render(annotation, ANNOTATION), status_code=201)


@router.put("/rollouts/{rollout_id}/owner")
async def transfer_rollout_ownership(request: Request, rollout_id: str) -> dict[str, Any]:
    platform = store_of(request).state.platform
    on_behalf_of(request, platform)
    rollout = rollout_or_404(platform, rollout_id)
    change = validated(OwnerChange, await json_body(request))
    owner = active_admin(platform, change.owner, "owner")
    annotation = None
    if change.annotation_id is not None:
        annotation = platform.annotations.get(change.annotation_id)
        if annotation is None or annotation.rollout_id != rollout.id:
            raise PlatformError(
                422, "unknown_annotation", f"Rollout {rollout.id} has no annotation {change.annotation_id!r}."
            )
    previous = rollout.owner
    if rollout.owner.lower() != owner.email.lower():
        rollout.owner = owner.email
        rollout.updated_at = utcnow()
    if annotation is not None:
        annotation.owner = owner.email
    request.state.write_result = {
        "rollout_id": rollout.id,
        "owner": rollout.owner,
        "previous_owner": previous,
        "annotation_id": change.annotation_id,
    }
    return render(rollout, ROLLOUT)


# --- audit log -----------------------------------------------------------------------------


@router.get("/audit-log")
async def list_audit_events(
    request: Request,
    event_type: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    platform = store_of(request).state.platform
    now = utcnow()
    # Events reach the log with a lag (scenario `audit_lag_seconds`); until then they are not listed.
    events = [e for e in platform.audit_events if (e.visible_at or e.at) <= now]
    if event_type is not None:
        events = [e for e in events if e.event_type == event_type]
    if since:
        try:
            start = parse_time(since)
        except ValueError:
            raise PlatformError(400, "invalid_request", f"since is not a date-time: {since!r}") from None
        events = [e for e in events if e.at >= start]
    events.sort(key=lambda e: e.at)
    return cursor_page("events", events, EVENT, limit, cursor)
