"""A person's input from Slack: the asks' buttons and the modals they open (handover/slack_ui.py).

Slack signs each interaction (endpoint/events.py checks it) and names the user who acted; the actor
is that user's email as Slack's `users.info` gives it, never a field of the payload. What they give
goes through the same path as the endpoint's routes: the declared input, its Update (the same
checks), its Signal twin when no worker answers in time. A refusal is shown where they acted: in the
modal (`response_action: errors`), or for a button in a message only they see (its `response_url`).

Slack wants its answer within 3 seconds, and a modal opened within 3 seconds of the press (its
trigger id expires): every wait here is bounded to fit.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from datetime import timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from activities.slack import web_client
from handover import inputs, slack_ui
from handover import service as handovers
from handover.errors import AlreadyDone, HandoverError, InvalidInput, UnknownHandover, invalid_fields
from handover.models import HandoverProgress
from handover.settings import Settings
from handover.slack_ui import FormErrors, Pressed

ANSWER_WITHIN = 2.5
"""Seconds a submission may take in all (Slack gives up at 3)."""
LOOK_WITHIN = timedelta(seconds=0.8)
"""How long a form waits for the handover's progress (its draft, who may give it) before it opens
blank: the trigger id expires 3 seconds after the press."""
EMAILS_KEPT = 300.0
"""Seconds a Slack user's email is kept (users.info is asked again after)."""


class SlackProblem(Exception):
    """Slack would not do what the interaction needs; the sentence says so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SlackWeb:
    """The few Web API calls the endpoint makes (users.info, views.open), with the bot token, and
    the answers to a press (its response_url)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._emails: dict[str, tuple[str, float]] = {}

    @functools.cached_property
    def _client(self) -> WebClient:
        """Made at the first interaction: an endpoint without Slack starts all the same."""
        return web_client(self._settings, timeout=2)

    async def _call(self, method: str, **arguments: Any) -> dict:
        # As the worker's client: Slack reads a JSON body for write methods only; a read is a GET.
        read = method.startswith("users.")
        call = {"http_verb": "GET", "params": arguments} if read else {"json": arguments}
        try:
            answer = await asyncio.to_thread(self._client.api_call, method, **call)
        except SlackApiError as error:
            raise SlackProblem(str(error.response.get("error", "unknown_error"))) from None
        except OSError as error:
            raise SlackProblem(f"Slack cannot be reached ({type(error).__name__})") from None
        return answer.data  # type: ignore[return-value]

    async def email_of(self, user_id: str) -> str:
        kept = self._emails.get(user_id)
        if kept is not None and time.monotonic() - kept[1] < EMAILS_KEPT:
            return kept[0]
        try:
            user = (await self._call("users.info", user=user_id))["user"]
        except SlackProblem as problem:
            raise SlackProblem(
                f"Slack would not say who you are (users.info: {problem.message}); "
                "the handover knows people by their email"
            ) from None
        email = (user.get("profile") or {}).get("email")
        if not email:
            raise SlackProblem(
                "Slack shows no email address for you (the app needs users:read.email), and the "
                "handover knows people by their email: use the console or starter.py"
            )
        self._emails[user_id] = (email.lower(), time.monotonic())
        return email.lower()

    async def open_view(self, trigger_id: str, view: dict) -> None:
        await self._call("views.open", trigger_id=trigger_id, view=view)

    @functools.cached_property
    def _verify(self) -> ssl.SSLContext:
        return self._settings.ssl_context()

    async def respond(self, response_url: str | None, text: str) -> None:
        """A message only the person who pressed sees, under the message they pressed."""
        if not response_url:
            return
        async with httpx.AsyncClient(verify=self._verify, timeout=2) as http:
            try:
                await http.post(response_url, json={"response_type": "ephemeral", "text": text})
            except httpx.HTTPError:
                pass  # (the input itself is given or refused already; only its answer is lost)


async def _progress(client: Client, handover_id: str) -> HandoverProgress | None:
    """The handover's progress, or None when it does not answer in LOOK_WITHIN (no worker, a busy
    one, a failing workflow task): the form then opens blank, and its submission is checked."""
    try:
        return await client.get_workflow_handle(handover_id).query(
            "progress", result_type=HandoverProgress, rpc_timeout=LOOK_WITHIN
        )
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    except RPCError as error:
        if error.status in (
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.CANCELLED,
            RPCStatusCode.NOT_FOUND,
        ):
            return None  # (not found: it ended meanwhile, which the form's submission is told)
        raise


def _given(pressed: Pressed, actor: str, written: dict[str, Any]) -> Any:
    declared = pressed.declared
    item = {declared.item: pressed.item_id} if declared.item else {}
    return declared.model(actor=actor, **item, **written)


def _probe(pressed: Pressed, actor: str) -> Any:
    """Who is pressing, and for which item: enough for the input's check before its form opens
    (what they will write is not known yet, and no check reads it)."""
    declared = pressed.declared
    item = {declared.item: pressed.item_id} if declared.item else {}
    extra = {"incident_ids": []} if declared is inputs.GROUP_STATUS else {}
    return declared.model.model_construct(actor=actor, **item, **extra)


def _said(text: str) -> str:
    """A message of ours as a sentence, with its full stop (never a capital: it may start with an
    email)."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


UNREACHABLE = "Temporal cannot be reached right now: try again in a minute"
QUEUED = (
    "No worker answered in time: your input is kept, and checked when one is back. "
    "This thread's message shows it once it is taken."
)


async def pressed(client: Client, slack: SlackWeb, payload: dict, action: dict) -> None:
    """A button of the asks. One with a form opens it (pre-filled); one without gives its input."""
    response_url = payload.get("response_url")
    try:
        button = Pressed.of_button(str(action.get("action_id")), str(action.get("value", "")))
        actor = await slack.email_of(str((payload.get("user") or {}).get("id", "")))
    except (InvalidInput, SlackProblem) as problem:
        await slack.respond(response_url, f":warning: {problem.message}")
        return
    declared = button.declared
    try:
        await _this_run(client, button)
        if declared.body is not None:
            await _open_form(client, slack, payload, button, actor)
            return
        given = _given(button, actor, {})
        accepted = await handovers.send(
            client, button.handover_id, declared, given, answer_within=timedelta(seconds=2)
        )
    except HandoverError as error:
        await slack.respond(response_url, f":no_entry: Not taken: {_said(error.message)}")
        return
    except RPCError:
        await slack.respond(response_url, f":warning: {_said(UNREACHABLE)}")
        return
    await slack.respond(
        response_url, QUEUED if accepted is None else f":white_check_mark: {_said(accepted.message)}"
    )


async def _open_form(client: Client, slack: SlackWeb, payload: dict, button: Pressed, actor: str) -> None:
    """The button's form, once the input's own check says this person may give it (HandoverError
    otherwise, told by `pressed`)."""
    progress = await _progress(client, button.handover_id)
    if progress is not None:
        button.declared.check(progress, _probe(button, actor))
        if button.declared is inputs.GROUP_STATUS and not slack_ui.waiting_for_status(progress):
            raise AlreadyDone("no incident of this handover waits for a status paragraph any more")
    try:
        await slack.open_view(str(payload.get("trigger_id", "")), slack_ui.form(button, progress))
    except SlackProblem as problem:
        again = "press the button again" if "trigger" in problem.message else problem.message
        await slack.respond(
            payload.get("response_url"),
            f":warning: Slack did not open the form ({problem.message}): {again}.",
        )


async def _this_run(client: Client, pressed: Pressed) -> None:
    """A button or form of an earlier handover of the same admin (the id is reused) gives nothing
    to the one running now."""
    latest = await handovers.latest_run(client, pressed.handover_id, rpc_timeout=LOOK_WITHIN)
    if latest is None:
        raise UnknownHandover(f"no handover {pressed.handover_id}")
    if pressed.run_id and latest.run_id != pressed.run_id:
        raise AlreadyDone(
            "this message is from an earlier handover of the same admin, which has ended: "
            "use the newest message in the thread"
        )


def _shown(view: dict, errors: dict[str, str], first: str) -> dict[str, str]:
    """Errors under blocks the modal has: Slack shows no error for a block it does not have."""
    blocks = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
    shown: dict[str, str] = {}
    for block, message in errors.items():
        where = block if block in blocks else first
        shown[where] = f"{shown[where]} {message}" if where in shown else message
    return shown


async def submitted(client: Client, slack: SlackWeb, payload: dict) -> dict:
    """A modal's submission: its input given, or the modal shows why not."""
    started = time.monotonic()
    view = payload.get("view") or {}
    first = slack_ui.first_input(view)
    try:
        form = Pressed.of_form(str(view.get("private_metadata", "")))
        actor = await slack.email_of(str((payload.get("user") or {}).get("id", "")))
        progress = None
        if form.declared is inputs.GROUP_STATUS:  # (a suggested group is read as it is now)
            progress = await _progress(client, form.handover_id)
        written = slack_ui.written(form, (view.get("state") or {}).get("values") or {}, progress)
        given = _given(form, actor, written)
        await _this_run(client, form)
    except FormErrors as errors:
        return {"response_action": "errors", "errors": _shown(view, errors.errors, first)}
    except (InvalidInput, SlackProblem, HandoverError) as problem:
        return {"response_action": "errors", "errors": {first: _said(problem.message)}}
    except ValidationError as error:
        return {"response_action": "errors", "errors": {first: _said(invalid_fields(list(error.errors())))}}
    except RPCError:
        return {"response_action": "errors", "errors": {first: _said(UNREACHABLE)}}
    left = max(0.5, ANSWER_WITHIN - (time.monotonic() - started))
    try:
        accepted = await handovers.send(
            client, form.handover_id, form.declared, given, answer_within=timedelta(seconds=left)
        )
    except HandoverError as error:
        return {"response_action": "errors", "errors": {first: f"Not taken: {_said(error.message)}"}}
    except RPCError:
        return {"response_action": "errors", "errors": {first: _said(UNREACHABLE)}}
    if accepted is None:
        return {"response_action": "update", "view": slack_ui.told("Kept for later", f":hourglass: {QUEUED}")}
    return {
        "response_action": "update",
        "view": slack_ui.told("Sent", f":white_check_mark: {_said(accepted.message)}"),
    }
