"""The Slack activities against the sandbox as real workspaces behave: the access check at step 0
(called directly, as `starter.py doctor` does, and as an activity), the admin lookup, the :+1: watch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.slack import ReactionWatch, SlackAccess, SlackActivities, lacks_scopes, required_scopes
from handover.errors import NotSetUp
from sandbox.state import BOT_SCOPES


def platform_ops(slack: dict) -> dict:
    return next(c for c in slack["channels"] if c["id"] == "C0PLATOPS")


def scopes_without(*missing: str) -> Callable[[dict], None]:
    def change(slack: dict) -> None:
        slack["bot"]["scopes"] = [s for s in BOT_SCOPES if s not in missing]

    return change


def test_the_access_check_needs_no_worker(settings, fresh_sandbox):
    access = SlackActivities(settings).check_slack_access()
    assert access == SlackAccess(
        team="Novalien",
        bot_user_id="U0HANDOVER",
        bot_name="oncall-handover",
        channel_id="C0PLATOPS",
        channel_name="novavms-platform-ops",
        is_private=False,
        scopes=list(BOT_SCOPES),
    )
    assert ActivityEnvironment().run(SlackActivities(settings).check_slack_access) == access
    assert fresh_sandbox.writes() == []


def test_every_missing_scope_is_named_at_once(settings, workspace):
    workspace(scopes_without("chat:write", "reactions:read"))
    with pytest.raises(NotSetUp) as refused:
        SlackActivities(settings).check_slack_access()
    assert refused.value.message == (
        "the Slack token lacks the scopes chat:write, reactions:read (granted: channels:history, "
        "groups:history, channels:read, groups:read, users:read, users:read.email): add them to the "
        "app's bot token scopes and reinstall the app"
    )
    assert refused.value.non_retryable


def test_a_token_that_cannot_read_the_channel_is_told_which_scope(settings, workspace):
    workspace(scopes_without("channels:read", "groups:read"))
    with pytest.raises(NotSetUp, match=r"lacks the scope channels:read \(granted: chat:write"):
        SlackActivities(settings).check_slack_access()


def test_reactions_read_is_needed_only_while_reactions_are_watched(settings, workspace):
    workspace(scopes_without("reactions:read"))
    quiet = settings.model_copy(update={"watch_reactions": False})
    assert SlackActivities(quiet).check_slack_access().channel_name == "novavms-platform-ops"
    assert required_scopes(private=False, watch_reactions=True) == [
        "users:read.email",
        "chat:write",
        "channels:history",
        "channels:read",
        "reactions:read",
    ]
    assert "groups:history" in required_scopes(private=True, watch_reactions=False)
    assert lacks_scopes(["chat:write"], []) == (
        "the Slack token lacks the scope chat:write (granted: none): add it to the app's bot token "
        "scopes and reinstall the app"
    )


def test_a_private_channel_the_bot_is_not_in_cannot_be_seen(settings, workspace):
    def private_without_the_bot(slack: dict) -> None:
        platform_ops(slack).update(is_private=True, members=["U0ALICE", "U0BOB"])

    workspace(private_without_the_bot)
    with pytest.raises(NotSetUp) as refused:
        SlackActivities(settings).check_slack_access()
    assert (
        "Slack has no channel C0PLATOPS that the bot can see: set SLACK_CHANNEL_ID" in refused.value.message
    )
    assert "/invite @oncall-handover" in refused.value.message


def test_a_wrong_channel_id_and_a_rejected_token(settings, fresh_sandbox):
    elsewhere = settings.model_copy(update={"slack_channel_id": "C0NOSUCH"})
    with pytest.raises(NotSetUp, match="no channel C0NOSUCH that the bot can see"):
        SlackActivities(elsewhere).check_slack_access()
    forged = settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-not-the-bot")})
    with pytest.raises(NotSetUp, match="Slack rejected the bot token: set SLACK_BOT_TOKEN"):
        SlackActivities(forged).check_slack_access()


def test_find_slack_user_tells_nobody_from_a_refusal(settings, workspace):
    slack = SlackActivities(settings)
    assert slack.find_slack_user("bob@novalien.com") == "U0BOB"
    assert slack.find_slack_user("nobody@novalien.com") is None
    workspace(scopes_without("users:read.email"))
    with pytest.raises(
        NotSetUp, match=r"the Slack token lacks the scope users:read\.email \(granted: chat:write"
    ):
        SlackActivities(settings).find_slack_user("bob@novalien.com")


def test_the_thumbs_up_watch_sees_incoming_among_a_crowd(settings, workspace):
    """reactions.get without full=true lists 50 users per reaction: Bob's is the 61st."""
    crowd = [f"U0FAN{n:03d}" for n in range(60)]

    def busy_summary(slack: dict) -> None:
        slack["users"] += [
            {"id": who, "name": who.lower(), "real_name": who, "email": f"{who.lower()}@novalien.com"}
            for who in crowd
        ]
        platform_ops(slack)["messages"][-1]["reactions"] = [{"name": "+1", "users": [*crowd, "U0BOB"]}]

    workspace(busy_summary)
    slack = SlackActivities(settings)
    busy = next(
        m for m in slack._call("conversations.history", channel="C0PLATOPS")["messages"] if m.get("reactions")
    )
    watch = ReactionWatch(channel="C0PLATOPS", ts=busy["ts"], user_id="U0BOB")
    assert ActivityEnvironment().run(slack.wait_for_thumbs_up, watch) == "+1"
