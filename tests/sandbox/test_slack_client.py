"""slack_sdk's WebClient against the sandbox, changed only in base_url (and TLS trust)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.state import BOT_SCOPES, DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle

BOT_TOKEN = "xoxb-sandbox-bot-token"
CHANNEL = "C0PLATOPS"


def client_for(sandbox: SandboxHandle, token: str | None = BOT_TOKEN) -> WebClient:
    return WebClient(token=token, base_url=sandbox.slack_url, ssl=sandbox.ssl_context())


@pytest.fixture
def bot(fresh_sandbox: SandboxHandle) -> WebClient:
    return client_for(fresh_sandbox)


def slack_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as failed:
        call()
    assert failed.value.response.status_code == 200  # Slack answers errors with HTTP 200
    assert failed.value.response["ok"] is False
    return failed.value.response["error"]


def test_auth_test_with_the_bot_and_a_user_token(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    me = bot.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"]) == ("U0HANDOVER", "B0HANDOVER", "T0NOVALIEN")
    bob = client_for(fresh_sandbox, "xoxp-sandbox-bob").auth_test()
    assert bob["user_id"] == "U0BOB" and "bot_id" not in bob.data


def test_auth_errors(fresh_sandbox: SandboxHandle) -> None:
    assert slack_error(lambda: client_for(fresh_sandbox, None).auth_test()) == "not_authed"
    assert slack_error(lambda: client_for(fresh_sandbox, "xoxb-wrong").auth_test()) == "invalid_auth"


def test_users_lookup_by_email(bot: WebClient) -> None:
    user = bot.users_lookupByEmail(email="Bob@Novalien.com")["user"]
    assert (user["id"], user["real_name"], user["profile"]["email"]) == (
        "U0BOB",
        "Bob Okafor",
        "bob@novalien.com",
    )
    assert slack_error(lambda: bot.users_lookupByEmail(email="nobody@novalien.com")) == "users_not_found"


def test_post_message_by_id_and_by_name(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    first = bot.chat_postMessage(channel=CHANNEL, text="On-call: @alice → @bob")
    second = bot.chat_postMessage(channel="#novavms-platform-ops", text="second")
    assert first["channel"] == second["channel"] == CHANNEL
    assert first["message"]["bot_id"] == "B0HANDOVER" and first["message"]["user"] == "U0HANDOVER"
    assert float(second["ts"]) > float(first["ts"])
    assert len(first["ts"].split(".")[1]) == 6
    latest = bot.conversations_history(channel=CHANNEL, limit=2)["messages"]
    assert [m["text"] for m in latest] == ["second", "On-call: @alice → @bob"]
    writes = fresh_sandbox.writes("slack")
    assert [(w["path"], w["actor"], w["result"]["ts"]) for w in writes] == [
        ("/chat.postMessage", "U0HANDOVER", first["ts"]),
        ("/chat.postMessage", "U0HANDOVER", second["ts"]),
    ]


def test_post_message_errors(bot: WebClient) -> None:
    assert slack_error(lambda: bot.chat_postMessage(channel="C0NOSUCH", text="x")) == "channel_not_found"
    assert slack_error(lambda: bot.chat_postMessage(channel="#nope", text="x")) == "channel_not_found"
    assert (
        slack_error(lambda: bot.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1.000001"))
        == "thread_not_found"
    )
    with pytest.warns(UserWarning):  # slack_sdk warns about a message without text
        assert slack_error(lambda: bot.chat_postMessage(channel=CHANNEL)) == "no_text"


def test_thread_replies_count_and_order(bot: WebClient) -> None:
    parent = bot.chat_postMessage(
        channel=CHANNEL, text="On-call handover: 3 incidents. Details in the thread."
    )
    replies = [
        bot.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text=f"detail {n}") for n in range(3)
    ]
    assert replies[0]["message"]["thread_ts"] == parent["ts"]
    # A reply to a reply lands in the same thread.
    bot.chat_postMessage(channel=CHANNEL, thread_ts=replies[1]["ts"], text="detail 3")

    thread = bot.conversations_replies(channel=CHANNEL, ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == [
        parent["message"]["text"],
        "detail 0",
        "detail 1",
        "detail 2",
        "detail 3",
    ]
    assert thread[0]["reply_count"] == 4
    assert thread[0]["latest_reply"] == thread[-1]["ts"]
    assert thread[1]["parent_user_id"] == "U0HANDOVER"

    history = bot.conversations_history(channel=CHANNEL, limit=3)["messages"]
    assert history[0]["ts"] == parent["ts"]  # replies stay in the thread
    assert history[0]["reply_count"] == 4
    assert not any(m["text"].startswith("detail") for m in history)

    broadcast = bot.chat_postMessage(
        channel=CHANNEL, thread_ts=parent["ts"], text="also to the channel", reply_broadcast=True
    )
    newest = bot.conversations_history(channel=CHANNEL, limit=1)["messages"][0]
    assert (newest["ts"], newest["subtype"]) == (broadcast["ts"], "thread_broadcast")

    assert (
        slack_error(lambda: bot.conversations_replies(channel=CHANNEL, ts="123.000000")) == "thread_not_found"
    )


def test_scenario_thread_is_there(bot: WebClient) -> None:
    history = bot.conversations_history(channel=CHANNEL)["messages"]
    threaded = [m for m in history if m.get("reply_count")]
    assert len(threaded) == 1
    thread = bot.conversations_replies(channel=CHANNEL, ts=threaded[0]["ts"])["messages"]
    assert [m["user"] for m in thread] == ["U0ALICE", "U0CAROL", "U0ALICE"]


def test_history_paginates_with_cursor(bot: WebClient) -> None:
    everything = bot.conversations_history(channel=CHANNEL)["messages"]
    assert len(everything) == 4
    first = bot.conversations_history(channel=CHANNEL, limit=3)
    assert first["has_more"] is True and first["response_metadata"]["next_cursor"]
    second = bot.conversations_history(
        channel=CHANNEL, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert second["has_more"] is False and second["response_metadata"]["next_cursor"] == ""
    assert [m["ts"] for m in first["messages"] + second["messages"]] == [m["ts"] for m in everything]
    # SlackResponse iterates the pages itself (yielding itself, refilled, each time).
    paged = [page["messages"][0]["ts"] for page in bot.conversations_history(channel=CHANNEL, limit=1)]
    assert paged == [m["ts"] for m in everything]
    assert (
        slack_error(lambda: bot.conversations_history(channel=CHANNEL, cursor="garbage!")) == "invalid_cursor"
    )
    assert slack_error(lambda: bot.conversations_history(channel="C0NOSUCH")) == "channel_not_found"


def test_history_window(bot: WebClient) -> None:
    everything = bot.conversations_history(channel=CHANNEL)["messages"]
    newest, middle, oldest = everything[0]["ts"], everything[1]["ts"], everything[-1]["ts"]
    between = bot.conversations_history(channel=CHANNEL, oldest=oldest, latest=newest)["messages"]
    assert [m["ts"] for m in between] == [m["ts"] for m in everything[1:-1]]
    inclusive = bot.conversations_history(channel=CHANNEL, oldest=oldest, latest=newest, inclusive=True)[
        "messages"
    ]
    assert len(inclusive) == 4
    assert [m["ts"] for m in bot.conversations_history(channel=CHANNEL, oldest=middle)["messages"]] == [
        newest
    ]


def test_replies_paginate(bot: WebClient) -> None:
    parent = bot.chat_postMessage(channel=CHANNEL, text="parent")
    for n in range(4):
        bot.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text=f"reply {n}")
    texts = []
    cursor = None
    while True:
        page = bot.conversations_replies(channel=CHANNEL, ts=parent["ts"], limit=2, cursor=cursor)
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    assert texts == ["parent", "reply 0", "reply 1", "reply 2", "reply 3"]


def test_metadata_round_trip(bot: WebClient) -> None:
    metadata = {
        "event_type": "oncall_handover_summary",
        "event_payload": {"handover_id": "handover-alice", "incidents": 3},
    }
    posted = bot.chat_postMessage(channel=CHANNEL, text="summary", metadata=metadata)
    assert posted["message"]["metadata"] == metadata
    plain = bot.conversations_history(channel=CHANNEL, limit=1)["messages"][0]
    assert "metadata" not in plain
    full = bot.conversations_history(channel=CHANNEL, limit=1, include_all_metadata=True)["messages"][0]
    assert full["metadata"] == metadata
    bad = {"event_type": "x"}
    assert (
        slack_error(lambda: bot.chat_postMessage(channel=CHANNEL, text="x", metadata=bad))
        == "invalid_metadata_format"
    )


def test_reactions_as_the_user_of_a_user_token(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    summary = bot.chat_postMessage(channel=CHANNEL, text="On-call: @alice → @bob")
    bob = client_for(fresh_sandbox, "xoxp-sandbox-bob")
    bob.reactions_add(channel=CHANNEL, timestamp=summary["ts"], name="+1::skin-tone-3")
    client_for(fresh_sandbox, "xoxp-sandbox-carol").reactions_add(
        channel=CHANNEL, timestamp=summary["ts"], name=":eyes:"
    )
    got = bot.reactions_get(channel=CHANNEL, timestamp=summary["ts"])
    assert (got["type"], got["channel"]) == ("message", CHANNEL)
    assert got["message"]["reactions"] == [
        {"name": "+1::skin-tone-3", "users": ["U0BOB"], "count": 1},
        {"name": "eyes", "users": ["U0CAROL"], "count": 1},
    ]
    again = lambda: bob.reactions_add(channel=CHANNEL, timestamp=summary["ts"], name="+1::skin-tone-3")  # noqa: E731
    assert slack_error(again) == "already_reacted"
    assert (
        slack_error(lambda: bob.reactions_add(channel=CHANNEL, timestamp="1.000000", name="+1"))
        == "message_not_found"
    )
    assert (
        slack_error(lambda: bot.reactions_get(channel=CHANNEL, timestamp="1.000000")) == "message_not_found"
    )

    reactions = [w for w in fresh_sandbox.writes("slack") if w["path"] == "/reactions.add"]
    assert [(w["actor"], w["result"].get("name"), w["result"].get("error")) for w in reactions] == [
        ("U0BOB", "+1::skin-tone-3", None),
        ("U0CAROL", "eyes", None),
        ("U0BOB", None, "already_reacted"),
        ("U0BOB", None, "message_not_found"),
    ]


def test_get_with_query_and_post_with_json_work_too(fresh_sandbox: SandboxHandle) -> None:
    with httpx.Client(base_url=fresh_sandbox.slack_url, verify=fresh_sandbox.ssl_context()) as http:
        auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
        history = http.get(
            "conversations.history", params={"channel": CHANNEL, "limit": 1}, headers=auth
        ).json()
        assert history["ok"] and len(history["messages"]) == 1
        posted = http.post(
            "chat.postMessage", json={"channel": CHANNEL, "text": "json body"}, headers=auth
        ).json()
        assert posted["ok"]
        form = http.post("auth.test", data={"token": BOT_TOKEN}).json()
        assert form["user_id"] == "U0HANDOVER"
        assert http.post("no.such.method", headers=auth).json() == {"ok": False, "error": "unknown_method"}


# --- a real workspace: scopes, channel membership, archived channels, long texts ------------------


@pytest.fixture
def workspace(fresh_sandbox: SandboxHandle) -> Iterator[Callable[[Callable[[dict], None]], WebClient]]:
    """Changes the demo's Slack (`change(scenario["slack"])`) and gives the bot's client for it;
    the sandbox is back at the demo afterwards."""

    def reset_with(change: Callable[[dict], None]) -> WebClient:
        scenario = read_scenario_file(DEMO_SCENARIO)
        change(scenario["slack"])
        fresh_sandbox.reset(scenario)
        return client_for(fresh_sandbox)

    yield reset_with
    fresh_sandbox.reset(DEMO_SCENARIO)


def channel_of(slack: dict, channel_id: str = CHANNEL) -> dict:
    return next(c for c in slack["channels"] if c["id"] == channel_id)


def without_scope(scope: str) -> Callable[[dict], None]:
    def change(slack: dict) -> None:
        slack["bot"]["scopes"] = [s for s in BOT_SCOPES if s != scope]

    return change


def refusal(call: Any) -> dict:
    with pytest.raises(SlackApiError) as failed:
        call()
    assert failed.value.response.status_code == 200 and failed.value.response["ok"] is False
    return failed.value.response.data  # type: ignore[return-value]


def header(response: Any, name: str) -> str | None:
    return next((v for k, v in response.headers.items() if k.lower() == name), None)


def test_every_answer_carries_the_token_s_scopes(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    granted = header(bot.auth_test(), "x-oauth-scopes")
    assert granted is not None and set(granted.split(",")) == set(BOT_SCOPES)
    history = bot.conversations_history(channel=CHANNEL, limit=1)
    assert header(history, "x-oauth-scopes") == granted
    assert "channels:history" in header(history, "x-accepted-oauth-scopes").split(",")
    with pytest.raises(SlackApiError) as failed:
        bot.chat_postMessage(channel="C0NOSUCH", text="x")
    assert header(failed.value.response, "x-oauth-scopes") == granted, "errors carry it too"
    bob = client_for(fresh_sandbox, "xoxp-sandbox-bob").auth_test()
    assert "reactions:write" in header(bob, "x-oauth-scopes").split(",")


@pytest.mark.parametrize(
    ("scope", "call"),
    [
        ("chat:write", lambda bot: bot.chat_postMessage(channel=CHANNEL, text="x")),
        ("chat:write", lambda bot: bot.chat_update(channel=CHANNEL, ts="1.000000", text="x")),
        ("users:read", lambda bot: bot.users_info(user="U0BOB")),
        ("reactions:read", lambda bot: bot.reactions_get(channel=CHANNEL, timestamp="1.000000")),
        ("users:read.email", lambda bot: bot.users_lookupByEmail(email="bob@novalien.com")),
        ("channels:history", lambda bot: bot.conversations_history(channel=CHANNEL)),
        ("channels:history", lambda bot: bot.conversations_replies(channel=CHANNEL, ts="1.000000")),
        ("channels:read", lambda bot: bot.conversations_info(channel=CHANNEL)),
    ],
)
def test_a_method_without_its_scope_answers_missing_scope(workspace, scope: str, call: Any) -> None:
    bot = workspace(without_scope(scope))
    answer = refusal(lambda: call(bot))
    assert (answer["error"], answer["needed"]) == ("missing_scope", scope)
    assert set(answer["provided"].split(",")) == set(BOT_SCOPES) - {scope}


def test_a_private_channel_needs_the_groups_scopes(workspace) -> None:
    def private(slack: dict) -> None:
        channel_of(slack)["is_private"] = True
        slack["bot"]["scopes"] = [s for s in BOT_SCOPES if s not in ("groups:read", "groups:history")]

    bot = workspace(private)
    assert refusal(lambda: bot.conversations_info(channel=CHANNEL))["needed"] == "groups:read"
    assert refusal(lambda: bot.conversations_history(channel=CHANNEL))["needed"] == "groups:history"


def test_a_bot_that_is_not_in_the_channel(workspace) -> None:
    def bot_not_invited(slack: dict) -> None:
        channel_of(slack)["members"] = ["U0ALICE", "U0BOB"]

    bot = workspace(bot_not_invited)
    assert slack_error(lambda: bot.chat_postMessage(channel=CHANNEL, text="x")) == "not_in_channel"
    assert slack_error(lambda: bot.conversations_history(channel=CHANNEL)) == "not_in_channel"
    assert slack_error(lambda: bot.conversations_replies(channel=CHANNEL, ts="1.000000")) == "not_in_channel"
    info = bot.conversations_info(channel=CHANNEL)["channel"]
    assert (info["id"], info["name"], info["is_member"], info["is_archived"]) == (
        CHANNEL,
        "novavms-platform-ops",
        False,
        False,
    )
    assert bot.chat_postMessage(channel="C0GENERAL", text="still in #general")["ok"]


def test_chat_write_public_posts_in_a_public_channel_the_bot_has_not_joined(workspace) -> None:
    def public_posting(slack: dict) -> None:
        channel_of(slack)["members"] = ["U0ALICE"]
        channel_of(slack, "C0GENERAL")["members"] = ["U0ALICE"]
        channel_of(slack, "C0GENERAL")["is_private"] = True
        slack["bot"]["scopes"] = [*BOT_SCOPES, "chat:write.public"]

    bot = workspace(public_posting)
    assert bot.chat_postMessage(channel=CHANNEL, text="posted without joining")["ok"]
    assert slack_error(lambda: bot.conversations_history(channel=CHANNEL)) == "not_in_channel", (
        "posting is all chat:write.public allows"
    )
    # A private channel the bot is not in does not exist for it.
    assert slack_error(lambda: bot.chat_postMessage(channel="C0GENERAL", text="x")) == "channel_not_found"
    assert slack_error(lambda: bot.conversations_info(channel="C0GENERAL")) == "channel_not_found"


def test_an_archived_channel_takes_no_message(workspace) -> None:
    def archived(slack: dict) -> None:
        channel_of(slack)["is_archived"] = True

    bot = workspace(archived)
    assert slack_error(lambda: bot.chat_postMessage(channel=CHANNEL, text="x")) == "is_archived"
    assert bot.conversations_info(channel=CHANNEL)["channel"]["is_archived"] is True
    assert bot.conversations_history(channel=CHANNEL)["messages"], "its history can still be read"


def test_conversations_info(bot: WebClient) -> None:
    channel = bot.conversations_info(channel=CHANNEL, include_num_members=True)["channel"]
    fields = ("id", "name", "is_channel", "is_private", "is_archived", "is_member")
    assert {k: channel[k] for k in fields} == {
        "id": CHANNEL,
        "name": "novavms-platform-ops",
        "is_channel": True,
        "is_private": False,
        "is_archived": False,
        "is_member": True,
    }
    assert channel["num_members"] == 5, "the bot and the four people of the demo"
    assert slack_error(lambda: bot.conversations_info(channel="C0NOSUCH")) == "channel_not_found"


def test_a_text_longer_than_40000_characters_is_refused(bot: WebClient, fresh_sandbox: SandboxHandle) -> None:
    assert slack_error(lambda: bot.chat_postMessage(channel=CHANNEL, text="x" * 40_001)) == "msg_too_long"
    assert bot.chat_postMessage(channel=CHANNEL, text="x" * 40_000)["ok"]


def test_reactions_get_truncates_users_unless_full(workspace) -> None:
    crowd = [f"U0FAN{n:03d}" for n in range(60)]

    def busy_message(slack: dict) -> None:
        slack["users"] += [
            {"id": who, "name": who.lower(), "real_name": who, "email": f"{who.lower()}@novalien.com"}
            for who in crowd
        ]
        message = channel_of(slack)["messages"][-1]
        message["reactions"] = [{"name": "+1", "users": [*crowd, "U0BOB"]}]

    bot = workspace(busy_message)
    busy = next(m for m in bot.conversations_history(channel=CHANNEL)["messages"] if m.get("reactions"))
    short = bot.reactions_get(channel=CHANNEL, timestamp=busy["ts"])["message"]["reactions"][0]
    assert (short["count"], len(short["users"])) == (61, 50) and "U0BOB" not in short["users"]
    full = bot.reactions_get(channel=CHANNEL, timestamp=busy["ts"], full=True)["message"]["reactions"][0]
    assert (full["count"], len(full["users"])) == (61, 61) and full["users"][-1] == "U0BOB"
