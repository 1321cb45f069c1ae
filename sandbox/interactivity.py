"""A person pressing the app's buttons and submitting its modals, and Slack telling the app.

Slack sends an app each interaction to the app's Request URL: a POST, form-encoded
`payload=<json>`, signed with the app's signing secret (`X-Slack-Request-Timestamp`, and
`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`). Each interaction carries a
trigger_id (one views.open, within three seconds: sandbox/slack.py); a button press also carries a
response_url (five answers within thirty minutes). These control routes play the person and Slack:

    PUT|GET|DELETE /_sandbox/slack/app     the app's Request URL and signing secret (kept by a reset)
    POST /_sandbox/slack/press             someone presses a button of a message: block_actions
    POST /_sandbox/slack/submit            someone submits an open modal: view_submission
    POST /_sandbox/slack/responses/{token} a response_url, for the app
    GET  /_sandbox/slack/views?user=       the modals open on someone's screen
    GET  /_sandbox/slack/ephemeral?user=   what the app showed someone alone

A press or a submit awaits the app's answer while the app may call the sandbox (views.open, a
response_url): nothing is half changed across that await, and the answer is applied to the state
as it is when the answer comes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from sandbox.slack import (
    SlackError,
    checked_view,
    elements_of,
    find_message,
    message_content,
    new_message,
    new_trigger,
    render,
    replace_view,
    truthy,
    update_message,
    with_ids,
)
from sandbox.state import (
    Channel,
    Ephemeral,
    Message,
    OpenView,
    ResponseUrl,
    SlackApp,
    SlackState,
    SlackUser,
    Store,
    iso,
    readable_body,
    utcnow,
)

PREFIX = "/_sandbox/slack"
VERIFICATION_TOKEN = "sandbox-verification-token"
"""The (deprecated) verification token Slack still puts in every payload."""
PRESS_SECONDS = 10.0
"""How long a press waits for the app's answer."""
SUBMIT_SECONDS = 3.0
"""A view_submission not answered within three seconds: Slack shows the person an error."""
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60
"""A response_url answers "up to 5 times within 30 minutes"."""
REQUIRED = "Please fill out this field."
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
TEXT_INPUTS = {"plain_text_input", "number_input", "email_text_input", "url_text_input"}
"""Input elements whose `state.values` entry is a `value` (a string, or null)."""
ONE_OPTION = {"static_select", "radio_buttons"}
"""… a `selected_option` (one of the element's options, or null)."""
SOME_OPTIONS = {"multi_static_select", "checkboxes"}
"""… `selected_options` (a list of them)."""

router = APIRouter(prefix=PREFIX)
Model = TypeVar("Model", bound=BaseModel)


class Refused(Exception):
    """A control request the sandbox cannot act on: `{"detail": sentence}` with HTTP `status`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def on_refused(request: Request, error: Refused) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, status_code=error.status)


class Press(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    ts: str
    """The message's."""
    action_id: str
    value: str | None = None
    """Picks among buttons with the same action_id."""
    channel: str | None = None
    """Where the message is; by default it is looked for in every channel."""


class Submit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    view_id: str
    values: dict[str, Any] = {}
    """block_id -> what the person enters: a text, an option's `value`, or a list of them. A block
    not given submits what it shows (what was entered before, else its initial value)."""


async def body_of(request: Request, model: type[Model]) -> Model:
    """The request's JSON body as `model`, else a 400 saying what is wrong with it."""
    try:
        return model.model_validate_json(await request.body())
    except ValueError as error:
        raise Refused(400, f"the body is not a {model.__name__}: {error}") from None


# --- Slack sending interactions to the app ---------------------------------------------------


@dataclass
class Answer:
    """The app's answer to an interaction: its HTTP status and body (JSON, else text), or
    "failed" and why when no answer came."""

    status: int | Literal["failed"]
    body: Any
    failure: str | None = None


def signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's `X-Slack-Signature` of a request body."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


async def send(app: SlackApp, payload: dict[str, Any], timeout: float) -> Answer:
    """POSTs an interaction to the app's Request URL as Slack does: `payload=<json>`, signed."""
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(app.signing_secret, timestamp, body),
    }
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(app.request_url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Answer("failed", None, f"the app did not answer within {timeout:g} seconds")
    except httpx.HTTPError as error:
        return Answer("failed", None, f"cannot reach the Request URL {app.request_url}: {error!r}")
    try:
        content = response.json()
    except ValueError:
        content = response.text
    return Answer(response.status_code, content)


def configured_app(store: Store) -> SlackApp:
    if store.slack_app is None:
        raise Refused(409, "no Slack app is set up: PUT /_sandbox/slack/app {request_url, signing_secret}")
    return store.slack_app


def person(slack: SlackState, user_id: str) -> SlackUser:
    user = slack.users.get(user_id)
    if user is None:
        raise Refused(404, f"{user_id} is not a person of the workspace")
    return user


def person_payload(slack: SlackState, user: SlackUser) -> dict[str, Any]:
    """Who interacted, as a payload's `user` says."""
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": slack.team.id}


def team_payload(slack: SlackState) -> dict[str, Any]:
    return {"id": slack.team.id, "domain": slack.team.domain}


# --- the app's settings ----------------------------------------------------------------------


@router.put("/app")
async def set_app(request: Request) -> dict[str, Any]:
    """The app's interactivity Request URL and signing secret (api.slack.com → Interactivity)."""
    store: Store = request.app.state.store
    store.slack_app = await body_of(request, SlackApp)
    return shown_app(store)


@router.get("/app")
async def get_app(request: Request) -> dict[str, Any]:
    return shown_app(request.app.state.store)


@router.delete("/app")
async def forget_app(request: Request) -> dict[str, Any]:
    """Back to no app: presses and submits answer 409."""
    store: Store = request.app.state.store
    store.slack_app = None
    return shown_app(store)


def shown_app(store: Store) -> dict[str, Any]:
    """The settings, never the secret."""
    return {"request_url": store.slack_app.request_url if store.slack_app else None}


# --- pressing a button -----------------------------------------------------------------------


def pressed_message(slack: SlackState, press: Press, user: SlackUser) -> tuple[Channel, Message]:
    """The message pressed, in a channel the person can see."""
    if press.channel is None:
        channels = list(slack.channels.values())
    else:
        channels = [slack.channels[press.channel]] if press.channel in slack.channels else []
    for channel in channels:
        message = find_message(channel, press.ts)
        if message is None:
            continue
        if channel.is_private and user.id not in channel.members:
            raise Refused(404, f"{user.id} is not in #{channel.name}, so cannot see message {press.ts}")
        return channel, message
    raise Refused(404, f"no message {press.ts} in {press.channel or 'any channel'}")


def pressed_button(message: Message, press: Press) -> tuple[dict[str, Any], dict[str, Any]]:
    """(block, button): the message's button with the press's action_id (and value, if given),
    in an `actions` block or as a section's accessory."""
    buttons = [
        (block, element)
        for block in message.blocks or []
        for element in elements_of(block)
        if element.get("type") == "button"
    ]
    for block, button in buttons:
        if button.get("action_id") == press.action_id and press.value in (None, button.get("value")):
            return block, button
    wanted = press.action_id + (f" (value {press.value!r})" if press.value is not None else "")
    have = ", ".join(f"{b.get('action_id')} ({b.get('value')!r})" for _, b in buttons) or "none"
    raise Refused(404, f"message {message.ts} has no button {wanted}; its buttons: {have}")


def new_response_url(request: Request, store: Store, user: str, channel: str, message_ts: str) -> str:
    token = secrets.token_urlsafe(24)
    store.state.slack.response_urls[token] = ResponseUrl(
        user=user, channel=channel, message_ts=message_ts, issued=time.monotonic()
    )
    return f"{str(request.base_url).rstrip('/')}{PREFIX}/responses/{token}"


def block_actions(
    slack: SlackState,
    user: SlackUser,
    channel: Channel,
    message: Message,
    pressed: tuple[dict[str, Any], dict[str, Any]],
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """Slack's `block_actions` payload for a button pressed in a message."""
    block, button = pressed
    action = {
        "action_id": button["action_id"],
        "block_id": block.get("block_id"),
        "text": button.get("text"),
        **({"value": button["value"]} if "value" in button else {}),
        "type": "button",
        **({"style": button["style"]} if "style" in button else {}),
        "action_ts": f"{time.time():.6f}",
    }
    return {
        "type": "block_actions",
        "user": person_payload(slack, user),
        "api_app_id": slack.bot.app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": team_payload(slack),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "message": render(slack, channel, message, metadata=True),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


@router.post("/press")
async def press(request: Request) -> dict[str, Any]:
    """Someone presses a button of a message: Slack sends the app `block_actions` with a new
    trigger_id and response_url, and this answers what the app answered."""
    store: Store = request.app.state.store
    pressed = await body_of(request, Press)
    app = configured_app(store)
    slack = store.state.slack
    user = person(slack, pressed.user)
    channel, message = pressed_message(slack, pressed, user)
    button = pressed_button(message, pressed)
    trigger_id = new_trigger(store, user.id)
    response_url = new_response_url(request, store, user.id, channel.id, message.ts)
    payload = block_actions(slack, user, channel, message, button, trigger_id, response_url)
    answer = await send(app, payload, PRESS_SECONDS)
    return {
        "status": answer.status,
        "body": answer.body,
        "trigger_id": trigger_id,
        "response_url": response_url,
        **({"failure": answer.failure} if answer.failure else {}),
    }


# --- submitting a modal ----------------------------------------------------------------------


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """A select's or checkboxes' options, those in its `option_groups` too."""
    groups = [g.get("options") or [] for g in element.get("option_groups") or []]
    return [*(element.get("options") or []), *(o for group in groups for o in group)]


def option_of(block_id: str, element: dict[str, Any], value: Any) -> dict[str, Any]:
    option = next((o for o in options_of(element) if o.get("value") == value), None)
    if option is None:
        offered = ", ".join(repr(o.get("value")) for o in options_of(element))
        raise Refused(400, f"{value!r} is not an option of block {block_id} (its options: {offered})")
    return option


def initial(element: dict[str, Any]) -> Any:
    """What an element shows before anyone touches it, as a person would enter it."""
    if "initial_option" in element:
        return element["initial_option"].get("value")
    if "initial_options" in element:
        return [o.get("value") for o in element["initial_options"]]
    return element.get("initial_value")


def entry(block_id: str, element: dict[str, Any], value: Any) -> dict[str, Any]:
    """An input's `view.state.values` entry for what the person entered."""
    kind = element.get("type", "")
    if kind in TEXT_INPUTS:
        if isinstance(value, (bool, dict, list)):
            raise Refused(400, f"block {block_id} is a {kind}: give a text, not {value!r}")
        return {"type": kind, "value": None if value is None or value == "" else str(value)}
    if kind in ONE_OPTION:
        return {
            "type": kind,
            "selected_option": None if value is None else option_of(block_id, element, value),
        }
    if kind in SOME_OPTIONS:
        chosen = [] if value is None else value if isinstance(value, list) else [value]
        return {"type": kind, "selected_options": [option_of(block_id, element, v) for v in chosen]}
    raise Refused(400, f"block {block_id} is a {kind or 'typeless'} input, which the sandbox does not model")


def entered_values(view: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The view's `state.values` once the person has entered `given` (block_id -> value): every
    input block, those not given showing what they showed."""
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b.get("type") == "input"}
    unknown = sorted(set(given) - set(inputs))
    if unknown:
        raise Refused(
            400, f"the view has no input block {', '.join(unknown)}; its inputs: {', '.join(inputs)}"
        )
    values = {}
    for block_id, element in inputs.items():
        action_id = element["action_id"]
        shown = view["state"]["values"].get(block_id, {}).get(action_id)
        if block_id in given:
            shown = entry(block_id, element, given[block_id])
        elif shown is None:
            shown = entry(block_id, element, initial(element))
        values[block_id] = {action_id: shown}
    return values


def slack_refusals(view: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """What Slack refuses itself, telling the app nothing: a required input left empty, a
    plain_text_input shorter than its `min_length` or longer than its `max_length`."""
    errors = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        shown = values[block["block_id"]][element["action_id"]]
        if not (shown.get("value") or shown.get("selected_option") or shown.get("selected_options")):
            if not block.get("optional", False):
                errors[block["block_id"]] = REQUIRED
            continue
        text = shown.get("value") if element.get("type") == "plain_text_input" else None
        if text is not None and len(text) > element.get("max_length", len(text)):
            errors[block["block_id"]] = f"Please use no more than {element['max_length']} characters."
        elif text is not None and len(text) < element.get("min_length", 0):
            errors[block["block_id"]] = f"Please use at least {element['min_length']} characters."
    return errors


def view_submission(
    slack: SlackState, user: SlackUser, view: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    """Slack's `view_submission` payload: the view with what the person entered in `state.values`."""
    return {
        "type": "view_submission",
        "team": team_payload(slack),
        "user": person_payload(slack, user),
        "api_app_id": slack.bot.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def shown_view(open_view: OpenView) -> dict[str, Any]:
    """A view as the person sees it: Slack's view, with the errors under its blocks."""
    return {**open_view.view, "errors": open_view.errors}


def submitted(
    status: int | str, response: Any, open_view: OpenView | None, failure: str | None = None
) -> dict[str, Any]:
    """What a submit answers: the app's status and JSON answer, the view now (None: closed)."""
    return {
        "status": status,
        "response": None if isinstance(response, str) else response,
        "view": shown_view(open_view) if open_view else None,
        "errors": open_view.errors if open_view else {},
        **({"failure": failure} if failure else {}),
    }


def close(slack: SlackState, open_view: OpenView, *, stack: bool) -> None:
    """The view closes; with `stack` (`response_action: clear`) every view opened over its root too."""
    root = open_view.view["root_view_id"]
    for view_id, other in list(slack.views.items()):
        if other is open_view or (stack and other.view["root_view_id"] == root):
            del slack.views[view_id]


def act_on(store: Store, open_view: OpenView, answer: Answer) -> dict[str, Any]:
    """What Slack does with the app's answer to a view_submission: HTTP 200 with no body, `{}` or
    `clear` closes the view; `errors` keeps it open with the errors under their blocks; `update`
    replaces it; anything else (another status, no answer in 3 s, another body) leaves it open and
    shows the person an error."""
    body, slack = answer.body, store.state.slack
    if answer.status != 200:
        why = answer.failure or f"the app answered HTTP {answer.status}"
        return submitted(answer.status, body, open_view, f"Slack shows an error: {why}")
    if body in ("", {}) or body == {"response_action": "clear"}:
        close(slack, open_view, stack=bool(body))
        return submitted(200, body, None)
    action = body.get("response_action") if isinstance(body, dict) else None
    if action == "errors" and isinstance(body.get("errors"), dict):
        open_view.errors = {str(k): str(v) for k, v in body["errors"].items()}
        return submitted(200, body, open_view)
    if action == "update":
        try:
            replace_view(store, open_view, checked_view(body.get("view")))
        except SlackError as error:
            why = "; ".join(error.extra.get("response_metadata", {}).get("messages", [error.error]))
            return submitted(200, body, open_view, f"Slack shows an error: the new view is refused: {why}")
        return submitted(200, body, open_view)
    return submitted(200, body, open_view, f"Slack shows an error: it does not understand {body!r}")


@router.post("/submit")
async def submit(request: Request) -> dict[str, Any]:
    """Someone submits their open modal. Slack refuses empty required fields and texts of the wrong
    length itself; otherwise it sends the app `view_submission` and does what the answer says."""
    store: Store = request.app.state.store
    given = await body_of(request, Submit)
    app = configured_app(store)
    slack = store.state.slack
    open_view = slack.views.get(given.view_id)
    if open_view is None or open_view.user != given.user:
        raise Refused(404, f"{given.user} has no open view {given.view_id}")
    user = person(slack, given.user)
    values = entered_values(open_view.view, given.values)
    open_view.view["state"]["values"] = values  # what the person's screen shows now
    refusals = slack_refusals(open_view.view, values)
    if refusals:
        open_view.errors = refusals
        return submitted("refused_by_slack", None, open_view)
    payload = view_submission(slack, user, deepcopy(open_view.view), new_trigger(store, user.id))
    answer = await send(app, payload, SUBMIT_SECONDS)
    now = store.state.slack.views.get(given.view_id)  # a reset, or the app, may have changed it meanwhile
    if now is None:
        return submitted(answer.status, answer.body, None)
    return act_on(store, now, answer)


# --- response_url ----------------------------------------------------------------------------


def respond(store: Store, token: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """An app's answer at a response_url: (HTTP status, what it did or `error`)."""
    slack = store.state.slack
    url = slack.response_urls.get(token)
    if url is None:
        return 404, {"error": "invalid_token"}
    if url.uses >= RESPONSE_URL_USES or time.monotonic() - url.issued > RESPONSE_URL_SECONDS:
        return 404, {"error": "expired_url"}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return 400, {"error": "invalid_payload"}
    channel = slack.channels[url.channel]
    message = find_message(channel, url.message_ts)
    where = {"channel": channel.id, "user": url.user}
    if truthy(body.get("delete_original")):
        if message is None:
            return 404, {"error": "message_not_found"}
        channel.messages.remove(message)
        url.uses += 1
        return 200, {**where, "ts": message.ts, "deleted": True}
    try:
        content = message_content(body)
    except SlackError as error:
        return 400, {"error": error.error}
    if truthy(body.get("replace_original")):
        if message is None:
            return 404, {"error": "message_not_found"}
        update_message(store, message, content, slack.bot.user_id)
        done = {**where, "ts": message.ts, "replaced": True}
    elif body.get("response_type") == "in_channel":
        posted = new_message(store, slack, slack.bot.user_id, content)
        channel.messages.append(posted)
        done = {**where, "ts": posted.ts, "response_type": "in_channel"}
    else:
        blocks = with_ids(store, content.blocks) if content.blocks else None
        slack.ephemeral.append(
            Ephemeral(
                user=url.user, channel=channel.id, text=content.text or "", blocks=blocks, at=iso(utcnow())
            )
        )
        done = {**where, "response_type": "ephemeral"}
    url.uses += 1
    return 200, done


@router.post("/responses/{token}")
async def response_url(request: Request, token: str) -> JSONResponse:
    """A response_url: `{"text", "blocks", "response_type": "ephemeral" (default) | "in_channel",
    "replace_original", "delete_original"}`. Ephemeral: shown to the person who pressed only;
    `replace_original`: the pressed message changes (as chat.update); `in_channel`: the bot posts
    in the channel. Five answers within thirty minutes, then 404 `expired_url`. Every answer is in
    the write log (api "slack", the path of the URL)."""
    store: Store = request.app.state.store
    raw = await request.body()
    status, result = respond(store, token, raw)
    store.record_write(
        api="slack",
        method="POST",
        path=request.url.path,
        status=status,
        actor=store.state.slack.bot.user_id,
        body=readable_body(raw, request.headers.get("content-type", "")),
        result=result,
    )
    if status != 200:
        return JSONResponse({"ok": False, "error": result["error"]}, status_code=status)
    return JSONResponse({"ok": True})


# --- what a person sees ----------------------------------------------------------------------


@router.get("/views")
async def views(request: Request, user: str | None = None) -> dict[str, Any]:
    """The modals open on `user`'s screen (everyone's without it), oldest first, each with the
    errors shown under its blocks."""
    store: Store = request.app.state.store
    shown = [shown_view(v) for v in store.state.slack.views.values() if user is None or v.user == user]
    return {"views": shown}


@router.get("/ephemeral")
async def ephemeral(request: Request, user: str | None = None) -> dict[str, Any]:
    """Ephemeral messages the app showed `user` (everyone without it), oldest first."""
    store: Store = request.app.state.store
    shown = [e.model_dump() for e in store.state.slack.ephemeral if user is None or e.user == user]
    return {"ephemeral": shown}
