"""Novalien's platform API (contracts/platform-api.yaml): admins, pinned tickets, impersonation
sessions (US-PLAT-10), feature-flag rollouts and the audit log.

Writes are idempotent by the contract (PUTs set state, ending an ended session is a no-op,
annotations carry an `Idempotency-Key`), and each one is still preceded by a look at the current
state so that nothing is written that is already so. No route returns impersonation tokens, and
nothing here asks for one: tokens are per human.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.checkpoint import Checkpoint, checkpointed
from activities.errors import Refused, alive, classify, non_retryable, seconds, unavailable, wrote
from handover import tracing
from handover.decisions import WAITING_ON_CUSTOMER_LABEL
from handover.models import (
    AuditResult,
    DigestEntry,
    ImpersonationSession,
    ItemResult,
    Model,
    Outcome,
    Rollout,
    RolloutAnnotation,
    RolloutState,
    Ticket,
    TicketAction,
    TicketContext,
)
from handover.settings import Settings

if TYPE_CHECKING:
    import httpx

API = "Platform API"
COMMENTS_PER_TICKET = 10
IMPERSONATION_ENDED = "platform.impersonation_ended"


class PlatformAdmin(Model):
    email: str
    name: str
    platform_admin: bool
    active: bool


class PinnedTickets(Model):
    tickets: list[Ticket]
    open_sessions: list[ImpersonationSession]
    """Every open impersonation session of the admin, whatever the ticket."""


class TicketWork(Model):
    ticket_id: str
    action: TicketAction
    sessions_to_end: list[str] = []
    engineering_issue: str | None = None


class TicketBatch(Model):
    handover_id: str
    outgoing: str
    incoming: str
    acting_as: str
    """Who the platform records as doing it: outgoing, or the service when outgoing is compromised."""
    items: list[TicketWork]


class AnnotationWork(Model):
    rollout_id: str
    annotation: RolloutAnnotation


class AnnotationBatch(Model):
    handover_id: str
    """The handover run's key: part of each annotation's Idempotency-Key."""
    acting_as: str
    outgoing: str = ""
    incoming: str = ""
    """A rollout owned by neither is not this handover's any more: it is left alone."""
    items: list[AnnotationWork]


class OwnershipWork(Model):
    rollout_id: str
    annotation_id: str


class OwnershipBatch(Model):
    incoming: str
    outgoing: str = ""
    """Only a rollout the outgoing admin still owns is transferred."""
    items: list[OwnershipWork]


class EndSessions(Model):
    handover_id: str
    admin: str
    acting_as: str
    session_ids: list[str]


COMPROMISED = "outgoing admin compromised"


class AuditQuery(Model):
    session_ids: list[str]
    since: datetime


class PlatformActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @functools.cached_property
    def _client(self) -> httpx.Client:
        import httpx  # (here: a worker running only the workflows never loads it; docs/bench.md, P4)

        settings = self._settings
        return httpx.Client(
            base_url=str(settings.platform_base_url).rstrip("/"),
            headers={"Authorization": f"Bearer {settings.platform_api_token.get_secret_value()}"},
            verify=settings.ssl_context(),
            timeout=settings.http_timeout_seconds,
        )

    def _request(self, method: str, path: str, on_behalf_of: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if on_behalf_of:
            headers["On-Behalf-Of"] = on_behalf_of
        alive()
        import httpx  # (loaded with the client)

        url = f"{str(self._client.base_url).rstrip('/')}/{path.lstrip('/')}"
        with tracing.outbound(API, method.upper(), url, headers) as span:
            try:
                response = self._client.request(method, path, headers=headers, **kw)
            except httpx.TransportError as error:
                raise unavailable(API, f"{type(error).__name__}: {error}") from None
            tracing.answered(span, response.status_code)
        if response.is_success:
            wrote(method)
            return response.json()
        try:
            message = response.json()["error"]["message"]
        except Exception:
            message = response.text[:200]
        raise classify(API, response.status_code, message, seconds(response.headers.get("Retry-After")))

    def _pages(self, path: str, key: str, params: dict) -> Iterator[dict]:
        cursor = None
        while True:
            page = self._request(
                "GET", path, params={**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
            )
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # --- step 0: validate ------------------------------------------------------------------

    @activity.defn
    def get_platform_admin(self, email: str) -> PlatformAdmin | None:
        try:
            return PlatformAdmin.model_validate(self._request("GET", f"/admins/{email}"))
        except Refused as error:
            if error.status == 404:
                return None
            raise non_retryable(error) from None

    # --- step 3: hand over pinned support tickets -------------------------------------------

    @activity.defn
    def list_pinned_tickets(self, assignee: str) -> PinnedTickets:
        """The tracker view `assignee=<outgoing> AND pinned=true`, and the admin's open sessions.
        The listing is checked, not trusted: a ticket that is not the admin's pinned one to hand
        over comes back left alone, with the reason; only the admin's own open sessions count."""
        try:
            tickets = [
                Ticket.model_validate({**_known(Ticket, t), "left_alone": _not_pinned_to(t, assignee)})
                for t in self._pages("/tickets", "tickets", {"assignee": assignee, "pinned": "true"})
            ]
            sessions = [
                ImpersonationSession.model_validate(_known(ImpersonationSession, s))
                for s in self._pages(
                    "/impersonation-sessions", "sessions", {"admin": assignee, "state": "open"}
                )
                if _same(s.get("admin"), assignee) and s.get("state") == "open"
            ]
        except Refused as error:
            raise non_retryable(error) from None
        return PinnedTickets(tickets=tickets, open_sessions=sessions)

    @activity.defn
    def hand_over_tickets(self, batch: TicketBatch) -> list[ItemResult]:
        return checkpointed(
            batch.items,
            key=lambda work: work.ticket_id,
            work=lambda work: self._hand_over_ticket(batch, work),
            result=ItemResult,
            at_once=self._settings.api_concurrency,
        )

    def _hand_over_ticket(self, batch: TicketBatch, work: TicketWork) -> ItemResult:
        ended: list[str] = []
        try:
            return self._hand_over_one_ticket(batch, work, ended)
        except Refused as error:
            # Sessions ended before the refusal stay ended: the audit check must account for them.
            return ItemResult(
                item_id=work.ticket_id, outcome=Outcome.FAILED, detail=str(error), sessions_ended=ended
            )

    def _hand_over_one_ticket(self, batch: TicketBatch, work: TicketWork, ended: list[str]) -> ItemResult:
        path = f"/tickets/{work.ticket_id}"
        ticket = self._request("GET", path)
        if ticket["state"] == "solved":
            return ItemResult(
                item_id=work.ticket_id, outcome=Outcome.SKIPPED, detail="solved before it was handed over"
            )
        if not (_same(ticket["assignee"], batch.outgoing) or _same(ticket["assignee"], batch.incoming)):
            return ItemResult(
                item_id=work.ticket_id,
                outcome=Outcome.SKIPPED,
                detail=f"reassigned to {ticket['assignee']} by someone else meanwhile",
            )
        # US-PLAT-10: end the impersonation before the ticket changes hands.
        if work.sessions_to_end:
            query = {"ticket_id": work.ticket_id, "state": "open"}
            still_open = {s["id"] for s in self._pages("/impersonation-sessions", "sessions", query)}
            for session_id in work.sessions_to_end:
                if session_id in still_open:
                    self._request(
                        "POST",
                        f"/impersonation-sessions/{session_id}/end",
                        on_behalf_of=batch.acting_as,
                        json={"reason": f"on-call handover {batch.handover_id} (US-PLAT-10)"},
                    )
                ended.append(session_id)  # now, or already by an earlier attempt or by its admin
        if not _same(ticket["assignee"], batch.incoming):
            ticket = self._request(
                "PUT", f"{path}/assignee", on_behalf_of=batch.acting_as, json={"assignee": batch.incoming}
            )
        if (
            work.action is TicketAction.LABEL_WAITING_ON_CUSTOMER
            and WAITING_ON_CUSTOMER_LABEL not in ticket["labels"]
        ):
            self._request("PUT", f"{path}/labels/{WAITING_ON_CUSTOMER_LABEL}", on_behalf_of=batch.acting_as)
        if (
            work.action is TicketAction.LINK_ENGINEERING_ISSUE
            and work.engineering_issue
            and ticket["engineering_issue"] != work.engineering_issue
        ):
            self._request(
                "PUT",
                f"{path}/engineering-issue",
                on_behalf_of=batch.acting_as,
                json={"issue": work.engineering_issue},
            )
        return ItemResult(item_id=work.ticket_id, outcome=Outcome.HANDED_OVER, sessions_ended=ended)

    @activity.defn
    def end_sessions(self, request: EndSessions) -> list[str]:
        """Compromised outgoing: end these sessions of theirs (all that were open), whatever the ticket."""
        try:
            with Checkpoint() as checkpoint:
                query = {"admin": request.admin, "state": "open"}
                still_open = {s["id"] for s in self._pages("/impersonation-sessions", "sessions", query)}
                for session_id in request.session_ids:
                    if session_id in still_open and session_id not in checkpoint:
                        self._request(
                            "POST",
                            f"/impersonation-sessions/{session_id}/end",
                            on_behalf_of=request.acting_as,
                            json={"reason": f"on-call handover {request.handover_id}: {COMPROMISED}"},
                        )
                        checkpoint.record(session_id, True)
        except Refused as error:
            raise non_retryable(error) from None
        return request.session_ids

    @activity.defn
    def ticket_comments(self, ticket_ids: list[str]) -> list[TicketContext]:
        """Emergency digest: each ticket's comments, newest last."""
        return checkpointed(
            ticket_ids,
            key=lambda ticket_id: ticket_id,
            work=self._comments,
            result=TicketContext,
            at_once=self._settings.api_concurrency,
        )

    def _comments(self, ticket_id: str) -> TicketContext:
        try:
            ticket = self._request("GET", f"/tickets/{ticket_id}")
            comments = self._request("GET", f"/tickets/{ticket_id}/comments")["comments"]
        except Refused as error:
            entries = [DigestEntry(who="platform", text=f"comments unavailable: {error}")]
            return TicketContext(ticket_id=ticket_id, subject="", entries=entries)
        entries = [
            DigestEntry(at=c["at"], who=c["author"], text=c["body"]) for c in comments[-COMMENTS_PER_TICKET:]
        ]
        return TicketContext(ticket_id=ticket_id, subject=ticket["subject"], entries=entries)

    # --- step 4: transfer feature-flag rollouts in flight ------------------------------------

    @activity.defn
    def list_rollouts_in_flight(self, owner: str) -> list[Rollout]:
        """The owner's rollouts ramping or paused. The listing is checked, not trusted: one that is
        not theirs in flight comes back left alone, with the reason (never annotated or moved)."""
        states = [RolloutState.RAMPING.value, RolloutState.PAUSED.value]
        try:
            return [
                Rollout.model_validate({**_known(Rollout, r), "left_alone": _not_in_flight_of(r, owner)})
                for r in self._pages("/rollouts", "rollouts", {"state": states, "owner": owner})
            ]
        except Refused as error:
            raise non_retryable(error) from None

    @activity.defn
    def annotate_rollouts(self, batch: AnnotationBatch) -> list[ItemResult]:
        """Post outgoing's annotation on each rollout; the Idempotency-Key makes a repeat a no-op."""
        return checkpointed(
            batch.items,
            key=lambda work: work.rollout_id,
            work=lambda work: self._annotate(batch, work),
            result=ItemResult,
            at_once=self._settings.api_concurrency,
        )

    def _annotate(self, batch: AnnotationBatch, work: AnnotationWork) -> ItemResult:
        try:
            if batch.outgoing:
                rollout = self._request("GET", f"/rollouts/{work.rollout_id}")
                if not (_same(rollout["owner"], batch.outgoing) or _same(rollout["owner"], batch.incoming)):
                    return ItemResult(
                        item_id=work.rollout_id,
                        outcome=Outcome.SKIPPED,
                        detail=f"taken over by {rollout['owner']} meanwhile; left alone",
                    )
                if rollout["state"] not in (RolloutState.RAMPING.value, RolloutState.PAUSED.value):
                    return ItemResult(
                        item_id=work.rollout_id,
                        outcome=Outcome.SKIPPED,
                        detail=f"{rollout['state']} before it was annotated",
                    )
            annotation = self._request(
                "POST",
                f"/rollouts/{work.rollout_id}/annotations",
                on_behalf_of=batch.acting_as,
                headers={"Idempotency-Key": f"{batch.handover_id}/{work.rollout_id}"},
                json={**work.annotation.model_dump(mode="json"), "handover_id": batch.handover_id},
            )
        except Refused as error:
            return ItemResult(item_id=work.rollout_id, outcome=Outcome.FAILED, detail=str(error))
        return ItemResult(item_id=work.rollout_id, outcome=Outcome.HANDED_OVER, ref=annotation["id"])

    @activity.defn
    def transfer_rollout_ownership(self, batch: OwnershipBatch) -> list[ItemResult]:
        return checkpointed(
            batch.items,
            key=lambda work: work.rollout_id,
            work=lambda work: self._own(batch, work),
            result=ItemResult,
            at_once=self._settings.api_concurrency,
        )

    def _own(self, batch: OwnershipBatch, work: OwnershipWork) -> ItemResult:
        try:
            rollout = self._request("GET", f"/rollouts/{work.rollout_id}")
            if batch.outgoing and not (
                _same(rollout["owner"], batch.outgoing) or _same(rollout["owner"], batch.incoming)
            ):
                return ItemResult(
                    item_id=work.rollout_id,
                    outcome=Outcome.SKIPPED,
                    detail=f"annotated, but taken over by {rollout['owner']} meanwhile; left alone",
                )
            if not _same(rollout["owner"], batch.incoming):
                self._request(
                    "PUT",
                    f"/rollouts/{work.rollout_id}/owner",
                    on_behalf_of=batch.incoming,
                    json={"owner": batch.incoming, "annotation_id": work.annotation_id},
                )
        except Refused as error:
            return ItemResult(item_id=work.rollout_id, outcome=Outcome.FAILED, detail=str(error))
        return ItemResult(item_id=work.rollout_id, outcome=Outcome.HANDED_OVER)

    # --- step 6: audit check (offboarding) -----------------------------------------------------

    @activity.defn
    def audit_impersonation(self, query: AuditQuery) -> AuditResult:
        """Every session ended in step 3 has `platform.impersonation_ended` in the audit log.

        The log lags behind: while a session is missing this raises a retryable `AuditGap`, so the
        activity's retry policy bounds how long the lag is tolerated; the workflow reports what is
        still missing after the last attempt.
        """
        try:
            events = self._pages(
                "/audit-log", "events", {"event_type": IMPERSONATION_ENDED, "since": query.since.isoformat()}
            )
            found = {event["target"]["id"] for event in events}
        except Refused as error:
            raise non_retryable(error) from None
        missing = sorted(set(query.session_ids) - found)
        if missing:
            raise ApplicationError(
                f"platform_audit_log has no {IMPERSONATION_ENDED} yet for {', '.join(missing)}",
                missing,
                type="AuditGap",
                category=ApplicationErrorCategory.BENIGN,  # expected while the log lags
            )
        return AuditResult(
            checked_sessions=sorted(query.session_ids),
            missing_sessions=[],
            checked_at=datetime.now().astimezone(),
        )


def _same(email: str | None, other: str) -> bool:
    return (email or "").strip().lower() == other.strip().lower()


def _not_pinned_to(ticket: dict, assignee: str) -> str | None:
    """Why a listed ticket is not the admin's to hand over; None when it is."""
    if not _same(ticket.get("assignee"), assignee):
        return f"assigned to {ticket.get('assignee') or 'nobody'}, not the outgoing admin"
    if ticket.get("pinned") is not True:
        return "not pinned"
    if ticket.get("state") == "solved":
        return "solved: nothing to hand over"
    return None


def _not_in_flight_of(rollout: dict, owner: str) -> str | None:
    """Why a listed rollout is not the owner's in flight; None when it is."""
    if not _same(rollout.get("owner"), owner):
        return f"owned by {rollout.get('owner') or 'nobody'}, not the outgoing admin"
    if rollout.get("state") not in (RolloutState.RAMPING.value, RolloutState.PAUSED.value):
        return f"{rollout.get('state')}: not in flight"
    return None


def _known(model: type[Model], data: dict) -> dict:
    """Keep the fields the model knows: the platform may add fields without breaking us."""
    return {key: value for key, value in data.items() if key in model.model_fields}
