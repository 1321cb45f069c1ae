"""Slack Web API: check the bot's access, find admins, post the handover summary and its thread, once.

Slack has no idempotency key, so every message carries metadata naming the handover and the
part it is (`event_type: oncall_handover`); before posting, the channel (or the thread) is read
for a message with that metadata, and a found one is reused.

On a real workspace the bot is in some channels only and has the scopes its app was installed
with: `check_slack_access` finds out at step 0, before anything is written, and says what to fix.
"""

from __future__ import annotations

import functools
import http.client
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory, CancelledError

from activities.checkpoint import Checkpoint
from activities.errors import Refused, alive, classify, non_retryable, seconds, unavailable, wrote
from handover import tracing
from handover.decisions import is_thumbs_up
from handover.errors import NotSetUp
from handover.models import ChannelThread, DigestEntry, Model
from handover.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.web import SlackResponse

API = "Slack"
EVENT_TYPE = "oncall_handover"
CREDENTIAL_ERRORS = {"not_authed", "invalid_auth", "account_inactive", "token_revoked"}
TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
"""Slack answers these with HTTP 200 and ok=false, but they are Slack's trouble, not ours: retried."""


class SlackRefused(Refused):
    """Slack's `ok: false` for a request: `code` is Slack's error; a `missing_scope` names the
    scope it `needed` and the ones the token was `provided` with."""

    def __init__(
        self, status: int, code: str, needed: str | None = None, provided: str | None = None
    ) -> None:
        missing_scope = code == "missing_scope"
        super().__init__(
            API, status, f"{code} (needed {needed}; granted: {provided})" if missing_scope else code
        )
        self.code, self.needed, self.provided = code, needed, provided


class SlackAccess(Model):
    """What the bot may do, as Slack says: its scopes (auth.test) and the channel (conversations.info)."""

    team: str
    bot_user_id: str
    bot_name: str
    channel_id: str
    channel_name: str
    is_private: bool
    scopes: list[str]


def required_scopes(*, private: bool, watch_reactions: bool) -> list[str]:
    """Every scope the methods below need: users.lookupByEmail, chat.postMessage,
    conversations.history/replies (look-before-write, the digest), conversations.info (this
    check), reactions.get (the watch of the summary's :+1:, unless switched off)."""
    kind = "groups" if private else "channels"
    scopes = ["users:read.email", "chat:write", f"{kind}:history", f"{kind}:read"]
    return [*scopes, "reactions:read"] if watch_reactions else scopes


def lacks_scopes(missing: list[str], granted: list[str]) -> str:
    """What to do about missing scopes, in a sentence."""
    which, them = (
        (f"the scope {missing[0]}", "it")
        if len(missing) == 1
        else (f"the scopes {', '.join(missing)}", "them")
    )
    return (
        f"the Slack token lacks {which} (granted: {', '.join(granted) or 'none'}): "
        f"add {them} to the app's bot token scopes and reinstall the app"
    )


class SummaryPost(Model):
    handover_id: str
    since: datetime
    """When the handover started: no earlier message can be its summary."""
    text: str
    blocks: list[dict] = []
    """Block Kit layout of the summary (its Acknowledge button); `text` is the fallback."""
    details: list[str]
    """Thread replies, in order."""


class ReactionWatch(Model):
    channel: str
    ts: str
    user_id: str
    """Whose :+1: counts (incoming's Slack id)."""


class PostedSummary(Model):
    channel: str
    ts: str


class SlackPost(Model):
    """One message of a handover, posted once: `part` names it among the handover's messages."""

    handover_id: str
    part: str
    text: str
    thread_ts: str | None = None
    """Reply in this thread; None posts in the channel."""
    since: datetime | None = None
    """For a channel message: when the handover started (no earlier message can be it)."""


@functools.cache
def _traced_web_client() -> type[WebClient]:
    """Made when Slack is first called, so that a worker running only the workflows
    (HANDOVER_WORKER_RUNS=workflows) never loads slack_sdk (docs/bench.md, P4)."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    class _TracedWebClient(WebClient):
        """One span per Web API call (handover/tracing.py)."""

        def api_call(
            self, api_method: str, *, http_verb: str = "POST", headers: dict | None = None, **kw: Any
        ):
            headers = dict(headers or {})
            with tracing.outbound("Slack", http_verb, f"{self.base_url}{api_method}", headers) as span:
                try:
                    response = super().api_call(api_method, http_verb=http_verb, headers=headers, **kw)
                except SlackApiError as error:
                    tracing.answered(span, error.response.status_code)
                    raise
                tracing.answered(span, response.status_code)
                return response

    return _TracedWebClient


def web_client(settings: Settings, timeout: int) -> WebClient:
    """Slack's Web API with the bot token (the worker's activities, the endpoint's few calls), retrying
    nothing by itself."""
    return _traced_web_client()(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_base_url,
        ssl=settings.ssl_context(),
        timeout=timeout,
        retry_handlers=[],
    )


class AsksPost(Model):
    """An admin's asks in the handover's thread (handover/slack_ui.py): posted once, then updated in
    place (`ts`: the message, once posted)."""

    handover_id: str
    part: str
    text: str
    blocks: list[dict]
    thread_ts: str
    ts: str | None = None


class SlackActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel = settings.slack_channel_id

    @functools.cached_property
    def _client(self) -> WebClient:
        # Temporal retries (activities/errors.py): the client itself does not.
        return web_client(self._settings, int(self._settings.http_timeout_seconds) or 1)

    def _call(self, method: str, **kw: Any) -> dict:
        return self._answer(method, **kw).data  # type: ignore[return-value]

    def _answer(self, method: str, **kw: Any) -> SlackResponse:
        reads = ("auth.test", "conversations.", "reactions.get", "users.")
        http_verb = "GET" if method.startswith(reads) else "POST"
        alive()
        from slack_sdk.errors import SlackApiError  # (loaded with the client)

        try:
            if http_verb == "GET":
                response = self._client.api_call(method, http_verb="GET", params=kw)
            else:
                response = self._client.api_call(method, json=kw)
            wrote(http_verb)
            return response
        except SlackApiError as error:
            status = error.response.status_code
            code = error.response.get("error", "unknown_error")
            if code in CREDENTIAL_ERRORS:
                raise classify(API, 401, code) from None
            if code in TRANSIENT_ERRORS and status != 429:
                raise unavailable(API, code) from None
            # Slack answers errors with HTTP 200 and ok=false; those are refusals of the request.
            status = status if status != 200 else 400
            if status in (401, 408, 429) or status >= 500:
                retry_after = seconds(error.response.headers.get("Retry-After"))
                raise classify(API, status, code, retry_after) from None
            raise SlackRefused(
                status, code, error.response.get("needed"), error.response.get("provided")
            ) from None
        except (OSError, TimeoutError, http.client.HTTPException) as error:  # (a dropped connection)
            raise unavailable(API, f"{type(error).__name__}: {error}") from None

    def _pages(self, method: str, **kw: Any) -> Iterator[dict]:
        cursor = None
        while True:
            page = self._call(method, **kw, **({"cursor": cursor} if cursor else {}))
            yield from page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _find(
        self, handover_id: str, part: str, *, oldest: str | None = None, thread_ts: str | None = None
    ) -> str | None:
        """The ts of this handover's message `part`: in the thread if given, else in the channel."""
        if thread_ts is not None:
            method, window = "conversations.replies", {"ts": thread_ts}
        else:
            method, window = "conversations.history", {"oldest": oldest}
        messages = self._pages(method, channel=self._channel, include_all_metadata=True, limit=200, **window)
        for message in messages:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and payload.get("handover_id") == handover_id
                and payload.get("part") == part
            ):
                return message["ts"]
        return None

    def _post_once(
        self,
        handover_id: str,
        part: str,
        text: str,
        *,
        oldest: str | None = None,
        thread_ts: str | None = None,
        blocks: list[dict] | None = None,
    ) -> str:
        found = self._find(handover_id, part, oldest=oldest, thread_ts=thread_ts)
        if found is not None:
            activity.logger.info("%s of %s was posted already (ts %s)", part, handover_id, found)
            return found
        posted = self._call(
            "chat.postMessage",
            channel=self._channel,
            text=text,
            unfurl_links=False,
            metadata=_marker(handover_id, part),
            **({"thread_ts": thread_ts} if thread_ts else {}),
            **({"blocks": blocks} if blocks else {}),
        )
        return posted["ts"]

    # --- step 0: validate ------------------------------------------------------------------

    @activity.defn
    def check_slack_access(self) -> SlackAccess:
        """The bot token is valid, has every scope the handover needs, and the bot is a member of
        the configured channel, which exists and is not archived. Raises NotSetUp (not retried)
        with a sentence saying what to fix. Reads only; also `starter.py doctor`'s Slack check."""
        channel_id = self._channel
        try:
            me = self._answer("auth.test")
        except ApplicationError as error:
            if error.type == "CredentialsRejected":
                raise NotSetUp(
                    "Slack rejected the bot token: set SLACK_BOT_TOKEN to the app's Bot User OAuth "
                    "Token (xoxb-…) and restart the worker"
                ) from None
            raise
        header = next((v for k, v in me.headers.items() if k.lower() == "x-oauth-scopes"), None)
        if header is None:
            raise NotSetUp(
                f"Slack's auth.test answer names no granted scopes (no x-oauth-scopes header): "
                f"is SLACK_BASE_URL ({self._settings.slack_base_url}) Slack's Web API?"
            )
        granted = [scope.strip() for scope in header.split(",") if scope.strip()]
        watch = self._settings.watch_reactions
        try:
            channel = self._call("conversations.info", channel=channel_id)["channel"]
        except SlackRefused as error:
            if error.code == "missing_scope":
                private = (error.needed or "").startswith("groups:")
                needed = required_scopes(private=private, watch_reactions=watch)
                missing = [s for s in needed if s not in granted] or [error.needed or "channels:read"]
                raise NotSetUp(lacks_scopes(missing, granted)) from None
            if error.code == "channel_not_found":
                raise NotSetUp(
                    f"Slack has no channel {channel_id} that the bot can see: set SLACK_CHANNEL_ID to "
                    "the id of #novavms-platform-ops (not its name); a private channel must invite "
                    f"the bot (/invite @{me['user']}) before the bot can see it"
                ) from None
            raise NotSetUp(f"Slack refused conversations.info for {channel_id}: {error.code}") from None
        named = f"#{channel['name']} ({channel_id})"
        needed = required_scopes(private=channel["is_private"], watch_reactions=watch)
        missing = [scope for scope in needed if scope not in granted]
        if missing:
            raise NotSetUp(lacks_scopes(missing, granted))
        if channel.get("is_archived"):
            raise NotSetUp(
                f"the Slack channel {named} is archived: unarchive it, or set SLACK_CHANNEL_ID "
                "to the channel in use"
            )
        if not channel.get("is_member"):
            raise NotSetUp(f"the Slack bot is not a member of {named}: invite it with /invite @{me['user']}")
        return SlackAccess(
            team=me.get("team", ""),
            bot_user_id=me["user_id"],
            bot_name=me["user"],
            channel_id=channel_id,
            channel_name=channel["name"],
            is_private=channel["is_private"],
            scopes=granted,
        )

    @activity.defn
    def find_slack_user(self, email: str) -> str | None:
        """The admin's Slack user id; None when Slack knows nobody by that address. Any other
        refusal is the service's set-up (a scope missing, ...): NotSetUp, not retried."""
        try:
            return self._call("users.lookupByEmail", email=email)["user"]["id"]
        except SlackRefused as error:
            if error.code == "users_not_found":
                return None
            if error.code == "missing_scope":
                raise NotSetUp(lacks_scopes([error.needed or "users:read.email"], _scopes(error))) from None
            raise NotSetUp(f"Slack refused to look up {email} (users.lookupByEmail: {error.code})") from None

    # --- step 5: post the handover summary ---------------------------------------------------

    @activity.defn
    def post_summary(self, post: SummaryPost) -> PostedSummary:
        """The summary in the channel, then the details as replies in its thread; each once."""
        try:
            with Checkpoint() as checkpoint:
                if "summary" not in checkpoint:
                    oldest = f"{post.since.timestamp():.6f}"
                    summary = self._post_once(
                        post.handover_id, "summary", post.text, oldest=oldest, blocks=post.blocks
                    )
                    checkpoint.record("summary", summary)
                ts = checkpoint["summary"]
                for number, detail in enumerate(post.details):
                    part = f"detail-{number + 1}"
                    if part not in checkpoint:
                        checkpoint.record(part, self._post_once(post.handover_id, part, detail, thread_ts=ts))
        except Refused as error:
            raise non_retryable(error) from None
        return PostedSummary(channel=self._channel, ts=ts)

    @activity.defn
    def post_message(self, post: SlackPost) -> str:
        """Announcements, reminders, escalations, catch-up requests, the digest, the audit result."""
        oldest = f"{post.since.timestamp():.6f}" if post.since else None
        try:
            return self._post_once(
                post.handover_id, post.part, post.text, oldest=oldest, thread_ts=post.thread_ts
            )
        except Refused as error:
            raise non_retryable(error) from None

    @activity.defn
    def show_asks(self, post: AsksPost) -> str:
        """An admin's asks: posted in the thread once (looked for first, as every post), or
        updated in place. An update sets the whole message, so a retry changes nothing more."""
        try:
            if post.ts is None:
                return self._post_once(
                    post.handover_id, post.part, post.text, thread_ts=post.thread_ts, blocks=post.blocks
                )
            self._call(
                "chat.update",
                channel=self._channel,
                ts=post.ts,
                text=post.text,
                blocks=post.blocks,
                metadata=_marker(post.handover_id, post.part),
            )
            return post.ts
        except Refused as error:
            raise non_retryable(error) from None

    @activity.defn
    def wait_for_thumbs_up(self, watch: ReactionWatch) -> str:
        """Watches the summary's reactions (`reactions.get`) for incoming's :+1:, for workspaces
        where Slack cannot reach the endpoint. One attempt reads every HANDOVER_POLL_SECONDS for
        HANDOVER_WATCH_SECONDS, then hands back to Temporal, which starts the next one later."""
        if not self._settings.watch_reactions:
            raise ApplicationError(
                "watching reactions is switched off (HANDOVER_WATCH_REACTIONS)",
                type="WatchOff",
                non_retryable=True,
            )
        deadline = time.monotonic() + self._settings.watch_seconds
        while True:
            activity.heartbeat()
            try:
                # Without `full`, Slack cuts a busy reaction's list of users short.
                message = self._call("reactions.get", channel=watch.channel, timestamp=watch.ts, full=True)[
                    "message"
                ]
            except Refused as error:
                raise non_retryable(error) from None
            for reaction in message.get("reactions") or []:
                if is_thumbs_up(reaction["name"]) and watch.user_id in reaction.get("users", []):
                    return reaction["name"]
            if time.monotonic() >= deadline:
                raise ApplicationError(
                    "no :+1: from incoming yet",
                    type="NoThumbsUpYet",
                    category=ApplicationErrorCategory.BENIGN,
                )
            if activity.wait_for_cancelled_sync(timeout=self._settings.poll_seconds):
                raise CancelledError("stopped watching the summary")

    # --- emergency: context for incoming ------------------------------------------------------

    @activity.defn
    def recent_channel(self, since: datetime) -> list[ChannelThread]:
        """The channel since `since` (the last hour), oldest first, with each thread's replies."""
        try:
            with Checkpoint() as checkpoint:
                if "history" not in checkpoint:
                    messages = self._pages(
                        "conversations.history",
                        channel=self._channel,
                        oldest=f"{since.timestamp():.6f}",
                        include_all_metadata=True,
                        limit=200,
                    )
                    threads = [
                        [m["ts"], _who(m), m.get("text", ""), bool(m.get("reply_count"))]
                        for m in messages
                        if (m.get("metadata") or {}).get("event_type") != EVENT_TYPE  # not the handover's own
                    ]
                    checkpoint.record("history", threads[::-1])  # oldest first
                for ts, _, _, has_replies in checkpoint["history"]:
                    if has_replies and ts not in checkpoint:
                        checkpoint.record(ts, self._replies(ts))
        except Refused as error:
            raise non_retryable(error) from None
        return [
            ChannelThread(ts=ts, who=who, text=text, replies=checkpoint[ts] if has_replies else [])
            for ts, who, text, has_replies in checkpoint["history"]
        ]

    def _replies(self, ts: str) -> list[dict]:
        return [
            DigestEntry(at=_when(reply["ts"]), who=_who(reply), text=reply.get("text", "")).model_dump(
                mode="json"
            )
            for reply in self._pages("conversations.replies", channel=self._channel, ts=ts, limit=200)
            if reply["ts"] != ts
        ]


def _marker(handover_id: str, part: str) -> dict:
    """A message's metadata: which handover's it is, and which of its messages (how a retry finds it)."""
    return {"event_type": EVENT_TYPE, "event_payload": {"handover_id": handover_id, "part": part}}


def _scopes(error: SlackRefused) -> list[str]:
    return [scope for scope in (error.provided or "").split(",") if scope]


def _who(message: dict) -> str:
    return message.get("user") or message.get("username") or message.get("bot_id") or "?"


def _when(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=UTC)
