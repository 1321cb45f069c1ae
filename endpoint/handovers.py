"""Handovers over HTTP: start (service token), follow, and every person's input (their own token).

Inputs go to the workflow as Updates, so the caller hears at once whether they were accepted
(401/403/404/409/422 with a sentence to act on). If no worker answers within
HANDOVER_ENDPOINT_ANSWER_WITHIN seconds, the input is relayed as its Signal twin and the answer is
202: it is kept by the server and checked when a worker is back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from endpoint.auth import Caller, admin, caller, service
from handover import inputs
from handover import service as handovers
from handover.access import Access
from handover.errors import AlreadyDone, AlreadyRunning, HandoverError, NotReady, NoWorker, UnknownHandover
from handover.inputs import Declared
from handover.models import (
    AllItemsInput,
    CancelInput,
    EngineeringIssue,
    EngineeringLinkInput,
    HandoverProgress,
    HandoverReport,
    HandoverRequest,
    HumanInput,
    IncidentAckInput,
    IncidentStatusInput,
    MitigatedInput,
    Paragraph,
    ReminderPolicy,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    SlackTs,
    SummaryAckInput,
    UnclearThreadInput,
    Variant,
    WrittenAnnotation,
    WrittenStatus,
)

router = APIRouter(tags=["handovers"])

HandoverId = Annotated[
    str,
    Path(
        description="The handover's id (handover-<outgoing email>) or the outgoing admin's email.",
        pattern=r"^[A-Za-z0-9@._+#-]{1,260}$",
    ),
]
ItemId = Annotated[
    str, Path(description="An incident, ticket or rollout id.", pattern=r"^[A-Za-z0-9._:-]{1,64}$")
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartHandover(Body):
    outgoing: str
    incoming: str
    variant: Variant = Variant.PLANNED
    offboarding: bool = False
    reason: str | None = Field(default=None, max_length=500)
    overlap: timedelta | None = Field(
        default=None, description="ISO 8601 duration, e.g. PT2H (default 2 hours)"
    )
    senior: str | None = None
    major_incident: str | None = None
    reminders: ReminderPolicy | None = None
    demo: bool = Field(
        default=False, description="The demo scenario only: allows an overlap under the planned 2 hours"
    )
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=200)


class Started(BaseModel):
    id: str
    status_url: str
    report_url: str


class Conflict(BaseModel):
    detail: str
    running_id: str | None = None


class InputResult(BaseModel):
    status: Literal["accepted", "queued"]
    message: str


class Problem(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read (it must be UTF-8 JSON)."},
    401: {"model": Problem, "description": "No token, or an unknown one."},
    403: {"model": Problem, "description": "Not this person's input (or not a service token)."},
    404: {"model": Problem, "description": "No such handover, or no such item in it."},
    409: {"model": Problem, "description": "Given already, too early, or the handover has ended."},
    422: {"model": Problem, "description": "Malformed input."},
    503: {"model": Problem, "description": "Temporal cannot be reached, or no worker answers."},
}


class MyHandover(BaseModel):
    id: str
    phase: str
    outgoing: str
    incoming: str
    variant: str
    role: Literal["outgoing", "incoming", "observer"]
    ended_at: datetime | None = None


class Me(BaseModel):
    actor: str
    kind: Literal["admin", "service"]
    handovers: list[MyHandover]
    """Running."""
    ended: list[MyHandover] = Field(
        default=[], description="Ended (their reports can be read), newest first, at most 20"
    )


ENDED_LISTED = 20
"""`/me`: the ended handovers listed, newest first."""


def _client(request: Request):
    return request.app.state.client


def _access(request: Request) -> Access:
    return request.app.state.access


async def _readable(request: Request, item: dict, who: Caller) -> bool:
    return await _access(request).may_read_run(_client(request), item["id"], item["run_id"], who.actor)


async def _check_readable(request: Request, handover_id: str, actor: str) -> str:
    """The handover's workflow id, if `actor` may read it; else 404, as for an unknown id."""
    workflow_id = handovers.handover_id(handover_id)
    await _access(request).check_readable(_client(request), workflow_id, actor)
    return workflow_id


@router.get(
    "/me",
    response_model=Me,
    responses=ERRORS,
    summary="Who the token is, their running handovers and those that have ended",
)
async def me(request: Request, who: Caller = Depends(caller)) -> Me:
    """An admin's handovers are those they hand over or take; an observer's, every one; a
    service's, those it requested."""
    client, access = _client(request), _access(request)
    observer = access.is_observer(who.actor)
    involving = who.name if who.kind == "admin" and not observer else None
    filtered = who.kind == "service" and not observer  # visibility cannot say who requested one
    running = await handovers.running(client, involving=involving)
    ended = await handovers.ended(client, involving=involving, limit=ENDED_LISTED * (10 if filtered else 1))
    if filtered:
        running = [item for item in running if await _readable(request, item, who)]
        ended = [item for item in ended if await _readable(request, item, who)]
    # An ended run listed only if its id still names it: a newer run may not be theirs (a 404).
    latest = await handovers.latest_runs(client, [item["id"] for item in ended])
    ended = [item for item in ended if latest.get(item["id"]) == item["run_id"]][:ENDED_LISTED]

    def listed(item: dict) -> MyHandover:
        role = (
            "outgoing"
            if item["outgoing"] == who.name
            else "incoming"
            if item["incoming"] == who.name
            else "observer"
        )
        fields = ("id", "phase", "outgoing", "incoming", "variant")
        return MyHandover(**{key: item[key] for key in fields}, role=role, ended_at=item.get("ended_at"))

    live = {item["id"] for item in running}  # a handover id names its latest run
    return Me(
        actor=who.actor,
        kind=who.kind,  # type: ignore[arg-type]
        handovers=[listed(item) for item in running],
        ended=[listed(item) for item in ended if item["id"] not in live],
    )


@router.post(
    "/handovers",
    status_code=201,
    response_model=Started,
    responses={
        **ERRORS,
        403: {
            "model": Problem,
            "description": "Not a service token, or an admin who is not a platform admin.",
        },
        409: {"model": Conflict, "description": "A handover for this admin is running already."},
        422: {
            "model": Problem,
            "description": "Malformed input, or an admin PagerDuty or Slack does not know.",
        },
        424: {
            "model": Problem,
            "description": "The service's Slack access is not what a handover needs (bot not in the "
            "channel, a scope missing, the channel archived): the sentence says what to fix.",
        },
    },
    summary="Start a handover (service token)",
)
async def start(
    request: Request,
    body: StartHandover,
    who: Caller = Depends(service),
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=8, max_length=200)
    ] = None,
) -> Any:
    """Starts a handover and waits for its step 0 (at most HANDOVER_ENDPOINT_ANSWER_WITHIN
    seconds): a refusal is answered with its own status and a sentence, and nothing was written;
    `201` once step 0 passed, or while it still runs when the wait is up (no worker yet, say)."""
    fields = body.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    handover_request = HandoverRequest(**fields, requested_by=who.actor)
    key = idempotency_key or body.idempotency_key
    settings = request.app.state.settings
    handovers.check_demo(handover_request, settings.uses_sandbox)
    try:
        handle = await handovers.start(
            _client(request), settings.task_queue, handover_request, idempotency_key=key
        )
    except AlreadyRunning as error:
        return JSONResponse(
            status_code=409,
            content={"detail": error.message, "running_id": handovers.handover_id(body.outgoing)},
        )
    # Step 0 takes a second or two: a refusal is answered here, with its own status, rather than
    # found later by whoever reads the handover.
    within = timedelta(seconds=settings.endpoint_answer_within_seconds)
    refusal = await handovers.refused_at_step_0(_client(request), handle.id, within)
    if refusal is not None:
        raise refusal
    return Started(
        id=handle.id, status_url=f"/handovers/{handle.id}", report_url=f"/handovers/{handle.id}/report"
    )


@router.get(
    "/handovers/{handover_id}",
    response_model=HandoverProgress,
    responses=ERRORS,
    summary="A handover's progress",
)
async def progress(
    request: Request, handover_id: HandoverId, who: Caller = Depends(caller)
) -> HandoverProgress:
    """To the handover's people and the deployment's observers; 404 to anyone else."""
    workflow_id = await _check_readable(request, handover_id, who.actor)
    try:
        return await handovers.progress(_client(request), workflow_id)
    except (UnknownHandover, NoWorker):
        raise
    except HandoverError as error:  # refused at step 0: say so, it is not the reader's fault
        raise AlreadyDone(f"handover {workflow_id} ended (failed): {error.message}") from None


@router.get(
    "/handovers/{handover_id}/report",
    response_model=HandoverReport,
    responses=ERRORS,
    summary="The report, once the handover has ended",
)
async def report(request: Request, handover_id: HandoverId, who: Caller = Depends(caller)) -> HandoverReport:
    """To the handover's people and the deployment's observers; 404 to anyone else."""
    workflow_id = await _check_readable(request, handover_id, who.actor)
    try:
        return await handovers.report(_client(request), workflow_id, wait=False)
    except (UnknownHandover, NoWorker, NotReady):
        raise
    except HandoverError as error:
        raise AlreadyDone(f"handover {workflow_id} ended (failed): {error.message}") from None


async def _relay(request: Request, handover_id: str, declared: Declared[Any], given: HumanInput) -> Any:
    """Someone who may not read the handover is told it does not exist, as for its reads."""
    settings = request.app.state.settings
    workflow_id = await _check_readable(request, handover_id, given.actor)
    accepted = await handovers.send(
        _client(request),
        workflow_id,
        declared,
        given,
        answer_within=timedelta(seconds=settings.endpoint_answer_within_seconds),
    )
    if accepted is None:
        return JSONResponse(
            status_code=202,
            content=InputResult(
                status="queued",
                message="no worker answered in time: the input is kept and checked when one is back",
            ).model_dump(),
        )
    return InputResult(status="accepted", message=accepted.message)


INPUT = dict(response_model=InputResult, responses={**ERRORS, 202: {"model": InputResult}})


@router.post(inputs.STATUS.path, summary="Outgoing: status paragraph", **INPUT)
async def submit_status(
    request: Request,
    handover_id: HandoverId,
    incident_id: ItemId,
    body: WrittenStatus,
    who: Caller = Depends(admin),
) -> Any:
    given = IncidentStatusInput(actor=who.name, incident_id=incident_id, **body.model_dump())
    return await _relay(request, handover_id, inputs.STATUS, given)


@router.post(inputs.INCIDENT_ACK.path, summary="Incoming: acknowledge", **INPUT)
async def acknowledge_incident(
    request: Request, handover_id: HandoverId, incident_id: ItemId, who: Caller = Depends(admin)
) -> Any:
    given = IncidentAckInput(actor=who.name, incident_id=incident_id)
    return await _relay(request, handover_id, inputs.INCIDENT_ACK, given)


@router.post(
    inputs.ALL_INCIDENTS_ACK.path,
    summary="Incoming: acknowledge every incident ready for it (an alert storm, in one input)",
    **INPUT,
)
async def acknowledge_all_incidents(
    request: Request, handover_id: HandoverId, who: Caller = Depends(admin)
) -> Any:
    return await _relay(request, handover_id, inputs.ALL_INCIDENTS_ACK, AllItemsInput(actor=who.name))


class EngineeringLink(Body):
    issue: EngineeringIssue = Field(description="URL or key, e.g. ENG-1234")


@router.post(
    inputs.ENGINEERING_LINK.path,
    summary="Outgoing: engineering issue",
    **INPUT,
)
async def link_engineering_issue(
    request: Request,
    handover_id: HandoverId,
    ticket_id: ItemId,
    body: EngineeringLink,
    who: Caller = Depends(admin),
) -> Any:
    given = EngineeringLinkInput(actor=who.name, ticket_id=ticket_id, issue=body.issue)
    return await _relay(request, handover_id, inputs.ENGINEERING_LINK, given)


@router.post(inputs.ROLLOUT_ANNOTATION.path, summary="Outgoing: annotation", **INPUT)
async def annotate_rollout(
    request: Request,
    handover_id: HandoverId,
    rollout_id: ItemId,
    body: WrittenAnnotation,
    who: Caller = Depends(admin),
) -> Any:
    given = RolloutAnnotationInput(actor=who.name, rollout_id=rollout_id, **body.model_dump())
    return await _relay(request, handover_id, inputs.ROLLOUT_ANNOTATION, given)


@router.post(inputs.ROLLOUT_OWNERSHIP.path, summary="Incoming: ownership", **INPUT)
async def take_rollout_ownership(
    request: Request, handover_id: HandoverId, rollout_id: ItemId, who: Caller = Depends(admin)
) -> Any:
    given = RolloutOwnershipInput(actor=who.name, rollout_id=rollout_id)
    return await _relay(request, handover_id, inputs.ROLLOUT_OWNERSHIP, given)


@router.post(
    inputs.ALL_ROLLOUTS_OWNERSHIP.path,
    summary="Incoming: take ownership of every annotated rollout, in one input",
    **INPUT,
)
async def take_all_rollouts(request: Request, handover_id: HandoverId, who: Caller = Depends(admin)) -> Any:
    return await _relay(request, handover_id, inputs.ALL_ROLLOUTS_OWNERSHIP, AllItemsInput(actor=who.name))


@router.post(inputs.SUMMARY_ACK.path, summary="Incoming: the summary's :+1:", **INPUT)
async def acknowledge_summary(request: Request, handover_id: HandoverId, who: Caller = Depends(admin)) -> Any:
    return await _relay(request, handover_id, inputs.SUMMARY_ACK, SummaryAckInput(actor=who.name))


class Mitigated(Body):
    note: str | None = Field(default=None, max_length=2000)


@router.post(inputs.MITIGATED.path, summary="Mid-shift: the outage is mitigated", **INPUT)
async def declare_mitigated(
    request: Request, handover_id: HandoverId, body: Mitigated | None = None, who: Caller = Depends(admin)
) -> Any:
    given = MitigatedInput(actor=who.name, note=body.note if body else None)
    return await _relay(request, handover_id, inputs.MITIGATED, given)


class UnclearThread(Body):
    thread_ts: SlackTs = Field(description="The Slack thread's timestamp")
    question: Paragraph


@router.post(inputs.UNCLEAR_THREAD.path, summary="Incoming: ask for a catch-up", **INPUT)
async def flag_unclear_thread(
    request: Request, handover_id: HandoverId, body: UnclearThread, who: Caller = Depends(admin)
) -> Any:
    given = UnclearThreadInput(actor=who.name, thread_ts=body.thread_ts, question=body.question)
    return await _relay(request, handover_id, inputs.UNCLEAR_THREAD, given)


class Cancel(Body):
    reason: Paragraph


@router.post(inputs.CANCEL.path, summary="Requester or either admin: cancel", **INPUT)
async def cancel(
    request: Request, handover_id: HandoverId, body: Cancel, who: Caller = Depends(caller)
) -> Any:
    return await _relay(request, handover_id, inputs.CANCEL, CancelInput(actor=who.actor, reason=body.reason))
