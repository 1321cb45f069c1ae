"""Handovers over HTTP: start (service token), follow, and every person's input (their own token).

Inputs go to the workflow as Updates, so the caller hears at once whether they were accepted
(401/403/404/409/422 with a sentence to act on). If no worker answers within
HANDOVER_ENDPOINT_ANSWER_WITHIN seconds, the input is relayed as its Signal twin and the answer is
202: it is kept by the server and checked when a worker is back.
"""

from __future__ import annotations

import inspect
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
from handover.inputs import Declared, Giver
from handover.models import (
    ITEM_KINDS,
    HandoverProgress,
    HandoverReport,
    HandoverRequest,
    HumanInput,
    ReminderPolicy,
    Variant,
)

router = APIRouter(tags=["handovers"])

HandoverId = Annotated[
    str,
    Path(
        description="The handover's id (handover-<outgoing email>) or the outgoing admin's email.",
        pattern=r"^[A-Za-z0-9@._+#-]{1,260}$",
    ),
]
_NOUNS = [kind.noun for kind in ITEM_KINDS]
ItemId = Annotated[
    str,
    Path(
        description=f"An {', '.join(_NOUNS[:-1])} or {_NOUNS[-1]} id.",  # An incident, ticket or rollout id.
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
    ),
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
    """Someone who may not read the handover is told it does not exist, as for its reads.

    The Update goes first and readers are looked up only if it is refused: every input is the
    handover's people's to give (its check names them: either admin, the senior, the requester,
    each one of its readers), so an accepted one came from a reader, and the acknowledgement a
    person waits for takes one round trip to Temporal, not two. A refusal (not theirs to give, no
    such handover, ended) and a Signal (no worker answered) wait for the readers' check."""
    settings = request.app.state.settings
    workflow_id = handovers.handover_id(handover_id)

    async def readable() -> None:
        await _check_readable(request, handover_id, given.actor)

    try:
        accepted = await handovers.send(
            _client(request),
            workflow_id,
            declared,
            given,
            answer_within=timedelta(seconds=settings.endpoint_answer_within_seconds),
            before_signal=readable,
        )
    except UnknownHandover:
        raise  # (said alike to everyone, and what readable() says to whoever may not read it)
    except HandoverError:
        await readable()  # (raises "no handover" to whoever may not read it)
        raise
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


def _input_route(declared: Declared[Any]) -> None:
    """POST `declared.path`: a person's input, made from its declaration (handover/inputs.py): the
    body is what they write, the actor is who their token says (never a body field), the item is
    the route's. Who may give it is the workflow's check; the route only refuses service tokens
    where a person's own is needed."""
    who_may = caller if declared.given_by is Giver.REQUESTER_OR_EITHER else admin

    async def give(request: Request, handover_id: str, who: Caller, **written: Any) -> Any:
        body = written.pop("body", None)
        fields = {**written, **(body.model_dump() if body is not None else {})}
        return await _relay(request, handover_id, declared, declared.model(actor=who.actor, **fields))

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("handover_id", keyword, annotation=HandoverId),
    ]
    if declared.item_in_path:
        parameters.append(inspect.Parameter(declared.item_in_path, keyword, annotation=ItemId))
    if declared.body is not None:
        optional = all(not field.is_required() for field in declared.body.model_fields.values())
        parameters.append(
            inspect.Parameter(
                "body",
                keyword,
                annotation=declared.body | None if optional else declared.body,
                default=None if optional else inspect.Parameter.empty,
            )
        )
    parameters.append(inspect.Parameter("who", keyword, annotation=Caller, default=Depends(who_may)))
    give.__signature__ = inspect.Signature(parameters, return_annotation=Any)  # type: ignore[attr-defined]
    give.__name__ = give.__qualname__ = declared.name  # (the OpenAPI operation's id)
    give.declared = declared  # type: ignore[attr-defined]
    router.post(declared.path, summary=declared.summary, **INPUT)(give)


for _declared in inputs.INPUTS:
    _input_route(_declared)
