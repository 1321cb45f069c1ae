"""The sandbox app: PagerDuty, Slack and the platform API on one port, plus control routes.

    /pagerduty/...     PagerDuty REST API v2 (sandbox/pagerduty.py)
    /slack/api/...     Slack Web API (sandbox/slack.py)
    /platform/v1/...   Novalien platform API (sandbox/platform.py)
    /_sandbox/...      writes, reset, state, healthz (no auth: bind to 127.0.0.1)
    /_sandbox/slack/.. a person pressing buttons and submitting modals (sandbox/interactivity.py)

Every API request passes through `RequestGate`, which enforces per-token rate limits
(sandbox/limits.py), injects faults (sandbox/faults.py) and records writes in the store's write log.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import interactivity, pagerduty, platform, slack
from sandbox.faults import Fault, FaultPlan, Faults
from sandbox.limits import PAGERDUTY_PER_MINUTE, LimitPlan, Limits, Verdict, credential_of
from sandbox.state import SCENARIOS, Scenario, ScenarioError, Store, read_scenario_file, readable_body

Api = Literal["pagerduty", "slack", "platform"]
PREFIXES: dict[str, Api] = {
    pagerduty.PREFIX: "pagerduty",
    slack.PREFIX: "slack",
    platform.PREFIX: "platform",
}
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


def api_of(path: str) -> tuple[Api | None, str]:
    """Which API a request path belongs to, and the path within that API."""
    for prefix, api in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return api, path[len(prefix) :] or "/"
    return None, path


def is_write(api: Api, method: str, api_path: str) -> bool:
    if api == "slack":
        return api_path.strip("/") in slack.WRITE_METHODS
    return method in WRITE_VERBS


class RequestGate:
    """ASGI middleware that every request to the three APIs goes through.

    It buffers the request body, lets the API answer, and appends write requests (with their
    status, failed ones too) to the write log. Handlers add what they created or changed by
    setting `request.state.write_result`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api, api_path = api_of(scope["path"])
        if api is None:
            await self.app(scope, receive, send)
            return

        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        status = 500
        method = scope["method"]
        write = is_write(api, method, api_path)
        limits: Limits = scope["app"].state.limits
        verdict = limits.check(api, credential_of(_headers(scope), _form(api, raw)))
        if verdict is not None and not verdict.allowed:
            response = rate_limited_response(api, verdict)
            if write:
                self.record(scope, api, method, api_path, response.status_code, raw, "rate_limited")
            await response(scope, replay, send)
            return
        if limits.latency(api):
            await asyncio.sleep(limits.latency(api))
        faults: Faults = scope["app"].state.faults
        fault = faults.draw(api, method, api_path, write, raw)
        if fault is not None and fault.kind in ("error", "rate_limit", "drop"):
            # The API never sees the request.
            if fault.kind == "drop":
                status = 0
                if write:
                    self.record(scope, api, method, api_path, status, raw, fault.kind)
                await drop_connection(send)
                return
            response = fault_response(api, fault)
            if write:
                self.record(scope, api, method, api_path, response.status_code, raw, fault.kind)
            await response(scope, replay, send)
            return

        if fault is not None and fault.kind == "partial":
            raw = partial_body(raw, faults)
        elif fault is not None and fault.kind == "ignore_param":
            scope = {
                **scope,
                "query_string": without(scope.get("query_string", b""), fault.params),
            }
        delayed = fault is not None and fault.kind in ("slow", "lost_response")
        held: list[Message] = []

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if verdict is not None and api == "pagerduty":
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), *_ratelimit_headers(verdict)],
                    }
            if not delayed:
                await send(message)
            else:
                held.append(message)  # slow or lost: the caller hears late, or never

        scope.setdefault("state", {})
        try:
            await self.app(scope, replay, watch)
        finally:
            if write:
                self.record(scope, api, method, api_path, status, raw, fault.kind if fault else None)
        if fault is not None and fault.kind == "lost_response":
            await drop_connection(send)
        elif delayed:  # slow
            await asyncio.sleep(fault.delay)
            for message in held:
                await send(message)

    def record(
        self,
        scope: Scope,
        api: Api,
        method: str,
        api_path: str,
        status: int,
        raw: bytes,
        fault: str | None = None,
    ) -> None:
        store: Store = scope["app"].state.store
        headers = _headers(scope)
        body = readable_body(raw, headers.get("content-type", ""))
        if api == "pagerduty":
            actor = headers.get("from")
        elif api == "platform":
            actor = headers.get("on-behalf-of")
        else:
            actor = scope["state"].get("actor")  # set by sandbox/slack.py once the token is known
        result = scope["state"].get("write_result") or {}
        store.record_write(
            api=api,
            method=method,
            path=api_path,
            status=status,
            actor=actor,
            body=body,
            result=result,
            fault=fault,
        )


def partial_body(raw: bytes, faults: Faults) -> bytes:
    """A `partial` fault: the body of an incidents update as the API handles it, part dropped."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(body, dict) and isinstance(body.get("incidents"), list):
        body["incidents"] = faults.part_of(body["incidents"])
    elif isinstance(body, dict) and isinstance(body.get("incident"), dict):
        body["incident"] = {"type": body["incident"].get("type", "incident_reference")}
    return json.dumps(body).encode()


def without(query: bytes, names: list[str]) -> bytes:
    """An `ignore_param` fault: the query string without the parameters the API ignores."""
    kept = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k not in names]
    return urlencode(kept).encode("latin-1")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _form(api: str, raw: bytes) -> dict | None:
    """Slack also takes the token as a form field."""
    if api != "slack" or b"token=" not in raw:
        return None
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


def _ratelimit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", f"{verdict.reset_seconds:g}".encode()),
    ]


def rate_limited_response(api: str, verdict: Verdict) -> JSONResponse:
    """Over the token's rate limit: the API's own 429."""
    if api == "pagerduty":
        body = {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
        headers = {k.decode(): v.decode() for k, v in _ratelimit_headers(verdict)}
    elif api == "slack":
        body, headers = {"ok": False, "error": "ratelimited"}, {"Retry-After": f"{verdict.reset_seconds:g}"}
    else:
        body = {"error": {"code": "rate_limited", "message": "Too many requests; slow down."}}
        headers = {"Retry-After": f"{verdict.reset_seconds:g}"}
    return JSONResponse(body, status_code=429, headers=headers)


class DroppedConnection(ConnectionAbortedError):
    """Raised after a response has started: the server closes the connection mid-response."""


async def drop_connection(send: Send) -> None:
    """Start a response and abandon it: the client sees the connection close mid-response."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
    raise DroppedConnection("sandbox fault: the connection was dropped")


def fault_response(api: str, fault: Fault) -> JSONResponse:
    """A 500 or a 429 the way each API sends it."""
    if fault.kind == "rate_limit":
        return rate_limited_response(api, Verdict(False, PAGERDUTY_PER_MINUTE, 0, fault.retry_after))
    if api == "pagerduty":
        body = {"error": {"message": "Internal Server Error", "code": 2000}}
    elif api == "slack":
        body = {"ok": False, "error": "internal_error"}
    else:
        body = {"error": {"code": "internal", "message": "Something went wrong on our side."}}
    return JSONResponse(body, status_code=500)


# --- control routes ------------------------------------------------------------------------

control = APIRouter(prefix="/_sandbox")


@control.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    store: Store = request.app.state.store
    return {"ok": True, "scenario": store.state.scenario_name}


@control.get("/writes")
async def writes(request: Request, api: Api | None = None) -> dict[str, Any]:
    store: Store = request.app.state.store
    entries = [w for w in store.writes if api is None or w.api == api]
    return {"writes": [w.model_dump(mode="json") for w in entries]}


def _plan_routes(name: str, model: type[FaultPlan] | type[LimitPlan], noun: str, example: str) -> None:
    """GET (the plan and what it did), PUT (replace it) and DELETE (back to none) for one of the
    sandbox's plans, kept at `app.state.<name>`: the faults and the limits."""

    async def read(request: Request) -> dict[str, Any]:
        return getattr(request.app.state, name).report()

    async def replace(request: Request) -> JSONResponse:
        try:
            plan = model.model_validate_json(await request.body())
        except ValueError as error:
            return JSONResponse({"error": f"not a {noun}: {error}"}, status_code=400)
        getattr(request.app.state, name).set(plan)
        return JSONResponse(getattr(request.app.state, name).report())

    async def clear(request: Request) -> dict[str, Any]:
        getattr(request.app.state, name).set(model())
        return getattr(request.app.state, name).report()

    control.add_api_route(f"/{name}", read, methods=["GET"])
    control.add_api_route(
        f"/{name}", replace, methods=["PUT"], description=f"Replace the {noun}: `{example}`."
    )
    control.add_api_route(f"/{name}", clear, methods=["DELETE"])


_plan_routes(
    "faults", FaultPlan, "fault plan", '{"seed": 7, "faults": [{"kind": "error", "rate": 0.2, ...}]}'
)
_plan_routes("limits", LimitPlan, "limit plan", '{"rate_limits": [{"api": "pagerduty", "per_minute": 960}]}')


@control.get("/state")
async def state(request: Request) -> dict[str, Any]:
    store: Store = request.app.state.store
    return store.state.model_dump(mode="json")


def where_scenarios_live(started_with: str | Path | None) -> list[Path]:
    """The directories a reset may read scenario files from: the sandbox's own, and that of the
    file it was started with."""
    places = [SCENARIOS.resolve()]
    if started_with is not None:
        places.append(Path(started_with).resolve().parent)
    return list(dict.fromkeys(places))


def scenario_file(path: str, places: list[Path]) -> Path | None:
    """The file a reset names, symlinks and `..` resolved, if it is directly in one of `places` (not
    below: a sandbox started from the repository's root must not read `.data/`); else None (and the
    file is not opened: the control routes have no auth)."""
    try:
        resolved = Path(path).resolve()
    except ValueError:  # a NUL byte: no file has that name
        return None
    return resolved if resolved.parent in places else None


@control.post("/reset")
async def reset(request: Request) -> JSONResponse:
    """Back to the loaded scenario; or, given `{"scenario": "<path>"}` or a scenario, to that one.
    A path is read only from where scenarios live (`where_scenarios_live`)."""
    store: Store = request.app.state.store
    places: list[Path] = request.app.state.scenario_places
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        message = 'the body must be JSON: {}, {"scenario": "<path>"} or a scenario'
        return JSONResponse({"error": message}, status_code=400)
    try:
        if body is None or body == {}:
            store.reset()
        elif isinstance(body, dict) and set(body) == {"scenario"} and isinstance(body["scenario"], str):
            path = scenario_file(body["scenario"], places)
            if path is None:
                message = (
                    f"scenario files are read only from {' and '.join(map(str, places))} (the sandbox's "
                    "scenarios and the directory of the one it was started with): put the file there, "
                    "or send the scenario itself as the body"
                )
                return JSONResponse({"error": message}, status_code=403)
            store.load(read_scenario_file(path), source=body["scenario"])
        elif isinstance(body, dict):
            store.load(body, source="scenario in the reset request")
        else:
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    except ScenarioError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse({"ok": True, "scenario": store.state.scenario_name})


# --- errors in each API's own format -------------------------------------------------------


def _validation_problems(error: RequestValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in error.errors()]


async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    api, _ = api_of(request.url.path)
    problems = _validation_problems(error)
    if api == "pagerduty":
        return pagerduty.error_response(pagerduty.invalid(*problems))
    if api == "slack":
        return slack.failure("invalid_arguments")
    if api == "platform":
        return platform.error_response(platform.PlatformError(400, "invalid_request", "; ".join(problems)))
    return JSONResponse({"error": "; ".join(problems)}, status_code=400)


async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    api, _ = api_of(request.url.path)
    if api == "pagerduty":
        if error.status_code == 404:
            return pagerduty.error_response(pagerduty.not_found())
        return pagerduty.error_response(pagerduty.PagerDutyError(error.status_code, str(error.detail), 2000))
    if api == "slack":
        return slack.failure("unknown_method")
    if api == "platform":
        code = (
            "not_found"
            if error.status_code == 404
            else "method_not_allowed"
            if error.status_code == 405
            else "error"
        )
        return platform.error_response(platform.PlatformError(error.status_code, code, str(error.detail)))
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)


async def on_pagerduty_error(request: Request, error: pagerduty.PagerDutyError) -> JSONResponse:
    return pagerduty.error_response(error)


async def on_platform_error(request: Request, error: platform.PlatformError) -> JSONResponse:
    return platform.error_response(error)


def create_app(scenario: str | Path | Scenario | dict[str, Any]) -> FastAPI:
    """The sandbox for a scenario: a YAML path, raw scenario data, or a `Scenario`.

    Raises ScenarioError if the scenario cannot be used.
    """
    if isinstance(scenario, (str, Path)):
        store = Store(read_scenario_file(scenario), source=str(scenario))
    else:
        store = Store(scenario)
    app = FastAPI(title="oncall-handover sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.scenario_places = where_scenarios_live(scenario if isinstance(scenario, (str, Path)) else None)
    app.state.faults = Faults(store.scenario.faults)
    app.state.limits = Limits(store.scenario.limits or LimitPlan())
    app.include_router(pagerduty.router)
    app.include_router(slack.router)
    app.include_router(platform.router)
    app.include_router(control)
    app.include_router(interactivity.router)
    app.add_exception_handler(pagerduty.PagerDutyError, on_pagerduty_error)
    app.add_exception_handler(platform.PlatformError, on_platform_error)
    app.add_exception_handler(interactivity.Refused, interactivity.on_refused)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(RequestGate)
    return app
