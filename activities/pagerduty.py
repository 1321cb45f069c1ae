"""PagerDuty REST v2: find admins, freeze assignments, hand over incidents.

Every write looks before it writes, so a retry or a crash mid-call never posts a second note,
override or reassignment. The official client is synchronous: these are sync activities, run on
the worker's thread pool.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory, CancelledError

from activities.checkpoint import Checkpoint, checkpointed, side_by_side
from activities.errors import Refused, alive, classify, non_retryable, seconds, unavailable, wrote
from handover import tracing
from handover.models import (
    Assignee,
    DigestEntry,
    Incident,
    IncidentContext,
    IncidentDraft,
    ItemResult,
    Model,
    OnCallCheck,
    Outcome,
    Override,
)
from handover.settings import Settings

if TYPE_CHECKING:
    import pagerduty

API = "PagerDuty"
PAGE = 100
"""Classic pagination's largest page."""
FEW = 5
"""Up to this many incidents are read one by one; more, in a listing of the user's open incidents
(an acknowledgement at a time would otherwise list an alert storm's thousands each time)."""
FEW_PAST_A_PAGE = 25
"""A batch's incidents missing from a listing's first page are read one by one, up to this many,
rather than the listing's other pages."""
OPEN_STATUSES = ["triggered", "acknowledged"]
BULK_LIMIT = 250
"""`PUT /incidents` updates at most 250 incidents per request (413 beyond)."""
SHIFT_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8))
"""`next_shift_change` reads these windows around its moment before the whole horizon."""


class PagerDutyUser(Model):
    id: str
    name: str
    email: str


class FreezeRequest(Model):
    user_id: str
    start: datetime
    end: datetime


class OnCallQuery(Model):
    user_id: str
    start: datetime
    end: datetime


class ShiftQuery(Model):
    """The next change of person on a schedule after `after`, looking `horizon` ahead (and as far
    back, for who was on call last)."""

    schedule_id: str
    after: datetime
    horizon: timedelta = timedelta(days=35)


class Schedule(Model):
    id: str
    name: str
    time_zone: str


class ShiftChange(Model):
    """Who hands over to whom, and when, on a schedule's final schedule (overrides applied)."""

    schedule_id: str
    at: datetime
    outgoing: PagerDutyUser | None
    """On call just before `at`; None if nobody was (a gap in the schedule)."""
    incoming: PagerDutyUser


def _timeline(shifts: Iterable[tuple[datetime, datetime, str]]) -> list[tuple[datetime, datetime, str]]:
    """Shifts in order, each once (an on-call is listed once per escalation level), a person's
    shifts that touch or overlap made one."""
    merged: list[tuple[datetime, datetime, str]] = []
    for start, end, user in sorted(set(shifts)):
        if end <= start:
            continue  # (nobody is on call for no time)
        if merged and merged[-1][2] == user and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end), user)
        else:
            merged.append((start, end, user))
    return merged


def _utc(moment: str) -> datetime:
    """A PagerDuty time (in the account's zone) in UTC: the same change reads the same everywhere
    (the autopilot keys its start by it)."""
    return datetime.fromisoformat(moment).astimezone(UTC)


def _person(user: dict[str, Any]) -> PagerDutyUser:
    return PagerDutyUser(id=user["id"], name=user.get("name") or user.get("summary", ""), email=user["email"])


class IncidentNote(Model):
    incident_id: str
    note: str
    note_id: str | None = None
    """The note is posted already (an incident assigned back to outgoing after its handover):
    only reassign it."""


class IncidentHandoverBatch(Model):
    from_email: str
    """The outgoing admin: PagerDuty records the note and the reassignment as theirs."""
    outgoing_id: str = ""
    """The outgoing admin's PagerDuty user, whose open incidents are listed before writing."""
    incoming_id: str
    items: list[IncidentNote]


class IncidentAckBatch(Model):
    from_email: str
    """The incoming admin, who acknowledged each reassignment explicitly."""
    incoming_id: str
    outgoing_id: str = ""
    """An incident back with the outgoing admin is not acknowledged: the re-scan hands it over again."""
    incident_ids: list[str]


@functools.cache
def _client_class() -> type[pagerduty.RestApiV2Client]:
    """Made when an activity first calls PagerDuty, so that a worker running only the workflows
    (HANDOVER_WORKER_RUNS=workflows) never loads the client (docs/bench.md, P4)."""
    import pagerduty

    class _Client(pagerduty.RestApiV2Client):
        """The official client, told not to retry: a 429 or a network error becomes a Temporal retry."""

        max_network_attempts = 0

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            headers = dict(kwargs.pop("headers", None) or {})
            with tracing.outbound(API, method.upper(), self.normalize_url(url), headers) as span:
                response = super().request(method, url, headers=headers, **kwargs)
                tracing.answered(span, response.status_code)
                return response

        def postprocess(self, response: Any, suffix: str | None = None) -> None:
            super().postprocess(response, suffix)
            if response.status_code == 429:
                # PagerDuty sends `ratelimit-reset` (seconds), not Retry-After.
                raise classify(API, 429, "rate limited", seconds(response.headers.get("ratelimit-reset")))

    return _Client


def _message(response: Any) -> str:
    try:
        error = response.json()["error"]
        details = error.get("errors") or []
        return "; ".join([str(error.get("message", ""))] + [str(d) for d in details])
    except Exception:
        return response.text[:200]


def _incident(data: dict, left_alone: str | None = None) -> Incident:
    service = data.get("service") or {}
    return Incident(
        id=data["id"],
        number=data.get("incident_number") or 0,
        title=data.get("title") or data.get("summary") or "",
        status=data["status"],
        urgency=data.get("urgency") or "high",
        service_id=service.get("id") or "",
        service_name=service.get("summary") or "",
        html_url=data.get("html_url") or "",
        created_at=data["created_at"],
        assignees=[
            Assignee(id=a["assignee"]["id"], name=a["assignee"].get("summary") or a["assignee"]["id"])
            for a in data.get("assignments") or []
        ],
        left_alone=left_alone,
    )


def _assignees(data: dict) -> list[str]:
    """The incident's assignees' ids, in PagerDuty's order, each once."""
    return list(dict.fromkeys(a["assignee"]["id"] for a in data.get("assignments") or []))


def _names(data: dict, ids: list[str]) -> list[str]:
    names = {
        a["assignee"]["id"]: a["assignee"].get("summary") or a["assignee"]["id"]
        for a in data.get("assignments") or []
    }
    return [names.get(i, i) for i in ids]


def _entry(result: ItemResult, write: bool, assignees: list[str] | None = None) -> list:
    """A checkpoint entry: the item's result so far, whether the bulk update must still write it,
    and (a reassignment) whom to assign it to."""
    return [result.model_dump(mode="json"), write, assignees or []]


def _handed_assignees(incident: dict, outgoing_id: str, incoming_id: str) -> list[str]:
    """Incoming takes the outgoing admin's place; everyone else who shares the incident stays
    (`assignments` replaces every assignee: PagerDuty drops whoever is not sent)."""
    if not outgoing_id:  # (a batch from before co-assignees were kept does not name outgoing)
        return [incoming_id]
    kept = [a for a in _assignees(incident) if a not in (outgoing_id, incoming_id)]
    return [incoming_id, *kept]


def _assignments(user_ids: list[str]) -> dict:
    """A reassignment: `assignments` replaces every assignee with these."""
    return {"assignments": [{"assignee": {"id": user, "type": "user_reference"}} for user in user_ids]}


def _assign_to(entry: list, incoming_id: str) -> list[str]:
    """Whom a checkpoint entry says to assign the incident to (entries of an attempt before
    co-assignees were kept name nobody: incoming alone)."""
    return (entry[2] if len(entry) > 2 else None) or [incoming_id]


def _needs_reassigning(incident: dict, outgoing_id: str, incoming_id: str) -> bool:
    assignees = _assignees(incident)
    return incident["status"] in OPEN_STATUSES and (outgoing_id in assignees or incoming_id not in assignees)


def _not_outgoings(incident: dict, outgoing_id: str, service_ids: list[str]) -> str | None:
    """Why a listed incident is not the outgoing admin's to hand over; None when it is. The
    listing is not trusted: whatever PagerDuty returns, only these are touched."""
    if incident.get("status") not in OPEN_STATUSES:
        return f"{incident.get('status')}: not open"
    service = (incident.get("service") or {}).get("id")
    if service not in service_ids:
        return f"on service {service}, not a platform-ops service"
    if outgoing_id not in _assignees(incident):
        names = ", ".join(_names(incident, _assignees(incident))) or "nobody"
        return f"assigned to {names}, not the outgoing admin"
    return None


def _on_it(incident: dict | None, outgoing_id: str) -> bool:
    """The incident is open and the outgoing admin is (still) on it."""
    return (
        incident is not None
        and incident.get("status") in OPEN_STATUSES
        and outgoing_id in _assignees(incident)
    )


def _moved_meanwhile(result: ItemResult, incident: dict, batch: IncidentHandoverBatch) -> ItemResult:
    """The outgoing admin came off the incident between its note and its reassignment: nothing
    is written over whoever moved it."""
    if not incident:
        return result
    if incident.get("status") not in OPEN_STATUSES:
        detail = f"{incident.get('status')} before it was reassigned (its note was posted)"
        return ItemResult(item_id=result.item_id, outcome=Outcome.SKIPPED, detail=detail)
    assignees = _assignees(incident)
    if batch.incoming_id in assignees:
        kept = _names(incident, [a for a in assignees if a != batch.incoming_id])
        return result.model_copy(update={"kept": kept})
    names = ", ".join(_names(incident, assignees)) or "nobody"
    detail = f"reassigned to {names} by someone else meanwhile (its note was posted); left alone"
    return ItemResult(item_id=result.item_id, outcome=Outcome.SKIPPED, detail=detail)


def _reassigned(incident: dict, outgoing_id: str, incoming_id: str) -> bool:
    """PagerDuty's answer shows the handover's reassignment: open, incoming on it, outgoing off."""
    return incident.get("status") in OPEN_STATUSES and not _needs_reassigning(
        incident, outgoing_id, incoming_id
    )


def _needs_acknowledging(incident: dict, incoming_id: str) -> bool:
    acknowledged_by = {a.get("acknowledger", {}).get("id") for a in incident.get("acknowledgements") or []}
    return incident["status"] in OPEN_STATUSES and (
        incident["status"] != "acknowledged" or incoming_id not in acknowledged_by
    )


class PagerDutyActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @functools.cached_property
    def _client(self) -> pagerduty.RestApiV2Client:
        settings = self._settings
        client = _client_class()(
            settings.pagerduty_api_token.get_secret_value(),
            base_url=settings.pagerduty_base_url,
            verify=settings.ssl_context(),
        )
        client.timeout = settings.http_timeout_seconds
        return client

    def _request(self, method: str, path: str, from_email: str | None = None, **kw: Any) -> Any:
        headers = {"From": from_email} if from_email else {}
        alive()
        import pagerduty  # (loaded with the client)

        try:
            response = self._client.request(method, path, headers=headers, **kw)
        except pagerduty.Error as error:
            if getattr(error, "response", None) is not None:
                raise classify(API, error.response.status_code, _message(error.response)) from None
            raise unavailable(API, str(error)) from None
        if not response.is_success:
            raise classify(API, response.status_code, _message(response))
        wrote(method)
        return response.json() if response.content else None

    def _list_all(
        self, path: str, key: str, params: dict, enough: Callable[[list[dict]], bool] | None = None
    ) -> list[dict]:
        """Every page of a classic-paginated listing: the first page says how many there are,
        the rest are read side by side (an alert storm is 20 pages of incidents). With `enough`,
        the first page alone when `enough(first page)` says so."""
        first = self._request("GET", path, params={**params, "limit": PAGE, "offset": 0, "total": "true"})
        found, total = list(first[key]), first.get("total") or 0
        if not first.get("more") or (enough is not None and enough(found)):
            return found
        offsets = list(range(PAGE, max(total, PAGE + 1), PAGE))
        pages: dict[int, list[dict]] = {}

        def read(offset: int) -> None:
            pages[offset] = self._request("GET", path, params={**params, "limit": PAGE, "offset": offset})[
                key
            ]

        side_by_side(offsets, read, self._settings.api_concurrency)
        for offset in offsets:
            found.extend(pages[offset])
        return list({item["id"]: item for item in found}.values())  # (one may move between pages)

    def _iter(self, path: str, params: dict) -> list[dict]:
        import pagerduty  # (loaded with the client)

        try:
            return list(self._client.iter_all(path, params=params))
        except pagerduty.HttpError as error:
            raise classify(API, error.response.status_code, _message(error.response)) from None
        except pagerduty.Error as error:
            raise unavailable(API, str(error)) from None

    # --- step 0: validate ------------------------------------------------------------------

    @activity.defn
    def find_pagerduty_user(self, email: str) -> PagerDutyUser | None:
        try:
            for user in self._iter("/users", {"query": email}):
                if user.get("email", "").lower() == email.lower():
                    return _person(user)
        except Refused as error:
            raise non_retryable(error) from None
        return None

    @activity.defn
    def find_service_identity(self) -> PagerDutyUser:
        """The service's own PagerDuty user (HANDOVER_SERVICE_EMAIL), for a compromised outgoing."""
        user = self.find_pagerduty_user(self._settings.service_email)
        if user is None:
            raise non_retryable(
                Refused(
                    API, 404, f"HANDOVER_SERVICE_EMAIL {self._settings.service_email} is no PagerDuty user"
                )
            )
        return user

    @activity.defn
    def get_incident(self, incident_id: str) -> Incident | None:
        try:
            return _incident(self._request("GET", f"/incidents/{incident_id}")["incident"])
        except Refused as error:
            if error.status in (400, 404):
                return None
            raise non_retryable(error) from None

    # --- mid-shift outage: wait for the major incident to leave triggered/acknowledged -------

    @activity.defn
    def wait_until_resolved(self, incident_id: str) -> str:
        """Watches the incident until it is no longer triggered or acknowledged; returns its status.

        One attempt reads it every HANDOVER_POLL_SECONDS, heartbeating, for HANDOVER_WATCH_SECONDS,
        then raises a retryable `StillOpen`: Temporal starts the next attempt after the workflow's
        interval. An outage of days costs no history (retries are not events), and the workflow
        cancels the watch when someone calls the outage mitigated first.
        """
        deadline = time.monotonic() + self._settings.watch_seconds
        while True:
            activity.heartbeat()
            try:
                status = self._request("GET", f"/incidents/{incident_id}")["incident"]["status"]
            except Refused as error:
                raise non_retryable(error) from None
            if status not in OPEN_STATUSES:
                return status
            if time.monotonic() >= deadline:
                raise ApplicationError(
                    f"{incident_id} is still {status}",
                    type="StillOpen",
                    category=ApplicationErrorCategory.BENIGN,  # expected: logged at DEBUG, not as a failure
                )
            if activity.wait_for_cancelled_sync(timeout=self._settings.poll_seconds):
                raise CancelledError(f"stopped watching {incident_id}")

    # --- step 1: freeze new assignments ----------------------------------------------------

    @activity.defn
    def check_on_call(self, query: OnCallQuery) -> OnCallCheck:
        """Routine rotation: is the user on call on the schedule at some point in the window?"""
        schedule = self._settings.pagerduty_schedule_id
        params = {
            "schedule_ids[]": [schedule],
            "user_ids[]": [query.user_id],
            "since": query.start.isoformat(),
            "until": query.end.isoformat(),
        }
        try:
            entries = self._iter("/oncalls", params)
        except Refused as error:
            raise non_retryable(error) from None
        on_call = any(entry["user"]["id"] == query.user_id for entry in entries)
        return OnCallCheck(schedule_id=schedule, on_call=on_call, start=query.start, end=query.end)

    @activity.defn
    def find_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule (`GET /schedules/{id}`), or None if PagerDuty has none by that id: the
        autopilot refuses to follow a schedule that is not there (`/oncalls` would list nobody)."""
        try:
            # (a minute of it: the schedule's entries are not wanted, only that it is there)
            now = datetime.now(UTC).replace(microsecond=0)
            window = {"since": now.isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}
            data = self._request("GET", f"/schedules/{schedule_id}", params=window)["schedule"]
        except Refused as error:
            if error.status == 404:
                return None
            raise non_retryable(error) from None
        return Schedule(
            id=data["id"], name=data.get("name") or data["id"], time_zone=data.get("time_zone") or "UTC"
        )

    @activity.defn
    def next_shift_change(self, query: ShiftQuery) -> ShiftChange | None:
        """The first moment after `query.after` when someone else goes on call on the schedule, as
        PagerDuty's final schedule has it (layers, restrictions and overrides applied; `GET
        /oncalls`); None if nobody else does within the horizon. The schedule is trusted for who
        and when: the people come with it, in full (`include[]=users`).

        Read in widening windows (an hour, a day, eight days, the horizon; as far back as ahead),
        so a rotation of short turns is not read 35 days at a time: a change found with someone on
        call before it is the answer; one after a gap is looked for again further back (the change
        is from whoever was on call last; a weekend-only rotation's is five days back). A layer
        that nobody was on before is read to the horizon: slow on a sandbox of second-long turns.
        """
        windows = sorted({min(span, query.horizon) for span in SHIFT_WINDOWS} | {query.horizon})
        for span in windows:
            change = self._shift_change_within(query, span)
            if change is not None and (change.outgoing is not None or span == query.horizon):
                return change
        return None

    def _shift_change_within(self, query: ShiftQuery, span: timedelta) -> ShiftChange | None:
        params = {
            "schedule_ids[]": [query.schedule_id],
            "since": (query.after - span).isoformat(),
            "until": (query.after + span).isoformat(),
            "include[]": ["users"],  # with their emails
        }
        try:
            entries = self._iter("/oncalls", params)
        except Refused as error:
            raise non_retryable(error) from None
        people = {e["user"]["id"]: _person(e["user"]) for e in entries}
        timeline = _timeline(
            (_utc(e["start"]), _utc(e["end"]), e["user"]["id"])
            for e in entries
            if e.get("start") and e.get("end")  # (a permanent on-call has neither: it never changes)
        )
        previous = None
        for shift in timeline:
            starts, _, user = shift
            if starts > query.after and (previous is None or previous[2] != user):
                return ShiftChange(
                    schedule_id=query.schedule_id,
                    at=starts,
                    outgoing=people[previous[2]] if previous is not None else None,
                    incoming=people[user],
                )
            previous = shift
        return None

    @activity.defn
    def freeze_assignments(self, request: FreezeRequest) -> Override:
        """Schedule override making incoming primary for the window; exactly one, ever, and this
        handover's own.

        PagerDuty has no idempotency key for overrides, and another handover to the same incoming
        admin may make one for a window a few seconds away. So an override is never adopted for
        its times alone: before writing, the overrides already in the window are noted (they are
        not ours); only a retry after an attempt that may have created one unheard looks again,
        and takes the new override of exactly this user, start and end that was not there before."""
        path = f"/schedules/{self._settings.pagerduty_schedule_id}/overrides"
        window = {"since": request.start.isoformat(), "until": request.end.isoformat(), "overflow": "true"}
        try:
            with Checkpoint() as checkpoint:
                if "before" in checkpoint:
                    if checkpoint.unsure("created"):
                        for found in self._ours(path, window, request, set(checkpoint["before"])):
                            activity.logger.info("override %s was created by an earlier attempt", found.id)
                            return found
                else:
                    listed = self._request("GET", path, params=window).get("overrides", [])
                    if checkpoint.unsure("created"):
                        # An earlier attempt crashed, perhaps after writing, and its note of what
                        # was there is lost: an override of exactly this window is taken as ours.
                        for found in self._ours(path, window, request, set(), listed):
                            activity.logger.info("override %s was created by an earlier attempt", found.id)
                            return found
                    checkpoint.record("before", sorted(o["id"] for o in listed), at_once=True)
                checkpoint.start("created")
                created = self._request(
                    "POST",
                    path,
                    json={
                        "overrides": [
                            {
                                "start": request.start.isoformat(),
                                "end": request.end.isoformat(),
                                "user": {"id": request.user_id, "type": "user_reference"},
                                "time_zone": "UTC",
                            }
                        ]
                    },
                )
                # The array form answers with a bare array of {status, override} items.
                item = created[0]
                if item.get("status") != 201 or "id" not in item.get("override", {}):
                    raise Refused(API, item.get("status", 400), str(item.get("errors")))
                override = _override(item["override"])
                checkpoint.record("created", override.id)
                return override
        except Refused as error:
            raise non_retryable(error) from None

    def _ours(
        self, path: str, window: dict, request: FreezeRequest, before: set[str], listed: list | None = None
    ) -> list[Override]:
        """Overrides an earlier attempt of this activity may have created: exactly this user and
        window, and not among those there before it wrote."""
        if listed is None:
            listed = self._request("GET", path, params=window).get("overrides", [])
        return [
            found
            for found in map(_override, listed)
            if found.id not in before
            and found.user_id == request.user_id
            and found.start == request.start
            and found.end == request.end
        ]

    # --- step 2: walk through open incidents -----------------------------------------------

    @activity.defn
    def list_open_incidents(self, user_id: str) -> list[Incident]:
        """Triggered and acknowledged incidents on the platform-ops services, assigned to the user.
        The listing is checked, not trusted: one that is not the user's comes back left alone,
        with the reason (the handover reports it and never touches it)."""
        services = self._settings.pagerduty_service_ids
        try:
            return [
                _incident(data, _not_outgoings(data, user_id, services))
                for data in self._open_incidents(user_id)
            ]
        except Refused as error:
            raise non_retryable(error) from None

    def _still_to_acknowledge(self, incident_ids: list[str], incoming_id: str) -> Callable[[str], bool]:
        """After an attempt that may have acknowledged unheard: which still need it, as PagerDuty
        has them now (a listing of incoming's open incidents when many, and a read of each one
        not in it; a read each when few). PagerDuty refuses to acknowledge a resolved one."""
        looked = self._as_now(incident_ids, incoming_id)
        return lambda incident_id: (
            incident_id not in looked or _needs_acknowledging(looked[incident_id], incoming_id)
        )

    def _open_incidents(
        self, user_id: str, statuses: list[str] = OPEN_STATUSES, among: list[str] | None = None
    ) -> list[dict]:
        """The user's incidents with `statuses` on the platform-ops services. `among` a batch's
        incidents: past a first page, the first page alone when at most FEW_PAST_A_PAGE of them are
        missing from it (the caller reads those: in an alert storm a batch of ten would otherwise
        list hundreds)."""
        params = {
            "statuses[]": statuses,
            "service_ids[]": self._settings.pagerduty_service_ids,
            "user_ids[]": [user_id],
            "sort_by": "created_at:asc",
            "date_range": "all",  # open incidents older than the default 30-day window too
        }
        enough = None
        if among is not None:
            wanted = set(among)

            def enough(page: list[dict]) -> bool:
                return len(wanted - {i["id"] for i in page}) <= FEW_PAST_A_PAGE

        return self._list_all("/incidents", "incidents", params, enough)

    @activity.defn
    def hand_over_incidents(self, batch: IncidentHandoverBatch) -> list[ItemResult]:
        """For each incident: post the status note (once), then reassign to incoming (once), in
        bulk. Notes are posted several at a time; PagerDuty has no bulk route for them.

        Each incident is looked at first (one listing of outgoing's open incidents, not a read
        each): one resolved meanwhile gets no note. A first attempt then posts the note straight
        away: the notes carry this handover's key, so none of ours can exist yet. A retry may
        follow an attempt whose writes went through unheard: it reads each incident's notes first."""
        with Checkpoint() as checkpoint:
            listed = {}
            if batch.outgoing_id and len(batch.items) > FEW:
                listed = {i["id"]: i for i in self._open_incidents(batch.outgoing_id)}
            checkpoint.each(
                batch.items,
                key=lambda item: item.incident_id,
                work=lambda item: _entry(
                    *self._note(
                        item, batch, listed.get(item.incident_id), checkpoint.unsure(item.incident_id)
                    )
                ),
                at_once=self._settings.api_concurrency,
            )
            to_reassign = [item.incident_id for item in batch.items if checkpoint[item.incident_id][1]]
            assign_to = {
                item.incident_id: _assign_to(checkpoint[item.incident_id], batch.incoming_id)
                for item in batch.items
            }
            moved: dict[str, dict] = {}
            kept: dict[str, list[str]] = {}
            now: dict[str, dict] = {}
            if batch.outgoing_id and to_reassign:
                # As PagerDuty has them just before the write, not as they were when the note went
                # out: `assignments` replaces every assignee, PagerDuty has no compare-and-set, and
                # another handover may share the incident (or someone took it meanwhile).
                now = self._as_now(to_reassign, batch.outgoing_id)
                # (One PagerDuty would not let us read is written as planned: the write says why not.)
                moved = {i: now[i] for i in to_reassign if i in now and not _on_it(now[i], batch.outgoing_id)}
                to_reassign = [i for i in to_reassign if i not in moved]
                fresh = [i for i in to_reassign if i in now]
                assign_to.update(
                    {i: _handed_assignees(now[i], batch.outgoing_id, batch.incoming_id) for i in fresh}
                )
                kept = {i: _names(now[i], assign_to[i][1:]) for i in fresh}

            failed = self._update_incidents(
                to_reassign,
                lambda incident_id: _assignments(assign_to[incident_id]),
                batch.from_email,
                checkpoint,
                still_needed=lambda: self._not_reassigned_yet(batch.outgoing_id, batch.incoming_id),
                applied=lambda incident: _reassigned(incident, batch.outgoing_id, batch.incoming_id),
            )
            if batch.outgoing_id:
                # Only a shared incident can be written over by another handover that read it
                # before us (it reassigns only what its own outgoing admin is on).
                shared = [i for i in to_reassign if i in now and len(_assignees(now[i])) > 1]
                if shared:
                    failed.update(self._put_back(shared, failed, batch))
        results = {
            item.incident_id: ItemResult.model_validate(checkpoint[item.incident_id][0])
            for item in batch.items
        }
        for incident_id, names in kept.items():
            results[incident_id].kept = names
        for incident_id, incident in moved.items():
            results[incident_id] = _moved_meanwhile(results[incident_id], incident, batch)
        for incident_id, error in failed.items():
            results[incident_id] = self._not_reassigned(incident_id, error)
        return list(results.values())

    def _as_now(self, incident_ids: list[str], user_id: str) -> dict[str, dict]:
        """The incidents as PagerDuty has them now: a read each when few; else one listing of the
        user's open incidents and a read of each one not in it (an alert storm's thousands read
        one by one would use up a rate limit). One PagerDuty will not let us read is left out."""
        now: dict[str, dict] = {}
        if len(incident_ids) > FEW:
            wanted = set(incident_ids)
            now = {i["id"]: i for i in self._open_incidents(user_id) if i["id"] in wanted}

        def read(incident_id: str) -> None:
            try:
                now[incident_id] = self._request("GET", f"/incidents/{incident_id}")["incident"]
            except Refused:
                pass  # the write will say what is wrong with it

        side_by_side([i for i in incident_ids if i not in now], read, self._settings.api_concurrency)
        return now

    def _put_back(
        self, written: list[str], failed: dict[str, str], batch: IncidentHandoverBatch
    ) -> dict[str, str]:
        """After the write, once more: an incident the outgoing admin is on again was written over
        by someone who read it before us (another handover sharing it). Reassigned again from
        what it is now, twice at most; what still fails is returned."""
        still: dict[str, str] = {}
        for rounds in range(3):
            wanted = {i for i in written if i not in failed}
            again = {i["id"]: i for i in self._open_incidents(batch.outgoing_id) if i["id"] in wanted}
            if not again:
                return still
            if rounds == 2:  # written over each time: say so rather than go on
                detail = "assigned back to the outgoing admin by another write each time it was reassigned"
                return {**still, **dict.fromkeys(again, detail)}
            activity.logger.info("%d incidents were written over after their reassignment", len(again))
            for incident_id, incident in again.items():
                change = _assignments(_handed_assignees(incident, batch.outgoing_id, batch.incoming_id))
                try:
                    self._request(
                        "PUT",
                        f"/incidents/{incident_id}",
                        from_email=batch.from_email,
                        json={"incident": {"type": "incident_reference", **change}},
                    )
                    still.pop(incident_id, None)
                except Refused as error:
                    still[incident_id] = str(error)
        return still

    def _note(
        self, item: IncidentNote, batch: IncidentHandoverBatch, incident: dict | None, unsure: bool
    ) -> tuple[ItemResult, bool] | tuple[ItemResult, bool, list[str]]:
        """The incident's status note, posted once; whether it still needs reassigning; and to
        whom (incoming in outgoing's place, co-assignees kept). `incident` is what the listing
        said (not in it, it is read). One that is no longer the outgoing admin's (taken by
        someone else meanwhile) is left alone: no note, no reassignment."""
        try:
            if incident is None:
                incident = self._request("GET", f"/incidents/{item.incident_id}")["incident"]
            if incident["status"] not in OPEN_STATUSES:
                detail = f"{incident['status']} before it was handed over"
                return ItemResult(item_id=item.incident_id, outcome=Outcome.SKIPPED, detail=detail), False
            assignees = _assignees(incident)
            if (
                batch.outgoing_id
                and batch.outgoing_id not in assignees
                and batch.incoming_id not in assignees
            ):
                names = ", ".join(_names(incident, assignees)) or "nobody"
                detail = f"reassigned to {names} by someone else meanwhile; left alone"
                return ItemResult(item_id=item.incident_id, outcome=Outcome.SKIPPED, detail=detail), False
            post = self._post_note_once if unsure else self._post_note
            note_id = item.note_id or post(item, batch.from_email)
        except Refused as error:
            return ItemResult(item_id=item.incident_id, outcome=Outcome.FAILED, detail=str(error)), False
        assign_to = _handed_assignees(incident, batch.outgoing_id, batch.incoming_id)
        kept = _names(incident, assign_to[1:])
        result = ItemResult(item_id=item.incident_id, outcome=Outcome.HANDED_OVER, ref=note_id, kept=kept)
        return result, _needs_reassigning(incident, batch.outgoing_id, batch.incoming_id), assign_to

    def _not_reassigned_yet(self, outgoing_id: str, incoming_id: str) -> Callable[[str], bool]:
        """Whether an incident still needs reassigning: it is not among incoming's open incidents
        with the outgoing admin off it (a resolved one is refused by the write, and reported)."""
        theirs = {
            i["id"]
            for i in self._open_incidents(incoming_id)
            if not _needs_reassigning(i, outgoing_id, incoming_id)
        }
        return lambda incident_id: incident_id not in theirs

    def _not_reassigned(self, incident_id: str, error: str) -> ItemResult:
        """PagerDuty refused the reassignment: resolved meanwhile (skipped), or failed."""
        try:
            status = self._request("GET", f"/incidents/{incident_id}")["incident"]["status"]
        except Refused:
            status = None
        if status is not None and status not in OPEN_STATUSES:
            detail = f"{status} before it was reassigned (its note was posted)"
            return ItemResult(item_id=incident_id, outcome=Outcome.SKIPPED, detail=detail)
        return ItemResult(
            item_id=incident_id, outcome=Outcome.FAILED, detail=f"note posted, reassign failed: {error}"
        )

    def _post_note_once(self, item: IncidentNote, from_email: str) -> str:
        notes = self._request("GET", f"/incidents/{item.incident_id}/notes")["notes"]
        for note in notes:
            if note.get("content") == item.note:
                return note["id"]
        return self._post_note(item, from_email)

    def _post_note(self, item: IncidentNote, from_email: str) -> str:
        created = self._request(
            "POST",
            f"/incidents/{item.incident_id}/notes",
            from_email=from_email,
            json={"note": {"content": item.note}},
        )
        return created["note"]["id"]

    def _update_incidents(
        self,
        incident_ids: list[str],
        change: Callable[[str], dict],
        from_email: str,
        checkpoint: Checkpoint,
        still_needed: Callable[[], Callable[[str], bool]],
        applied: Callable[[dict], bool],
    ) -> dict[str, str]:
        """Bulk `PUT /incidents`, at most 250 a request; returns the incidents that failed.
        `change(id)` is the change for one incident; `applied(incident)` tells from PagerDuty's
        answer whether it took.

        On a retry, a chunk not known to be done may have been written by the attempt that failed
        (its answer lost, or its checkpoint): only the incidents `still_needed()` says are still
        to change are written. It looks in a listing, not one read per incident, so that a retry
        costs a few requests, not one per incident: under a rate limit a retry that reads every
        incident again would use up the window before writing anything."""
        failed: dict[str, str] = {}
        needed: Callable[[str], bool] | None = None
        for start in range(0, len(incident_ids), BULK_LIMIT):
            chunk = incident_ids[start : start + BULK_LIMIT]
            done = f"updated {start}"
            if done not in checkpoint:
                if checkpoint.unsure(done):
                    needed = needed or still_needed()
                    chunk = [i for i in chunk if needed(i)]
                checkpoint.start(done)
                checkpoint.record(
                    done, self._update_chunk(chunk, change, from_email, applied) if chunk else {}
                )
            failed.update(checkpoint[done])
        return failed

    def _update_chunk(
        self,
        chunk: list[str],
        change: Callable[[str], dict],
        from_email: str,
        applied: Callable[[dict], bool],
    ) -> dict[str, str]:
        """One bulk update. PagerDuty answers with the incidents it changed: one missing from the
        answer, or shown unchanged, is not taken as done; it is written on its own, and if that
        answer does not show the change either, it failed."""
        body = {"incidents": [{"id": i, "type": "incident_reference", **change(i)} for i in chunk]}
        try:
            answer = self._request("PUT", "/incidents", from_email=from_email, json=body) or {}
            changed = {i["id"] for i in answer.get("incidents") or [] if applied(i)}
            alone = [i for i in chunk if i not in changed]
        except Refused:
            alone = chunk  # one bad incident refuses the whole request: find it, one at a time
        failed = {}
        for incident_id in alone:
            try:
                answer = (
                    self._request(
                        "PUT",
                        f"/incidents/{incident_id}",
                        from_email=from_email,
                        json={"incident": {"type": "incident_reference", **change(incident_id)}},
                    )
                    or {}
                )
            except Refused as error:
                failed[incident_id] = str(error)
                continue
            if not applied(answer.get("incident") or {"status": None}):
                shown = (answer.get("incident") or {}).get("status", "nothing")
                failed[incident_id] = f"PagerDuty answered but did not apply the change (it shows {shown})"
        return failed

    @activity.defn
    def acknowledge_incidents(self, batch: IncidentAckBatch) -> list[ItemResult]:
        """Mirror incoming's explicit acknowledgement into PagerDuty (once), in bulk.

        Always looks first, and in one listing: PagerDuty refuses to acknowledge a resolved
        incident, and incoming may have acknowledged some in PagerDuty already. The listing is of
        incoming's triggered incidents, the ones still to acknowledge: in an alert storm incoming
        holds hundreds acknowledged already, which each gathered batch would list again. One not in
        it (acknowledged, resolved, someone else's; or past its first page, see `_open_incidents`)
        is read."""
        with Checkpoint() as checkpoint:
            # Many are looked at in one listing; a few one by one, each read checkpointed with its
            # item (under failing requests a batch's reads must not be all or nothing).
            current = {}
            if len(batch.incident_ids) > FEW:
                listed = self._open_incidents(batch.incoming_id, ["triggered"], among=batch.incident_ids)
                current = {i["id"]: i for i in listed}
            checkpoint.each(
                batch.incident_ids,
                key=lambda incident_id: incident_id,
                work=lambda incident_id: _entry(
                    *self._acknowledgement(
                        incident_id, batch.incoming_id, current.get(incident_id), batch.outgoing_id
                    )
                ),
                at_once=self._settings.api_concurrency,
            )
            to_acknowledge = [i for i in batch.incident_ids if checkpoint[i][1]]
            failed = self._update_incidents(
                to_acknowledge,
                lambda _: {"status": "acknowledged"},
                batch.from_email,
                checkpoint,
                still_needed=lambda: self._still_to_acknowledge(to_acknowledge, batch.incoming_id),
                applied=lambda incident: (
                    incident.get("status") == "resolved"
                    or not _needs_acknowledging(incident, batch.incoming_id)
                ),
            )
        results = {i: ItemResult.model_validate(checkpoint[i][0]) for i in batch.incident_ids}
        for incident_id, error in failed.items():
            results[incident_id] = self._not_acknowledged(incident_id, error)
        return list(results.values())

    def _not_acknowledged(self, incident_id: str, error: str) -> ItemResult:
        """PagerDuty refused the acknowledgement: resolved meanwhile (it was handed over), or failed."""
        try:
            status = self._request("GET", f"/incidents/{incident_id}")["incident"]["status"]
        except Refused:
            status = None
        if status == "resolved":
            detail = "resolved before the acknowledgement reached PagerDuty"
            return ItemResult(item_id=incident_id, outcome=Outcome.HANDED_OVER, detail=detail)
        return ItemResult(
            item_id=incident_id,
            outcome=Outcome.FAILED,
            detail=f"reassigned, but acknowledging in PagerDuty failed: {error}",
        )

    def _acknowledgement(
        self, incident_id: str, incoming_id: str, incident: dict | None, outgoing_id: str = ""
    ) -> tuple[ItemResult, bool]:
        """The incident's outcome, and whether PagerDuty still needs incoming's acknowledgement.
        `incident` is what the listing of incoming's open incidents said; not in it, it is read."""
        try:
            if incident is None:
                incident = self._request("GET", f"/incidents/{incident_id}")["incident"]
        except Refused as error:
            return ItemResult(item_id=incident_id, outcome=Outcome.FAILED, detail=str(error)), False
        result = ItemResult(item_id=incident_id, outcome=Outcome.HANDED_OVER)
        if incident["status"] == "resolved":
            result.detail = "resolved before the acknowledgement reached PagerDuty"
        elif incoming_id not in _assignees(incident):
            # Not incoming's any more: acknowledging it as incoming would silence its assignee.
            if outgoing_id and outgoing_id in _assignees(incident):
                result.detail = "back with the outgoing admin before the acknowledgement"
                return result, False  # (the re-scan before the summary hands it over again)
            names = ", ".join(_names(incident, _assignees(incident))) or "nobody"
            detail = f"reassigned to {names} by someone else before the acknowledgement; left alone"
            return ItemResult(item_id=incident_id, outcome=Outcome.SKIPPED, detail=detail), False
        return result, _needs_acknowledging(incident, incoming_id)

    # --- emergency: context for incoming ------------------------------------------------------

    @activity.defn
    def incident_history(self, incident_ids: list[str]) -> list[IncidentContext]:
        """Each incident's notes and newest log entries: what incoming reads instead of a status."""
        return checkpointed(
            incident_ids,
            key=lambda incident_id: incident_id,
            work=self._history,
            result=IncidentContext,
            at_once=self._settings.api_concurrency,
        )

    def _history(self, incident_id: str) -> IncidentContext:
        try:
            incident = self._request("GET", f"/incidents/{incident_id}")["incident"]
            notes = self._request("GET", f"/incidents/{incident_id}/notes")["notes"]
            log = self._request(
                "GET", f"/incidents/{incident_id}/log_entries", params={"limit": HISTORY_PER_INCIDENT}
            )["log_entries"]
        except Refused as error:
            return IncidentContext(
                incident_id=incident_id,
                title="",
                entries=[DigestEntry(who="PagerDuty", text=f"history unavailable: {error}")],
            )
        entries = [
            DigestEntry(at=n["created_at"], who=(n.get("user") or {}).get("summary", "?"), text=n["content"])
            for n in notes
        ] + [
            DigestEntry(
                at=e["created_at"],
                who=(e.get("agent") or {}).get("summary", "PagerDuty"),
                text=e["summary"],
            )
            for e in log
            if e.get("type") != "annotate_log_entry"  # the notes above, already
        ]
        entries.sort(key=lambda entry: entry.at)
        return IncidentContext(
            incident_id=incident_id, title=incident.get("title", ""), entries=entries[-HISTORY_PER_INCIDENT:]
        )

    # --- the status form's draft ------------------------------------------------------------------

    @activity.defn
    def latest_notes(self, incident_ids: list[str]) -> list[IncidentDraft]:
        """Each incident's newest note: the draft of its status paragraph's last action. Reads only;
        an incident PagerDuty will not show has no draft (the form starts blank for it)."""
        return checkpointed(
            incident_ids,
            key=lambda incident_id: incident_id,
            work=self._latest_note,
            result=IncidentDraft,
            at_once=self._settings.api_concurrency,
        )

    def _latest_note(self, incident_id: str) -> IncidentDraft:
        try:
            notes = self._request("GET", f"/incidents/{incident_id}/notes")["notes"]
        except Refused:
            return IncidentDraft(incident_id=incident_id)
        written = [note for note in notes if (note.get("content") or "").strip()]
        if not written:
            return IncidentDraft(incident_id=incident_id)
        newest = max(written, key=lambda note: note.get("created_at") or "")
        return IncidentDraft(
            incident_id=incident_id, note=" ".join(newest["content"].split())[:DRAFT_CHARACTERS]
        )


DRAFT_CHARACTERS = 500
"""A draft's length at most (drafts live in the handover's progress: a few hundred KB in all)."""
HISTORY_PER_INCIDENT = 12
"""Emergency digest: the newest notes and log entries per incident."""


def _override(data: dict) -> Override:
    return Override(id=data["id"], user_id=data["user"]["id"], start=data["start"], end=data["end"])
