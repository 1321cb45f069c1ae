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
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.state import (
    USER_SCOPES,
    Channel,
    Message,
    Reaction,
    SlackState,
    State,
    Store,
    ts_key,
    utcnow,
)

PREFIX = "/slack/api"
WRITE_METHODS = {"chat.postMessage", "reactions.add"}
DEFAULT_PAGE = 100
MAX_PAGE = 999
MAX_TEXT = 40_000
"""Characters of `text` chat.postMessage takes; beyond it Slack answers `msg_too_long`."""
REACTION_USERS_SHOWN = 50
"""reactions.get without `full=true` lists at most this many users per reaction (`count` stays
whole), as Slack does for busy messages."""
ACCEPTED_SCOPES = {
    "auth.test": "",
    "users.lookupByEmail": "users:read.email",
    "chat.postMessage": "chat:write",
    "conversations.history": "channels:history,groups:history,mpim:history,im:history",
    "conversations.replies": "channels:history,groups:history,mpim:history,im:history",
    "conversations.info": "channels:read,groups:read,mpim:read,im:read",
    "reactions.get": "reactions:read",
    "reactions.add": "reactions:write",
}
"""What each method accepts (Slack's `x-accepted-oauth-scopes` header)."""

router = APIRouter(prefix=PREFIX)


class SlackError(Exception):
    def __init__(self, error: str, **extra: str) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra
        """More fields of the answer, e.g. `needed` and `provided` of a `missing_scope`."""


def failure(error: str, headers: dict[str, str] | None = None, **extra: str) -> JSONResponse:
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

    def arg(self, name: str) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def flag(self, name: str) -> bool:
        value = self.args.get(name)
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
        args.update(parse_body(request.headers.get("content-type", ""), await request.body()))
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


def users_lookup_by_email(call: Call) -> dict[str, Any]:
    call.require("users:read.email")
    email = (call.arg("email") or "").strip().lower()
    user = next((u for u in call.slack.users.values() if u.email.lower() == email), None)
    if user is None:
        raise SlackError("users_not_found")
    return {
        "user": {
            "id": user.id,
            "team_id": call.slack.team.id,
            "name": user.name,
            "deleted": False,
            "real_name": user.real_name,
            "tz": user.tz,
            "profile": {
                "real_name": user.real_name,
                "display_name": user.name,
                "real_name_normalized": user.real_name,
                "display_name_normalized": user.name,
                "email": user.email,
                "team": call.slack.team.id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
        }
    }


def _json_argument(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


def chat_post_message(call: Call) -> dict[str, Any]:
    slack = call.slack
    call.require("chat:write")
    channel = visible_channel(call, call.arg("channel"), by_name=True)
    if channel.is_archived:
        raise SlackError("is_archived")
    if call.user_id not in channel.members and (channel.is_private or "chat:write.public" not in call.scopes):
        raise SlackError("not_in_channel")
    text = call.args.get("text") or ""
    if len(str(text)) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks = _json_argument(call.args.get("blocks"), "invalid_blocks_format")
    if blocks is not None and (not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks)):
        raise SlackError("invalid_blocks")
    if not text and not blocks and not call.args.get("attachments"):
        raise SlackError("no_text")
    metadata = _json_argument(call.args.get("metadata"), "invalid_metadata_format")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")

    parent = None
    if call.arg("thread_ts"):
        parent = find_message(channel, call.arg("thread_ts"))
        if parent is None:
            raise SlackError("thread_not_found")
        if parent.thread_ts and parent.thread_ts != parent.ts:
            parent = find_message(channel, parent.thread_ts)

    message = Message(
        ts=call.store.clock.next(utcnow()),
        user=call.user_id,
        text=text,
        blocks=blocks,
        metadata={"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
        if metadata
        else None,
    )
    if call.is_bot:
        message.bot_id, message.app_id = slack.bot.bot_id, slack.bot.app_id
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


METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "auth.test": auth_test,
    "users.lookupByEmail": users_lookup_by_email,
    "chat.postMessage": chat_post_message,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "reactions.get": reactions_get,
    "reactions.add": reactions_add,
}
