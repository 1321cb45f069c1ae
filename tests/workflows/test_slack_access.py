"""Slack as a real workspace behaves, on the time-skipping test server with the sandbox.

A bot that is not in the channel, a token that lacks a scope, an archived channel, an admin Slack
does not know: each is found at step 0 and refused with a sentence saying what to fix, before
anything is written anywhere (today's alternative: the override and the tickets are handed over,
and the handover fails at its first Slack message).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from temporalio.client import WorkflowFailureError

from handover import service
from handover.errors import NotSetUp, UnknownAdmin
from handover.models import HandoverProgress, HandoverRequest, Phase
from sandbox.state import BOT_SCOPES
from tests.humans import INCOMING, OUTGOING


def planned() -> HandoverRequest:
    return HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")


def platform_ops(slack: dict) -> dict:
    return next(c for c in slack["channels"] if c["id"] == "C0PLATOPS")


def bot_not_invited(slack: dict) -> None:
    platform_ops(slack)["members"] = ["U0ALICE", "U0BOB", "U0CAROL"]


def no_reactions_read(slack: dict) -> None:
    slack["bot"]["scopes"] = [s for s in BOT_SCOPES if s != "reactions:read"]


def no_users_read_email(slack: dict) -> None:
    slack["bot"]["scopes"] = [s for s in BOT_SCOPES if s != "users:read.email"]


def archived(slack: dict) -> None:
    platform_ops(slack)["is_archived"] = True


def bob_not_in_slack(slack: dict) -> None:
    slack["users"] = [u for u in slack["users"] if u["email"] != INCOMING]


WORKSPACES: list[tuple[Callable[[dict], None], type, str]] = [
    (
        bot_not_invited,
        NotSetUp,
        "the Slack bot is not a member of #novavms-platform-ops (C0PLATOPS): "
        "invite it with /invite @oncall-handover",
    ),
    (
        no_reactions_read,
        NotSetUp,
        "the Slack token lacks the scope reactions:read (granted: chat:write, channels:history, ",
    ),
    (no_users_read_email, NotSetUp, "the Slack token lacks the scope users:read.email"),
    (archived, NotSetUp, "the Slack channel #novavms-platform-ops (C0PLATOPS) is archived: unarchive it"),
    (
        bob_not_in_slack,
        UnknownAdmin,
        "bob@novalien.com has no Slack account in this workspace (Slack's users.lookupByEmail found "
        "nobody): check the address, or add them to Slack",
    ),
]
"""The workspaces Slack refuses, the refusal and the sentence it says, for every test of a refusal."""

every_workspace = pytest.mark.parametrize(
    ("change", "error", "sentence"), WORKSPACES, ids=[change.__name__ for change, _, _ in WORKSPACES]
)


@every_workspace
async def test_step_0_refuses_what_slack_would_refuse_before_anything_is_written(
    time_skipping_watching, fresh_sandbox, workspace, change, error, sentence
):
    """(With the reaction watch on, as in production: reactions:read is then required.)"""
    workspace(change)
    env, task_queue = time_skipping_watching
    handle = await service.start(env.client, task_queue, planned())
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert failure.value.cause.type == error.__name__
    assert sentence in failure.value.cause.message
    current = await handle.query("progress", result_type=HandoverProgress)
    assert current.phase is Phase.FAILED and sentence in current.error
    assert fresh_sandbox.writes() == [], "nothing written anywhere: no override, no ticket, no message"
    with pytest.raises(error, match="Slack"):
        await service.progress(env.client, handle.id)  # what the CLI and the endpoint show


@every_workspace
async def test_the_plan_refuses_the_same(
    time_skipping_watching, fresh_sandbox, workspace, change, error, sentence
):
    workspace(change)
    env, task_queue = time_skipping_watching
    with pytest.raises(error) as refused:
        await service.plan(env.client, task_queue, planned())
    assert sentence in refused.value.message
    assert fresh_sandbox.writes() == []


async def test_a_bot_with_chat_write_public_must_still_be_in_the_channel(
    time_skipping, fresh_sandbox, workspace
):
    """It could post, but not read the channel back (look-before-write, the emergency digest)."""

    def public_posting_only(slack: dict) -> None:
        bot_not_invited(slack)
        slack["bot"]["scopes"] = [*BOT_SCOPES, "chat:write.public"]

    workspace(public_posting_only)
    env, task_queue = time_skipping
    with pytest.raises(NotSetUp, match="not a member of #novavms-platform-ops"):
        await service.plan(env.client, task_queue, planned())
