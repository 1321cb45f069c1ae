"""Slack Web API, the subset the handover uses, as Slack answers it.

Mounted at `/slack/api/`, so `slack_sdk.WebClient(base_url=".../slack/api/")` works unchanged.
Slack's conventions: every method takes its arguments as a form body, a JSON body or a query
string (the sync `WebClient` POSTs even the "GET" methods as forms); every answer is HTTP 200
and `{"ok": false, "error": "..."}` says what went wrong; the token comes as
`Authorization: Bearer …` or a `token` argument.

As on a real workspace, a token has scopes and the bot is a member of some channels only: every
answer carries the token's `x-oauth-scopes`; a method whose scope is not granted answers
`missing_scope` (with `needed` and `provided`); posting where the bot is not a member answers
`not_in_channel` (unless the bot has `chat:write.public` and the channel is public), and a private
channel is invisible (`channel_not_found`) to anyone who is not in it.

Modals (views.open, views.update) open with a trigger_id that the sandbox issues when a person
presses a button or submits a modal (sandbox/interactivity.py), and expire as Slack's do.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.state import (
    USER_SCOPES,
    Channel,
    Edited,
    Message,
    OpenView,
    Reaction,
    SlackState,
    SlackUser,
    State,
    Store,
    Trigger,
    ts_key,
    utcnow,
)

PREFIX = "/slack/api"
WRITE_METHODS = {"chat.postMessage", "chat.update", "reactions.add"}
DEFAULT_PAGE = 100
MAX_PAGE = 999
MAX_TEXT = 40_000
"""Characters of `text` chat.postMessage and chat.update take; beyond it Slack answers `msg_too_long`."""
REACTION_USERS_SHOWN = 50
"""reactions.get without `full=true` lists at most this many users per reaction (`count` stays
whole), as Slack does for busy messages."""
TRIGGER_SECONDS = 3.0
"""How long a trigger_id opens a view: Slack's triggers "expire in three seconds"."""
MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24
"""Characters of a modal's title, submit and close texts."""
MAX_VIEW_STRINGS = {"private_metadata": 3000, "callback_id": 255, "external_id": 255}
"""Characters of a view's strings, as Slack limits them."""
ACCEPTED_SCOPES = {
    "auth.test": "",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.history": "channels:history,groups:history,mpim:history,im:history",
    "conversations.replies": "channels:history,groups:history,mpim:history,im:history",
    "conversations.info": "channels:read,groups:read,mpim:read,im:read",
    "reactions.get": "reactions:read",
    "reactions.add": "reactions:write",
    "views.open": "",
    "views.update": "",
}
"""What each method accepts (Slack's `x-accepted-oauth-scopes` header)."""

READ_METHODS = {
    "auth.test",
    "users.lookupByEmail",
    "users.info",
    "conversations.history",
    "conversations.replies",
    "conversations.info",
    "reactions.get",
}
"""Methods that ignore a JSON body (Slack reads JSON for write methods only)."""

router = APIRouter(prefix=PREFIX)


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra
        """More fields of the answer, e.g. `needed` and `provided` of a `missing_scope`."""


def failure(error: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, headers=headers)


@dataclass
class Call:
    """One Web API call: its arguments, who makes it, and the state it works on."""

    request: Request
    store: Store
    args: dict[str, Any]
    user_id: str
    is_bot: bool

    @property
    def slack(self) -> SlackState:
        return self.store.state.slack

    @property
    def scopes(self) -> list[str]:
        """The token's granted scopes: the bot's from the scenario; a person's, every one we use."""
        return list(self.slack.bot.scopes) if self.is_bot else list(USER_SCOPES)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(self.scopes))

    def require_bot(self) -> None:
        """Modals belong to the app: Slack takes its bot token, not a person's."""
        if not self.is_bot:
            raise SlackError("not_allowed_token_type")

    def arg(self, name: str) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def flag(self, name: str) -> bool:
        return truthy(self.args.get(name))


def truthy(value: Any) -> bool:
    """A boolean argument as Slack reads it: true, "true" or "1"."""
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true") if value is not None else False


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """A Slack request body: JSON or form-encoded. Raises SlackError for what Slack would refuse."""
    if not raw:
        return {}
    if "application/json" in content_type:
        try:
            body = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        return body
    if "multipart/form-data" in content_type:
        raise SlackError("invalid_form_data")
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def bearer_token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = args.get("token")
    return token if isinstance(token, str) and token else None


def token_owner(state: State, token: str | None) -> tuple[str, bool] | None:
    """(user id, is the bot) for a token of the scenario, else None."""
    if not token:
        return None
    if token == state.tokens.slack_bot_token:
        return state.slack.bot.user_id, True
    for user in state.slack.users.values():
        if user.user_token and user.user_token == token:
            return user.id, False
    return None


@router.api_route("/{method}", methods=["GET", "POST"])
async def web_api(request: Request, method: str) -> JSONResponse:
    store: Store = request.app.state.store
    handler = METHODS.get(method)
    if handler is None:
        return failure("unknown_method")
    headers: dict[str, str] = {}
    try:
        args: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        body = parse_body(content_type, await request.body())
        if "application/json" in content_type and method in READ_METHODS:
            body = {}  # As Slack: only write methods read a JSON body; a read takes a form or a query.
        args.update(body)
        token = bearer_token(request, args)
        if token is None:
            raise SlackError("not_authed")
        owner = token_owner(store.state, token)
        if owner is None:
            raise SlackError("invalid_auth")
        request.state.actor = owner[0]
        call = Call(request=request, store=store, args=args, user_id=owner[0], is_bot=owner[1])
        headers = {
            "x-oauth-scopes": ",".join(call.scopes),
            "x-accepted-oauth-scopes": ACCEPTED_SCOPES[method],
        }
        result = handler(call)
    except SlackError as error:
        # Slack answers errors with HTTP 200, so the write log keeps the error in the result.
        request.state.write_result = {"error": error.error}
        return failure(error.error, headers, **error.extra)
    return JSONResponse({"ok": True, **result}, headers=headers)


# --- helpers -------------------------------------------------------------------------------


def find_channel(slack: SlackState, value: str | None, *, by_name: bool = False) -> Channel:
    """A channel by id, or (where Slack allows it, as in chat.postMessage) by `#name`."""
    if not value:
        raise SlackError("channel_not_found")
    if value in slack.channels:
        return slack.channels[value]
    if by_name:
        name = value.removeprefix("#")
        for channel in slack.channels.values():
            if channel.name == name:
                return channel
    raise SlackError("channel_not_found")


def visible_channel(call: Call, value: str | None, *, by_name: bool = False) -> Channel:
    """A channel the caller may know of: a private one exists only for its members."""
    channel = find_channel(call.slack, value, by_name=by_name)
    if channel.is_private and call.user_id not in channel.members:
        raise SlackError("channel_not_found")
    return channel


def require_channel_scope(call: Call, channel: Channel, kind: str) -> None:
    """`channels:<kind>` for a public channel, `groups:<kind>` for a private one."""
    call.require(f"{'groups' if channel.is_private else 'channels'}:{kind}")


def readable_channel(call: Call) -> Channel:
    """The `channel` argument of conversations.history/replies: the caller must be in it."""
    channel = visible_channel(call, call.arg("channel"))
    require_channel_scope(call, channel, "history")
    if call.user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def find_message(channel: Channel, ts: str | None) -> Message | None:
    return next((m for m in channel.messages if m.ts == ts), None) if ts else None


def replies_of(channel: Channel, parent: Message) -> list[Message]:
    return [m for m in channel.messages if m.thread_ts == parent.ts and m.ts != parent.ts]


def render(slack: SlackState, channel: Channel, message: Message, *, metadata: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
        "team": slack.team.id,
    }
    if message.bot_id:
        body["bot_id"] = message.bot_id
        body["app_id"] = message.app_id
    if message.blocks is not None:
        body["blocks"] = message.blocks
    if message.thread_ts:
        body["thread_ts"] = message.thread_ts
    if message.thread_ts == message.ts:
        replies = replies_of(channel, message)
        users = list(dict.fromkeys(r.user for r in replies))
        body.update(
            reply_count=len(replies),
            reply_users_count=len(users),
            latest_reply=replies[-1].ts if replies else message.ts,
            reply_users=users,
            is_locked=False,
            subscribed=False,
        )
    elif message.thread_ts:
        parent = find_message(channel, message.thread_ts)
        body["parent_user_id"] = parent.user if parent else None
        if message.broadcast:
            body["subtype"] = "thread_broadcast"
    if message.reactions:
        body["reactions"] = [
            {"name": r.name, "users": r.users, "count": len(r.users)} for r in message.reactions
        ]
    if message.edited:
        body["edited"] = {"user": message.edited.user, "ts": message.edited.ts}
    if metadata and message.metadata:
        body["metadata"] = message.metadata
    return body


def ts_argument(value: str | None, error: str) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        return ts_key(value)
    except ValueError:
        raise SlackError(error) from None


def encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        if not text.startswith("next_ts:"):
            raise ValueError(cursor)
        return ts_key(text.removeprefix("next_ts:"))
    except (ValueError, binascii.Error):
        raise SlackError("invalid_cursor") from None


def page_size(call: Call) -> int:
    value = call.arg("limit")
    if value is None:
        return DEFAULT_PAGE
    try:
        limit = int(value)
    except ValueError:
        raise SlackError("invalid_limit") from None
    return DEFAULT_PAGE if limit < 1 else min(limit, MAX_PAGE)


def in_window(call: Call, messages: list[Message]) -> list[Message]:
    """Keeps messages between `oldest` and `latest` (bounds excluded unless `inclusive`)."""
    oldest = ts_argument(call.arg("oldest"), "invalid_ts_oldest")
    latest = ts_argument(call.arg("latest"), "invalid_ts_latest")
    inclusive = call.flag("inclusive")
    kept = []
    for message in messages:
        key = ts_key(message.ts)
        if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
            continue
        if latest is not None and (key > latest or (key == latest and not inclusive)):
            continue
        kept.append(message)
    return kept


def paginated(call: Call, channel: Channel, messages: list[Message], *, newest_first: bool) -> dict[str, Any]:
    limit = page_size(call)
    cursor = decode_cursor(call.arg("cursor"))
    if cursor is not None:
        messages = [
            m for m in messages if (ts_key(m.ts) <= cursor if newest_first else ts_key(m.ts) >= cursor)
        ]
    page, rest = messages[:limit], messages[limit:]
    metadata = call.flag("include_all_metadata")
    return {
        "messages": [render(call.slack, channel, m, metadata=metadata) for m in page],
        "has_more": bool(rest),
        "response_metadata": {"next_cursor": encode_cursor(rest[0].ts) if rest else ""},
    }


# --- methods -------------------------------------------------------------------------------


def auth_test(call: Call) -> dict[str, Any]:
    slack = call.slack
    name = slack.bot.name if call.is_bot else slack.users[call.user_id].name
    result = {
        "url": f"https://{slack.team.domain}.slack.com/",
        "team": slack.team.name,
        "user": name,
        "team_id": slack.team.id,
        "user_id": call.user_id,
        "is_enterprise_install": False,
    }
    if call.is_bot:
        result["bot_id"] = slack.bot.bot_id
    return result


def render_user(slack: SlackState, user: SlackUser, *, email: bool) -> dict[str, Any]:
    """A person as users.info and users.lookupByEmail answer; `profile.email` only for a token
    with `users:read.email`, as Slack hides it otherwise."""
    profile = {
        "real_name": user.real_name,
        "display_name": user.name,
        "real_name_normalized": user.real_name,
        "display_name_normalized": user.name,
        "team": slack.team.id,
    }
    if email:
        profile["email"] = user.email
    return {
        "id": user.id,
        "team_id": slack.team.id,
        "name": user.name,
        "deleted": False,
        "real_name": user.real_name,
        "tz": user.tz,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": False,
        "is_app_user": False,
    }


def users_info(call: Call) -> dict[str, Any]:
    call.require("users:read")
    user = call.slack.users.get(call.arg("user") or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"user": render_user(call.slack, user, email="users:read.email" in call.scopes)}


def users_lookup_by_email(call: Call) -> dict[str, Any]:
    call.require("users:read.email")
    email = (call.arg("email") or "").strip().lower()
    user = next((u for u in call.slack.users.values() if u.email.lower() == email), None)
    if user is None:
        raise SlackError("users_not_found")
    return {"user": render_user(call.slack, user, email=True)}


def _json_argument(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


@dataclass
class Content:
    """What a message says, as chat.postMessage, chat.update or a response_url is given it."""

    text: str | None
    """None when not given."""
    blocks: list[dict[str, Any]] | None
    """None when not given; `[]` removes a message's blocks (chat.update)."""
    metadata: dict[str, Any] | None


def message_content(args: dict[str, Any]) -> Content:
    """`text`, `blocks` and `metadata`, refused as Slack refuses them: `msg_too_long`,
    `invalid_blocks_format` (not JSON), `invalid_blocks`, `no_text` (neither text nor blocks),
    `invalid_metadata_format`."""
    text = args.get("text")
    text = None if text is None or text == "" else str(text)
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks = _json_argument(args.get("blocks"), "invalid_blocks_format")
    if blocks is not None and (not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks)):
        raise SlackError("invalid_blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    metadata = _json_argument(args.get("metadata"), "invalid_metadata_format")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    if metadata is not None:
        metadata = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
    return Content(text=text, blocks=blocks, metadata=metadata)


def elements_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A block's interactive elements: an `actions` block's, an `input` block's, a section's accessory."""
    if block.get("type") == "actions":
        return [e for e in block.get("elements") or [] if isinstance(e, dict)]
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    accessory = block.get("accessory")
    if block.get("type") == "section" and isinstance(accessory, dict) and accessory.get("type") != "image":
        return [accessory]
    return []


def with_ids(store: Store, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks as Slack keeps them: every block has a `block_id` and every interactive element an
    `action_id`, made up where the app gave none."""
    blocks = deepcopy(blocks)
    for block in blocks:
        block.setdefault("block_id", store.ids.new("", 5))
        for element in elements_of(block):
            element.setdefault("action_id", store.ids.new("", 5))
    return blocks


def new_message(store: Store, slack: SlackState, user: str, content: Content) -> Message:
    """A message `user` posts now (the bot's carries its bot and app ids)."""
    message = Message(
        ts=store.clock.next(utcnow()),
        user=user,
        text=content.text or "",
        blocks=with_ids(store, content.blocks) if content.blocks else None,
        metadata=content.metadata,
    )
    if user == slack.bot.user_id:
        message.bot_id, message.app_id = slack.bot.bot_id, slack.bot.app_id
    return message


def update_message(store: Store, message: Message, content: Content, editor: str) -> None:
    """chat.update's change: blocks given replace the message's (`[]` removes them); text given
    without blocks replaces the text and drops the blocks (Slack renders the text then); metadata
    is kept unless new metadata is given. Slack marks the message `edited`."""
    if content.blocks is not None:
        message.blocks = with_ids(store, content.blocks) or None
    elif content.text is not None:
        message.blocks = None
    if content.text is not None:
        message.text = content.text
    if content.metadata is not None:
        message.metadata = content.metadata
    message.edited = Edited(user=editor, ts=store.clock.next(utcnow()))


def chat_post_message(call: Call) -> dict[str, Any]:
    slack = call.slack
    call.require("chat:write")
    channel = visible_channel(call, call.arg("channel"), by_name=True)
    if channel.is_archived:
        raise SlackError("is_archived")
    if call.user_id not in channel.members and (channel.is_private or "chat:write.public" not in call.scopes):
        raise SlackError("not_in_channel")
    content = message_content(call.args)

    parent = None
    if call.arg("thread_ts"):
        parent = find_message(channel, call.arg("thread_ts"))
        if parent is None:
            raise SlackError("thread_not_found")
        if parent.thread_ts and parent.thread_ts != parent.ts:
            parent = find_message(channel, parent.thread_ts)

    message = new_message(call.store, slack, call.user_id, content)
    if parent is not None:
        parent.thread_ts = parent.ts
        message.thread_ts = parent.ts
        message.broadcast = call.flag("reply_broadcast")
    channel.messages.append(message)
    call.request.state.write_result = {
        "channel": channel.id,
        "ts": message.ts,
        "thread_ts": message.thread_ts,
    }
    return {
        "channel": channel.id,
        "ts": message.ts,
        "message": render(slack, channel, message, metadata=True),
    }


def chat_update(call: Call) -> dict[str, Any]:
    """Changes a message the caller posted: anyone else's is `cant_update_message`."""
    call.require("chat:write")
    channel = visible_channel(call, call.arg("channel"))
    message = find_message(channel, call.arg("ts"))
    if message is None:
        raise SlackError("message_not_found")
    if message.user != call.user_id:
        raise SlackError("cant_update_message")
    if channel.is_archived:
        raise SlackError("is_archived")
    update_message(call.store, message, message_content(call.args), call.user_id)
    call.request.state.write_result = {"channel": channel.id, "ts": message.ts}
    return {
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": render(call.slack, channel, message, metadata=True),
    }


def conversations_history(call: Call) -> dict[str, Any]:
    channel = readable_channel(call)
    # Thread replies stay in their thread unless they were broadcast to the channel.
    top = [m for m in channel.messages if m.thread_ts in (None, m.ts) or m.broadcast]
    newest_first = sorted(in_window(call, top), key=lambda m: ts_key(m.ts), reverse=True)
    return {"pin_count": 0, **paginated(call, channel, newest_first, newest_first=True)}


def conversations_replies(call: Call) -> dict[str, Any]:
    channel = readable_channel(call)
    message = find_message(channel, call.arg("ts"))
    if message is None:
        raise SlackError("thread_not_found")
    parent = find_message(channel, message.thread_ts) if message.thread_ts else message
    if parent is None:
        raise SlackError("thread_not_found")
    thread = [parent, *sorted(replies_of(channel, parent), key=lambda m: ts_key(m.ts))]
    return paginated(call, channel, in_window(call, thread), newest_first=False)


def conversations_info(call: Call) -> dict[str, Any]:
    channel = visible_channel(call, call.arg("channel"))
    require_channel_scope(call, channel, "read")
    created = int(ts_key(channel.messages[0].ts)[0]) if channel.messages else 0
    return {
        "channel": {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_general": channel.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": call.user_id in channel.members,
            "created": created,
            "context_team_id": call.slack.team.id,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            **({"num_members": len(channel.members)} if call.flag("include_num_members") else {}),
        }
    }


def reactions_get(call: Call) -> dict[str, Any]:
    call.require("reactions:read")
    channel = visible_channel(call, call.arg("channel"))
    message = find_message(channel, call.arg("timestamp"))
    if message is None:
        raise SlackError("message_not_found")
    rendered = render(call.slack, channel, message, metadata=False)
    if not call.flag("full"):
        for reaction in rendered.get("reactions", []):
            reaction["users"] = reaction["users"][:REACTION_USERS_SHOWN]  # `count` stays whole
    return {"type": "message", "channel": channel.id, "message": rendered}


def reactions_add(call: Call) -> dict[str, Any]:
    call.require("reactions:write")
    channel = visible_channel(call, call.arg("channel"))
    name = (call.arg("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    message = find_message(channel, call.arg("timestamp"))
    if message is None:
        raise SlackError("message_not_found")
    reaction = next((r for r in message.reactions if r.name == name), None)
    if reaction is None:
        reaction = Reaction(name=name, users=[])
        message.reactions.append(reaction)
    if call.user_id in reaction.users:
        raise SlackError("already_reacted")
    reaction.users.append(call.user_id)
    call.request.state.write_result = {
        "channel": channel.id,
        "timestamp": message.ts,
        "name": name,
        "user": call.user_id,
    }
    return {}


# --- modals --------------------------------------------------------------------------------


def new_trigger(store: Store, user: str) -> str:
    """A trigger_id for an interaction of `user`, shaped like Slack's (`<digits>.<digits>.<hex>`)."""
    trigger_id = f"{secrets.randbelow(10**10):010d}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}"
    store.state.slack.triggers[trigger_id] = Trigger(user=user, issued=time.monotonic())
    return trigger_id


def usable_trigger(slack: SlackState, trigger_id: str | None) -> Trigger:
    """The trigger of a views.open: one Slack issued (`invalid_trigger_id`), not used yet
    (`exchanged_trigger_id`), within TRIGGER_SECONDS (`expired_trigger_id`)."""
    if not trigger_id:
        raise invalid_arguments("[ERROR] missing required field: trigger_id")
    trigger = slack.triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger.exchanged:
        raise SlackError("exchanged_trigger_id")
    if time.monotonic() - trigger.issued > TRIGGER_SECONDS:
        raise SlackError("expired_trigger_id")
    return trigger


def invalid_arguments(message: str) -> SlackError:
    """Slack's `invalid_arguments`, saying what is wrong in `response_metadata.messages`."""
    return SlackError("invalid_arguments", response_metadata={"messages": [message]})


def invalid_view(problem: str, pointer: str) -> SlackError:
    """`invalid_arguments` for a view, with where in it, as Slack's messages say it."""
    return invalid_arguments(f"[ERROR] {problem} [json-pointer:/view{pointer}]")


def _check_text(view: dict[str, Any], field: str, *, required: bool) -> None:
    value = view.get(field)
    if value is None:
        if required:
            raise invalid_view(f"missing required field: {field}", "")
        return
    text = value.get("text") if isinstance(value, dict) and value.get("type") == "plain_text" else None
    if not isinstance(text, str):
        raise invalid_view("must be a plain_text text object", f"/{field}")
    if len(text) > MAX_VIEW_TITLE:
        raise invalid_view(f"must be less than {MAX_VIEW_TITLE + 1} characters", f"/{field}/text")


def checked_view(value: Any) -> dict[str, Any]:
    """A modal's definition (a JSON string or an object), refused with `invalid_arguments` where
    Slack refuses it: not a modal, no title, no blocks, more than 100 blocks, a title, submit or
    close over 24 characters, input blocks without a submit button."""
    if value is None or value == "":
        raise invalid_view("missing required field: view", "")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise invalid_view("failed to parse the view as JSON", "") from None
    if not isinstance(value, dict):
        raise invalid_view("must be an object", "")
    if value.get("type") != "modal":
        raise invalid_view(f"unsupported type: {value.get('type')}", "/type")
    _check_text(value, "title", required=True)
    _check_text(value, "submit", required=False)
    _check_text(value, "close", required=False)
    blocks = value.get("blocks")
    if blocks is None:
        raise invalid_view("missing required field: blocks", "")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise invalid_view("must be an array of blocks", "/blocks")
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise invalid_view(f"no more than {MAX_VIEW_BLOCKS} items allowed", "/blocks")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        raise invalid_view("block_id must be unique", "/blocks")
    for n, block in enumerate(blocks):
        if block.get("type") == "input":
            if not isinstance(block.get("element"), dict):
                raise invalid_view("missing required field: element", f"/blocks/{n}")
            if not isinstance(block.get("label"), dict):
                raise invalid_view("missing required field: label", f"/blocks/{n}")
            if value.get("submit") is None:
                raise invalid_view("submit is required when an input block is within the blocks array", "")
    for field, limit in MAX_VIEW_STRINGS.items():
        if len(str(value.get(field) or "")) > limit:
            raise invalid_view(f"must be less than {limit + 1} characters", f"/{field}")
    return value


def new_hash(old: str | None = None) -> str:
    """A view's hash, like Slack's `156772938.1827394`: a new one on every change."""
    while True:
        made = f"{int(time.time())}.{secrets.randbelow(10**8):08d}"
        if made != old:
            return made


def input_ids(blocks: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """block_id -> (action_id, element type) of a view's input blocks."""
    return {
        block["block_id"]: (block["element"]["action_id"], block["element"].get("type", ""))
        for block in blocks
        if block.get("type") == "input"
    }


def stored_view(
    store: Store, definition: dict[str, Any], earlier: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A view as Slack keeps and answers it. Made over an `earlier` one (views.update, or an app's
    `response_action: update`), it keeps its id and a new hash, and what the person entered in the
    input blocks whose block_id and action_id stay the same ("preserving input entry")."""
    slack = store.state.slack
    blocks = with_ids(store, definition["blocks"])
    view_id = earlier["id"] if earlier else store.ids.new("V", 11)
    values: dict[str, Any] = {}
    if earlier:
        now = input_ids(blocks)
        before = input_ids(earlier["blocks"])
        values = {
            block_id: entry
            for block_id, entry in earlier["state"]["values"].items()
            if block_id in now and now[block_id] == before.get(block_id)
        }
    return {
        "id": view_id,
        "team_id": slack.team.id,
        "type": "modal",
        "title": definition["title"],
        "blocks": blocks,
        "close": definition.get("close"),
        "submit": definition.get("submit"),
        "private_metadata": str(definition.get("private_metadata") or ""),
        "callback_id": str(definition.get("callback_id") or ""),
        "state": {"values": values},
        "hash": new_hash(earlier["hash"] if earlier else None),
        "clear_on_close": bool(definition.get("clear_on_close", False)),
        "notify_on_close": bool(definition.get("notify_on_close", False)),
        "external_id": str(definition.get("external_id") or (earlier or {}).get("external_id") or ""),
        "app_id": slack.bot.app_id,
        "app_installed_team_id": slack.team.id,
        "bot_id": slack.bot.bot_id,
        "root_view_id": earlier["root_view_id"] if earlier else view_id,
        "previous_view_id": None,
    }


def unique_external_id(slack: SlackState, definition: dict[str, Any], view_id: str | None = None) -> None:
    """An external_id names one view of the workspace: `duplicate_external_id` otherwise."""
    external_id = definition.get("external_id")
    if external_id and any(
        v.view["external_id"] == external_id and v.view["id"] != view_id for v in slack.views.values()
    ):
        raise SlackError("duplicate_external_id")


def replace_view(store: Store, open_view: OpenView, definition: dict[str, Any]) -> dict[str, Any]:
    """An open view changed to a new (checked) definition: same id, a new hash, errors gone."""
    unique_external_id(store.state.slack, definition, open_view.view["id"])
    open_view.view = stored_view(store, definition, earlier=open_view.view)
    open_view.errors = {}
    return open_view.view


def views_open(call: Call) -> dict[str, Any]:
    """Opens a modal for the person whose interaction issued the trigger."""
    call.require_bot()
    definition = checked_view(call.args.get("view"))
    trigger = usable_trigger(call.slack, call.arg("trigger_id"))
    unique_external_id(call.slack, definition)
    view = stored_view(call.store, definition)
    trigger.exchanged = True
    call.slack.views[view["id"]] = OpenView(user=trigger.user, view=view)
    return {"view": view}


def views_update(call: Call) -> dict[str, Any]:
    """Changes an open modal, found by `view_id` or `external_id`; a `hash` that is not the view's
    current one is a `hash_conflict` (someone changed it since)."""
    call.require_bot()
    view_id, external_id = call.arg("view_id"), call.arg("external_id")
    if not view_id and not external_id:
        raise invalid_arguments("[ERROR] either view_id or external_id is required")
    open_view = next(
        (
            v
            for v in call.slack.views.values()
            if (view_id and v.view["id"] == view_id) or (not view_id and v.view["external_id"] == external_id)
        ),
        None,
    )
    if open_view is None:
        raise SlackError("not_found")
    definition = checked_view(call.args.get("view"))
    given_hash = call.arg("hash")
    if given_hash and given_hash != open_view.view["hash"]:
        raise SlackError("hash_conflict")
    return {"view": replace_view(call.store, open_view, definition)}


METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "auth.test": auth_test,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "reactions.get": reactions_get,
    "reactions.add": reactions_add,
    "views.open": views_open,
    "views.update": views_update,
}
