"""Slack's interactivity as the sandbox plays it: users.info, chat.update, views.open/update with
slack_sdk's WebClient over HTTPS, and a person pressing buttons and submitting modals, which the
sandbox sends, signed and form-encoded as Slack does, to a small app served over real HTTP that
checks the signature with slack_sdk's SignatureVerifier and opens its modal with views.open."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from sandbox import interactivity
from sandbox import slack as sandbox_slack
from sandbox.state import ts_key
from sandbox.testing import SandboxHandle
from tests.sandbox.test_slack_client import (
    CHANNEL,
    channel_of,
    client_for,
    refusal,
    slack_error,
    without_scope,
)
from tests.serving import serving

SECRET = "interactivity-signing-secret-for-tests"
BOB, ALICE = "U0BOB", "U0ALICE"
TRIGGER = re.compile(r"^\d{10}\.\d{10}\.[0-9a-f]{32}$")


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def label(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


SEV1, SEV2 = option("SEV1", "sev1"), option("SEV2", "sev2")
PLATFORM, BILLING = option("Platform", "platform"), option("Billing", "billing")
READ = option("I read the thread", "read")
MODAL = {
    "type": "modal",
    "callback_id": "handover_note",
    "private_metadata": "handover-alice",
    "title": label("Handover note"),
    "submit": label("Save"),
    "close": label("Cancel"),
    "blocks": [
        {
            "type": "input",
            "block_id": "note",
            "label": label("What is left to do?"),
            "element": {"type": "plain_text_input", "action_id": "text", "min_length": 2, "max_length": 40},
        },
        {
            "type": "input",
            "block_id": "severity",
            "optional": True,
            "label": label("Severity"),
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "options": [SEV1, SEV2],
                "initial_option": SEV2,
            },
        },
        {
            "type": "input",
            "block_id": "teams",
            "optional": True,
            "label": label("Teams"),
            "element": {
                "type": "multi_static_select",
                "action_id": "pick",
                "option_groups": [{"label": label("Engineering"), "options": [PLATFORM, BILLING]}],
            },
        },
        {
            "type": "input",
            "block_id": "ack",
            "optional": True,
            "label": label("Read"),
            "element": {"type": "checkboxes", "action_id": "pick", "options": [READ]},
        },
        {
            "type": "input",
            "block_id": "minutes",
            "optional": True,
            "label": label("Minutes"),
            "element": {
                "type": "number_input",
                "action_id": "n",
                "is_decimal_allowed": False,
                "initial_value": "30",
            },
        },
    ],
}
SAVED = {**MODAL, "title": label("Saved")}
ASKS = [
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Alice hands over to Bob."},
        "accessory": {
            "type": "button",
            "action_id": "open_note",
            "text": label("Add a note"),
            "value": "note",
        },
    },
    {
        "type": "actions",
        "block_id": "asks",
        "elements": [
            {
                "type": "button",
                "action_id": "answer",
                "text": label("Take it"),
                "value": "yes",
                "style": "primary",
            },
            {"type": "button", "action_id": "answer", "text": label("Later"), "value": "quiet"},
        ],
    },
]


# --- the app at the Request URL -------------------------------------------------------------


@dataclass
class App:
    """What the app at the Request URL heard: payloads whose signature held, in order."""

    url: str = ""
    payloads: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    forged: int = 0
    """Requests whose signature did not hold (answered 401)."""
    opened: list[dict[str, Any]] = field(default_factory=list)
    """What views.open answered each press (but those of value "quiet", which open nothing)."""


def open_modal(bot: WebClient, trigger_id: str) -> dict[str, Any]:
    try:
        return bot.views_open(trigger_id=trigger_id, view=MODAL).data  # type: ignore[return-value]
    except SlackApiError as error:
        return error.response.data  # type: ignore[return-value]


def interactivity_app(sandbox: SandboxHandle, heard: App) -> FastAPI:
    """A press opens MODAL (from a thread: slack_sdk is sync); a submission's note decides the
    answer: "errors", "update", "broken" (HTTP 500), "slow" (in half a second), anything else an
    empty 200."""
    verifier = SignatureVerifier(SECRET)
    bot = client_for(sandbox)
    app = FastAPI()

    @app.post("/slack/interactivity")
    async def interactivity(request: Request) -> Response:
        raw = (await request.body()).decode()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if not verifier.is_valid(raw, timestamp, request.headers.get("x-slack-signature", "")):
            heard.forged += 1
            return Response(status_code=401)
        payload = json.loads(parse_qs(raw)["payload"][0])
        heard.payloads.append(payload)
        heard.content_types.append(request.headers["content-type"])
        if payload["type"] == "block_actions":
            if payload["actions"][0].get("value") != "quiet":
                heard.opened.append(await asyncio.to_thread(open_modal, bot, payload["trigger_id"]))
            return Response(status_code=200)
        note = payload["view"]["state"]["values"]["note"]["text"]["value"]
        if note == "errors":
            return JSONResponse({"response_action": "errors", "errors": {"note": "Say what is left to do."}})
        if note == "update":
            return JSONResponse({"response_action": "update", "view": SAVED})
        if note == "broken":
            return Response(status_code=500)
        if note == "slow":
            await asyncio.sleep(0.5)
        return Response(status_code=200)

    return app


@pytest.fixture
async def app(fresh_sandbox: SandboxHandle) -> AsyncIterator[App]:
    heard = App()
    async with serving(interactivity_app(fresh_sandbox, heard)) as url:
        heard.url = f"{url}/slack/interactivity"
        fresh_sandbox.slack_app(heard.url, SECRET)
        yield heard
        fresh_sandbox.slack_app(None)


@pytest.fixture
def bot(fresh_sandbox: SandboxHandle) -> WebClient:
    return client_for(fresh_sandbox)


def post_asks(bot: WebClient) -> str:
    return bot.chat_postMessage(channel=CHANNEL, text="Alice hands over to Bob", blocks=ASKS)["ts"]


def open_for_bob(sandbox: SandboxHandle, bot: WebClient, app: App) -> dict[str, Any]:
    """Bob presses "Take it": the app opens MODAL for him. The view as views.open answered it."""
    sandbox.press(BOB, post_asks(bot), "answer", value="yes")
    assert app.opened[-1]["ok"], app.opened[-1]
    return app.opened[-1]["view"]


def control_refusal(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call()
    return refused.value.response.status_code, refused.value.response.json()["detail"]


# --- users.info ---------------------------------------------------------------------------------


def test_users_info_shows_the_email_only_with_users_read_email(
    bot: WebClient, fresh_sandbox: SandboxHandle, workspace
) -> None:
    shown = bot.users_info(user=BOB)["user"]
    assert (shown["id"], shown["name"], shown["real_name"], shown["tz"]) == (
        BOB,
        "bob",
        "Bob Okafor",
        "Europe/London",
    )
    assert shown["profile"]["email"] == "bob@novalien.com"
    assert bot.users_lookupByEmail(email="bob@novalien.com")["user"] == shown, "one user, one rendering"
    assert slack_error(lambda: bot.users_info(user="U0NOBODY")) == "user_not_found"

    workspace(without_scope("users:read.email"))
    hidden = client_for(fresh_sandbox).users_info(user=BOB)["user"]
    assert "email" not in hidden["profile"]
    assert hidden == {**shown, "profile": {k: v for k, v in shown["profile"].items() if k != "email"}}


# --- chat.update --------------------------------------------------------------------------------


def test_chat_update_changes_the_bot_s_own_message(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    metadata = {"event_type": "oncall_handover", "event_payload": {"handover_id": "h-alice", "part": "asks"}}
    posted = bot.chat_postMessage(channel=CHANNEL, text="Asks: 2 open", blocks=ASKS, metadata=metadata)
    assert [b["block_id"] for b in posted["message"]["blocks"]][1] == "asks"
    assert posted["message"]["blocks"][0]["block_id"], "Slack gives every block a block_id"
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Asks: 1 open"}, "block_id": "left"}

    updated = bot.chat_update(channel=CHANNEL, ts=posted["ts"], text="Asks: 1 open", blocks=[section])
    assert (updated["channel"], updated["ts"], updated["text"]) == (CHANNEL, posted["ts"], "Asks: 1 open")
    assert updated["message"]["blocks"] == [section]
    edited = updated["message"]["edited"]
    assert edited["user"] == "U0HANDOVER" and ts_key(edited["ts"]) > ts_key(posted["ts"])

    seen = bot.conversations_history(channel=CHANNEL, limit=1, include_all_metadata=True)["messages"][0]
    assert (seen["ts"], seen["text"], seen["blocks"]) == (posted["ts"], "Asks: 1 open", [section])
    assert seen["metadata"] == metadata, "kept, as no new metadata was given"
    assert seen["edited"] == edited

    # Text without blocks: Slack drops the blocks and renders the text.
    plain = bot.chat_update(channel=CHANNEL, ts=posted["ts"], text="All answered")["message"]
    assert plain["text"] == "All answered" and "blocks" not in plain

    updates = [w for w in fresh_sandbox.writes("slack") if w["path"] == "/chat.update"]
    assert [(w["actor"], w["result"]) for w in updates] == [
        ("U0HANDOVER", {"channel": CHANNEL, "ts": posted["ts"]}),
        ("U0HANDOVER", {"channel": CHANNEL, "ts": posted["ts"]}),
    ]


def test_chat_update_refusals(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    alices = next(m for m in bot.conversations_history(channel=CHANNEL)["messages"] if m["user"] == ALICE)
    mine = bot.chat_postMessage(channel=CHANNEL, text="mine")["ts"]

    def update(client: WebClient = bot, **args: Any) -> Callable[[], Any]:
        return lambda: client.chat_update(**{"channel": CHANNEL, "ts": mine, "text": "x", **args})

    assert slack_error(update(ts=alices["ts"])) == "cant_update_message"
    assert slack_error(update(client_for(fresh_sandbox, "xoxp-sandbox-bob"))) == "cant_update_message"
    assert slack_error(update(ts="1.000000")) == "message_not_found"
    assert slack_error(update(channel="C0NOSUCH")) == "channel_not_found"
    assert slack_error(update(text="x" * 40_001)) == "msg_too_long"
    assert slack_error(update(blocks=["not a block"])) == "invalid_blocks"
    with pytest.warns(UserWarning):  # slack_sdk warns about a message without text
        assert slack_error(update(text=None)) == "no_text"
    failed = [w["result"].get("error") for w in fresh_sandbox.writes("slack") if w["path"] == "/chat.update"]
    assert failed == ["cant_update_message"] * 2 + [
        "message_not_found",
        "channel_not_found",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
    ]


def test_chat_update_in_an_archived_channel(workspace, fresh_sandbox: SandboxHandle) -> None:
    def archived_with_a_bot_message(slack: dict) -> None:
        channel = channel_of(slack)
        channel["is_archived"] = True
        channel["messages"].append({"at": "-1m", "user": "U0HANDOVER", "text": "the bot's"})

    workspace(archived_with_a_bot_message)
    bot = client_for(fresh_sandbox)
    ts = bot.conversations_history(channel=CHANNEL, limit=1)["messages"][0]["ts"]
    assert slack_error(lambda: bot.chat_update(channel=CHANNEL, ts=ts, text="x")) == "is_archived"


# --- views.open and views.update ------------------------------------------------------------------


async def test_views_open_with_a_fresh_trigger(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    pressed = fresh_sandbox.press(BOB, post_asks(bot), "answer", value="quiet")
    assert app.opened == [] and TRIGGER.match(pressed["trigger_id"])
    bob = client_for(fresh_sandbox, "xoxp-sandbox-bob")
    no_bot = lambda: bob.views_open(trigger_id=pressed["trigger_id"], view=MODAL)  # noqa: E731
    assert slack_error(no_bot) == "not_allowed_token_type"

    view = bot.views_open(trigger_id=pressed["trigger_id"], view=MODAL)["view"]
    assert re.match(r"^V[A-Z0-9]{10}$", view["id"]) and view["hash"]
    assert {k: view[k] for k in ("type", "title", "submit", "close", "callback_id", "private_metadata")} == {
        k: MODAL[k] for k in ("type", "title", "submit", "close", "callback_id", "private_metadata")
    }
    assert view["blocks"] == MODAL["blocks"], "its block and action ids were all given"
    assert (view["team_id"], view["app_id"], view["bot_id"]) == ("T0NOVALIEN", "A0HANDOVER", "B0HANDOVER")
    assert (view["state"], view["external_id"], view["root_view_id"], view["previous_view_id"]) == (
        {"values": {}},
        "",
        view["id"],
        None,
    )
    assert fresh_sandbox.views(BOB) == [{**view, "errors": {}}], "open for the person who pressed"
    assert fresh_sandbox.views(ALICE) == []

    again = lambda: bot.views_open(trigger_id=pressed["trigger_id"], view=MODAL)  # noqa: E731
    assert slack_error(again) == "exchanged_trigger_id"
    unknown = lambda: bot.views_open(trigger_id="1234567890.1234567890.abcdef", view=MODAL)  # noqa: E731
    assert slack_error(unknown) == "invalid_trigger_id"

    # A form body with the view as a JSON string, as Slack also takes it.
    second = fresh_sandbox.press(ALICE, post_asks(bot), "answer", value="quiet")
    with httpx.Client(verify=fresh_sandbox.ssl_context()) as http:
        form = {
            "token": "xoxb-sandbox-bot-token",
            "trigger_id": second["trigger_id"],
            "view": json.dumps(MODAL),
        }
        opened = http.post(f"{fresh_sandbox.slack_url}views.open", data=form).json()
    assert opened["ok"] and fresh_sandbox.views(ALICE)[0]["id"] == opened["view"]["id"]


async def test_an_expired_trigger(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_slack, "TRIGGER_SECONDS", 0.05)
    pressed = fresh_sandbox.press(BOB, post_asks(bot), "answer", value="quiet")
    time.sleep(0.1)
    late = lambda: bot.views_open(trigger_id=pressed["trigger_id"], view=MODAL)  # noqa: E731
    assert slack_error(late) == "expired_trigger_id"
    assert fresh_sandbox.views(BOB) == []


@pytest.mark.parametrize(
    ("view", "message"),
    [
        ({**MODAL, "type": "home"}, "[ERROR] unsupported type: home [json-pointer:/view/type]"),
        ({k: v for k, v in MODAL.items() if k != "title"}, "[ERROR] missing required field: title"),
        ({**MODAL, "title": label("x" * 25)}, "[ERROR] must be less than 25 characters"),
        ({**MODAL, "blocks": [{"type": "divider"}] * 101}, "[ERROR] no more than 100 items allowed"),
        ({k: v for k, v in MODAL.items() if k != "submit"}, "[ERROR] submit is required"),
        ({**MODAL, "blocks": "none"}, "[ERROR] must be an array of blocks"),
    ],
    ids=["home", "no-title", "long-title", "101-blocks", "inputs-without-submit", "blocks-not-a-list"],
)
async def test_views_open_refuses_a_bad_view(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient, view: dict, message: str
) -> None:
    pressed = fresh_sandbox.press(BOB, post_asks(bot), "answer", value="quiet")
    answer = refusal(lambda: bot.views_open(trigger_id=pressed["trigger_id"], view=view))
    assert answer["error"] == "invalid_arguments"
    assert answer["response_metadata"]["messages"][0].startswith(message), answer
    assert fresh_sandbox.views(BOB) == []
    assert bot.views_open(trigger_id=pressed["trigger_id"], view=MODAL)["ok"], "a refusal uses no trigger"


async def test_views_update_with_the_hash_and_with_a_stale_one(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    updated = bot.views_update(view_id=opened["id"], hash=opened["hash"], view=SAVED)["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["title"] == label("Saved") and updated["root_view_id"] == opened["id"]
    stale = lambda: bot.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)  # noqa: E731
    assert slack_error(stale) == "hash_conflict"
    assert fresh_sandbox.views(BOB)[0]["title"] == label("Saved"), "a conflict changes nothing"

    by_external_id = bot.views_update(view_id=opened["id"], view={**MODAL, "external_id": "note-h-alice"})[
        "view"
    ]
    again = bot.views_update(external_id="note-h-alice", view=SAVED)["view"]
    assert again["id"] == opened["id"] and again["hash"] != by_external_id["hash"]
    assert slack_error(lambda: bot.views_update(view_id="VNOSUCHVIEW", view=SAVED)) == "not_found"
    assert refusal(lambda: bot.views_update(view_id=opened["id"], view={"type": "modal"}))["error"] == (
        "invalid_arguments"
    )


async def test_what_the_person_entered_survives_an_update_that_keeps_the_block(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    fresh_sandbox.submit(BOB, opened["id"], {"note": "errors", "teams": ["billing"]})
    renamed = [{**b, "block_id": "teams2"} if b["block_id"] == "teams" else b for b in MODAL["blocks"]]
    view = bot.views_update(view_id=opened["id"], view={**MODAL, "blocks": renamed})["view"]
    values = view["state"]["values"]
    assert values["note"]["text"]["value"] == "errors"
    assert "teams" not in values and "teams2" not in values, "a new block_id starts empty"


# --- pressing a button ------------------------------------------------------------------------


async def test_a_press_sends_the_app_a_signed_block_actions_payload(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    ts = post_asks(bot)
    answer = fresh_sandbox.press(BOB, ts, "answer", value="yes")
    assert (answer["status"], answer["body"], app.forged) == (200, "", 0)
    assert app.content_types == ["application/x-www-form-urlencoded"]
    [payload] = app.payloads
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": BOB, "username": "bob", "name": "bob", "team_id": "T0NOVALIEN"}
    assert (payload["api_app_id"], payload["token"]) == ("A0HANDOVER", "sandbox-verification-token")
    assert payload["team"] == {"id": "T0NOVALIEN", "domain": "novalien"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": CHANNEL, "name": "novavms-platform-ops"}
    assert (payload["message"]["ts"], payload["message"]["text"]) == (ts, "Alice hands over to Bob")
    assert payload["state"] == {"values": {}} and payload["enterprise"] is None
    assert payload["trigger_id"] == answer["trigger_id"] and TRIGGER.match(payload["trigger_id"])
    assert payload["response_url"] == answer["response_url"]
    assert payload["response_url"].startswith(f"{fresh_sandbox.base_url}/_sandbox/slack/responses/")
    [action] = payload["actions"]
    assert ts_key(action.pop("action_ts")) >= ts_key(ts)
    assert action == {
        "action_id": "answer",
        "block_id": "asks",
        "text": label("Take it"),
        "value": "yes",
        "type": "button",
        "style": "primary",
    }
    # The app opened its modal with the trigger, while the press waited for its answer.
    [opened] = app.opened
    assert opened["ok"] and fresh_sandbox.views(BOB) == [{**opened["view"], "errors": {}}]
    assert fresh_sandbox.views(ALICE) == []

    # A section's accessory, whose block had no block_id: the one Slack gave it.
    fresh_sandbox.press(ALICE, ts, "open_note", channel=CHANNEL)
    given = bot.conversations_history(channel=CHANNEL, limit=1)["messages"][0]["blocks"][0]["block_id"]
    assert app.payloads[-1]["actions"][0]["block_id"] == given and app.payloads[-1]["user"]["id"] == ALICE

    # Signed with another secret, the app refuses it: the signature is the secret's.
    fresh_sandbox.slack_app(app.url, "not-the-app-s-secret")
    assert fresh_sandbox.press(BOB, ts, "answer", value="quiet")["status"] == 401
    assert app.forged == 1 and len(app.payloads) == 2


async def test_pressing_what_the_message_lacks(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    ts = post_asks(bot)
    status, detail = control_refusal(lambda: fresh_sandbox.press(BOB, ts, "no_such_action"))
    assert status == 404 and "no button no_such_action" in detail and "answer ('yes')" in detail
    assert control_refusal(lambda: fresh_sandbox.press(BOB, ts, "answer", value="maybe"))[0] == 404
    assert control_refusal(lambda: fresh_sandbox.press(BOB, "1.000000", "answer"))[0] == 404
    assert control_refusal(lambda: fresh_sandbox.press(BOB, ts, "answer", channel="C0GENERAL"))[0] == 404
    assert control_refusal(lambda: fresh_sandbox.press("U0NOBODY", ts, "answer"))[0] == 404
    assert app.payloads == []

    fresh_sandbox.slack_app(None)
    status, detail = control_refusal(lambda: fresh_sandbox.press(BOB, ts, "answer"))
    assert status == 409 and "PUT /_sandbox/slack/app" in detail


# --- submitting a modal -----------------------------------------------------------------------


async def test_a_submission_carries_the_values_as_slack_shapes_them(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    entered = {"note": "All quiet", "teams": ["billing"], "ack": ["read"], "minutes": 45}
    answer = fresh_sandbox.submit(BOB, opened["id"], entered)
    assert answer == {"status": 200, "response": None, "view": None, "errors": {}}, "an empty 200 closes it"
    assert fresh_sandbox.views(BOB) == []

    payload = app.payloads[-1]
    assert payload["type"] == "view_submission" and TRIGGER.match(payload["trigger_id"])
    assert payload["user"]["id"] == BOB and payload["team"]["id"] == "T0NOVALIEN"
    assert (payload["response_urls"], payload["is_enterprise_install"]) == ([], False)
    view = payload["view"]
    assert (view["id"], view["hash"], view["callback_id"], view["private_metadata"]) == (
        opened["id"],
        opened["hash"],
        "handover_note",
        "handover-alice",
    )
    assert view["state"]["values"] == {
        "note": {"text": {"type": "plain_text_input", "value": "All quiet"}},
        "severity": {"pick": {"type": "static_select", "selected_option": SEV2}},  # its initial option
        "teams": {"pick": {"type": "multi_static_select", "selected_options": [BILLING]}},
        "ack": {"pick": {"type": "checkboxes", "selected_options": [READ]}},
        "minutes": {"n": {"type": "number_input", "value": "45"}},
    }


async def test_errors_from_the_app_keep_the_view_open(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    answer = fresh_sandbox.submit(BOB, opened["id"], {"note": "errors", "severity": "sev1"})
    assert answer["status"] == 200 and answer["response"]["response_action"] == "errors"
    assert answer["errors"] == {"note": "Say what is left to do."}
    assert answer["view"]["id"] == opened["id"]
    [shown] = fresh_sandbox.views(BOB)
    assert shown["errors"] == {"note": "Say what is left to do."}
    assert shown["state"]["values"]["severity"]["pick"]["selected_option"] == SEV1

    # Fixed, it goes through; what was entered before is still shown, so submitted.
    assert fresh_sandbox.submit(BOB, opened["id"], {"note": "Watch p99"})["view"] is None
    values = app.payloads[-1]["view"]["state"]["values"]
    assert (
        values["severity"]["pick"]["selected_option"] == SEV1
        and values["note"]["text"]["value"] == "Watch p99"
    )


async def test_an_update_from_the_app_replaces_the_view(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    answer = fresh_sandbox.submit(BOB, opened["id"], {"note": "update"})
    assert answer["status"] == 200 and answer["errors"] == {}
    assert answer["view"]["id"] == opened["id"] and answer["view"]["hash"] != opened["hash"]
    assert [v["title"] for v in fresh_sandbox.views(BOB)] == [label("Saved")]


async def test_an_app_error_leaves_the_view_open(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    answer = fresh_sandbox.submit(BOB, opened["id"], {"note": "broken"})
    assert answer["status"] == 500 and "Slack shows an error" in answer["failure"]
    assert [v["id"] for v in fresh_sandbox.views(BOB)] == [opened["id"]]


async def test_an_app_that_does_not_answer_in_3_seconds(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    monkeypatch.setattr(interactivity, "SUBMIT_SECONDS", 0.2)
    answer = fresh_sandbox.submit(BOB, opened["id"], {"note": "slow"})
    assert (answer["status"], answer["view"]["id"]) == ("failed", opened["id"])
    assert "did not answer within" in answer["failure"]


@pytest.mark.parametrize(
    ("entered", "error"),
    [
        ({}, "Please fill out this field."),
        ({"note": ""}, "Please fill out this field."),
        ({"note": "x"}, "Please use at least 2 characters."),
        ({"note": "x" * 41}, "Please use no more than 40 characters."),
    ],
    ids=["not-given", "empty", "too-short", "too-long"],
)
async def test_slack_itself_refuses_and_tells_the_app_nothing(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient, entered: dict, error: str
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    heard = len(app.payloads)
    answer = fresh_sandbox.submit(BOB, opened["id"], entered)
    assert (answer["status"], answer["errors"]) == ("refused_by_slack", {"note": error})
    assert len(app.payloads) == heard, "nothing was sent to the app"
    assert fresh_sandbox.views(BOB)[0]["errors"] == {"note": error}


async def test_what_the_view_cannot_take_is_refused_by_the_control_route(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    opened = open_for_bob(fresh_sandbox, bot, app)
    heard = len(app.payloads)
    status, detail = control_refusal(lambda: fresh_sandbox.submit(BOB, opened["id"], {"severity": "sev9"}))
    assert status == 400 and "'sev9' is not an option of block severity" in detail
    bad_team = {"note": "ok", "teams": ["platform", "marketing"]}
    assert control_refusal(lambda: fresh_sandbox.submit(BOB, opened["id"], bad_team))[0] == 400
    assert control_refusal(lambda: fresh_sandbox.submit(BOB, opened["id"], {"nope": "x"}))[0] == 400
    assert control_refusal(lambda: fresh_sandbox.submit(ALICE, opened["id"], {"note": "ok"}))[0] == 404
    assert control_refusal(lambda: fresh_sandbox.submit(BOB, "VNOSUCHVIEW", {"note": "ok"}))[0] == 404
    assert len(app.payloads) == heard


# --- response_url -----------------------------------------------------------------------------


async def test_a_response_url_answers_five_times(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    ts = post_asks(bot)
    pressed = fresh_sandbox.press(BOB, ts, "answer", value="quiet")
    hook = WebhookClient(pressed["response_url"], ssl=fresh_sandbox.ssl_context())

    def history() -> list[dict[str, Any]]:
        return bot.conversations_history(channel=CHANNEL, limit=3)["messages"]

    sent = hook.send(text="Only you see this")
    assert (sent.status_code, json.loads(sent.body)) == (200, {"ok": True})
    [shown] = fresh_sandbox.ephemeral(BOB)
    assert {k: shown[k] for k in ("user", "channel", "text", "blocks")} == {
        "user": BOB,
        "channel": CHANNEL,
        "text": "Only you see this",
        "blocks": None,
    }
    assert fresh_sandbox.ephemeral(ALICE) == []
    assert all(m["text"] != "Only you see this" for m in history()), "never in the channel's history"

    blocks = [{"type": "section", "block_id": "took", "text": {"type": "mrkdwn", "text": "Bob took it"}}]
    assert hook.send(text="Bob took it", blocks=blocks, replace_original=True).status_code == 200
    replaced = next(m for m in history() if m["ts"] == ts)
    assert (replaced["text"], replaced["blocks"]) == ("Bob took it", blocks)

    assert hook.send(text="Bob has the pager", response_type="in_channel").status_code == 200
    newest = history()[0]
    assert (newest["text"], newest["user"], newest["bot_id"]) == (
        "Bob has the pager",
        "U0HANDOVER",
        "B0HANDOVER",
    )

    assert [hook.send(text=f"again {n}").status_code for n in range(2)] == [200, 200]
    sixth = hook.send(text="one too many")
    assert (sixth.status_code, json.loads(sixth.body)) == (404, {"ok": False, "error": "expired_url"})
    assert len(fresh_sandbox.ephemeral(BOB)) == 3

    path = urlparse(pressed["response_url"]).path
    answered = [w for w in fresh_sandbox.writes("slack") if w["path"] == path]
    assert [(w["status"], w["actor"]) for w in answered] == [(200, "U0HANDOVER")] * 5 + [(404, "U0HANDOVER")]
    assert [w["result"].get("response_type") or w["result"].get("replaced") for w in answered[:3]] == [
        "ephemeral",
        True,
        "in_channel",
    ]
    assert answered[0]["body"]["text"] == "Only you see this"

    unknown = WebhookClient(
        f"{fresh_sandbox.base_url}/_sandbox/slack/responses/nope", ssl=fresh_sandbox.ssl_context()
    )
    nope = unknown.send(text="x")
    assert (nope.status_code, json.loads(nope.body)) == (404, {"ok": False, "error": "invalid_token"})


async def test_a_response_url_expires_after_30_minutes(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pressed = fresh_sandbox.press(BOB, post_asks(bot), "answer", value="quiet")
    monkeypatch.setattr(interactivity, "RESPONSE_URL_SECONDS", 0)
    late = WebhookClient(pressed["response_url"], ssl=fresh_sandbox.ssl_context()).send(text="late")
    assert (late.status_code, json.loads(late.body)["error"]) == (404, "expired_url")
    assert fresh_sandbox.ephemeral(BOB) == []


# --- reset ------------------------------------------------------------------------------------


async def test_a_reset_closes_the_views_and_keeps_the_app(
    app: App, fresh_sandbox: SandboxHandle, bot: WebClient
) -> None:
    open_for_bob(fresh_sandbox, bot, app)
    hook = WebhookClient(app.payloads[-1]["response_url"], ssl=fresh_sandbox.ssl_context())
    hook.send(text="Only you see this")
    assert fresh_sandbox.views(BOB) and fresh_sandbox.ephemeral(BOB)

    fresh_sandbox.reset()
    assert fresh_sandbox.views(BOB) == [] and fresh_sandbox.ephemeral(BOB) == []
    assert json.loads(hook.send(text="after the reset").body)["error"] == "invalid_token"
    with fresh_sandbox.control() as control:
        assert control.get("/slack/app").json() == {"request_url": app.url}, "the app's settings stay"
    open_for_bob(fresh_sandbox, bot, app)
    assert len(fresh_sandbox.views(BOB)) == 1
