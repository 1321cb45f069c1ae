"""A schedule's autopilot over HTTP (handover/autopilot.py): its status, to any token (each
change's details to its two admins and observers), and the
steers people give it (pause, resume, skip-next) with an admin's or a service's token; observers
(HANDOVER_OBSERVERS) read and do not steer, as they give handovers no input. The steer is recorded
as the token says: the admin's email, or `service:<name>`; the body says why.

Turning an autopilot on stays with `starter.py autopilot start`: it runs with the worker's
settings for that team's schedule, an operator's act, not a pipeline's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from endpoint.auth import Caller, caller
from endpoint.handovers import Body, Problem
from handover import autopilot
from handover.models import AutopilotStatus, Steer, SteerAction

router = APIRouter(prefix="/autopilots", tags=["autopilots"])

ScheduleId = Annotated[
    str,
    Path(
        description="The PagerDuty schedule's id (the end of its page's address).",
        pattern=r"^[A-Z0-9]{1,32}$",
    ),
]


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an unknown one."},
    403: {"model": Problem, "description": "An observer's token: observers read, they do not steer."},
    404: {"model": Problem, "description": "The schedule's autopilot is not on."},
    422: {"model": Problem, "description": "Malformed input (a steer says why)."},
    503: {"model": Problem, "description": "Temporal cannot be reached, or no worker answers."},
}


class SteerBody(Body):
    why: str = Field(min_length=1, max_length=500, description="Why, in a sentence: recorded and shown")


class Autopilot(BaseModel):
    autopilot: str
    schedule: str
    next: str
    """What it does next, in a line (or why it does not answer)."""


@router.get("", response_model=list[Autopilot], responses=ERRORS, summary="The autopilots that are on")
async def every(request: Request, who: Caller = Depends(caller)) -> list[dict]:
    return await autopilot.every(request.app.state.client)


@router.get(
    "/{schedule_id}",
    response_model=AutopilotStatus,
    responses=ERRORS,
    summary="A schedule's autopilot: the next change, who hands to whom, when the handover starts",
)
async def status(request: Request, schedule_id: ScheduleId, who: Caller = Depends(caller)) -> AutopilotStatus:
    """Each change handled is told in full to its two admins and to observers; to anyone else,
    only whether a handover was started (what stood in its way could be someone's handover,
    which is not theirs to know: docs/threat-model.md)."""
    return _seen_by(request, who, await autopilot.status(request.app.state.client, schedule_id))


def _seen_by(request: Request, who: Caller, status: AutopilotStatus) -> AutopilotStatus:
    if request.app.state.access.is_observer(who.actor):
        return status
    history = [
        record
        if who.actor in (record.boundary.outgoing, record.boundary.incoming)
        else record.model_copy(
            update={"handover_id": None, "detail": "started" if record.started else "not started"}
        )
        for record in status.history
    ]
    return status.model_copy(update={"history": history})


def _steer_route(action: SteerAction, summary: str) -> None:
    async def steer(
        request: Request, schedule_id: ScheduleId, body: SteerBody, who: Caller = Depends(caller)
    ) -> AutopilotStatus:
        if request.app.state.access.is_observer(who.actor):
            raise HTTPException(
                403, "Observers read the autopilot; steering it takes an admin's or a service's token."
            )
        given = Steer(by=who.actor, why=body.why)
        return _seen_by(
            request, who, await autopilot.steer(request.app.state.client, schedule_id, action, given)
        )

    steer.__name__ = action.value.replace("-", "_")
    router.post(
        f"/{{schedule_id}}/{action.value}",
        response_model=AutopilotStatus,
        responses={**ERRORS, 409: {"model": Problem, "description": "Makes no sense now (paused already)."}},
        summary=summary,
    )(steer)


_steer_route(SteerAction.PAUSE, "Pause: no handover starts until resumed (admin or service token)")
_steer_route(SteerAction.RESUME, "Resume: not paused, no change skipped (admin or service token)")
_steer_route(SteerAction.SKIP_NEXT, "Skip the next change: it starts no handover (admin or service token)")
