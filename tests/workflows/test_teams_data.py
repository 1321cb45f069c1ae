"""Handovers on a team's data that is not the demo's: rollouts and incidents shared with or owned
by others, two handovers at once, unknown figures, incidents arriving late, short reminders.

Each test here failed on the code before the fix it proves (issue 13's defects). The worlds are
the demo's people with other data; the time-skipping server skips the overlap and the waits.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from handover import service
from handover.messages import plan_text
from handover.models import (
    HandoverRequest,
    InputKind,
    Outcome,
    ReminderPolicy,
    RolloutAnnotationInput,
)
from handover.report import to_markdown
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.humans import (
    INCOMING,
    OUTGOING,
    assign_in_pagerduty,
    listed,
    play_incoming,
    play_outgoing,
    status_for,
    wait_for,
)
from tests.writes import slack_parts, successful

CAROL = "carol@novalien.com"


def team(*changes: Callable[[dict], None]) -> dict[str, Any]:
    """The demo's people with other data."""
    data = copy.deepcopy(read_scenario_file(DEMO_SCENARIO))
    for change in changes:
        change(data)
    return data


def carols_rollout(data: dict) -> None:
    data["platform"]["rollouts"].append(
        {
            "id": "RO-330",
            "flag": "vms.numa-pinning",
            "state": "ramping",
            "ramp_percent": 5,
            "error_rate": 0.2,
            "owner": CAROL,
        }
    )


def request(outgoing: str = OUTGOING, **changes: Any) -> HandoverRequest:
    return HandoverRequest(outgoing=outgoing, incoming=INCOMING, requested_by="tests", **changes)


async def hand_over(client: Client, task_queue: str, outgoing: str = OUTGOING, **changes: Any):
    handle = await service.start(client, task_queue, request(outgoing, **changes))
    await play_outgoing(client, handle.id)  # (whoever the handover's outgoing admin is)
    await play_incoming(client, handle.id)
    return await handle.result()


def rollout_writes(writes: list[dict], rollout_id: str) -> list[dict]:
    return [w for w in successful(writes, "platform") if w["path"].startswith(f"/rollouts/{rollout_id}/")]


async def test_a_rollout_owned_by_someone_else_is_never_planned_or_taken(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(carols_rollout))

    plan = await service.plan(env.client, task_queue, request())
    assert "RO-330" not in {r.id for r in plan.rollouts}
    assert "RO-330" not in plan_text(plan)
    carols = await service.plan(env.client, task_queue, request(CAROL))
    assert [r.id for r in carols.rollouts] == ["RO-330"]

    report = await hand_over(env.client, task_queue)
    assert "RO-330" not in {r.rollout.id for r in report.rollouts}
    assert rollout_writes(fresh_sandbox.writes(), "RO-330") == []
    assert fresh_sandbox.store.state.platform.rollouts["RO-330"].owner == CAROL


async def test_two_handovers_at_once_each_move_only_their_own(time_skipping, fresh_sandbox):
    """Alice → Bob and Carol → Bob side by side: each rollout annotated once, by its own handover;
    each handover's own override."""
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(carols_rollout))
    handles = [
        await service.start(env.client, task_queue, request(outgoing)) for outgoing in (OUTGOING, CAROL)
    ]
    await asyncio.gather(*(play_outgoing(env.client, h.id) for h in handles))
    await asyncio.gather(*(play_incoming(env.client, h.id) for h in handles))
    # One result at a time: the time-skipping server refuses two waits that skip time at once.
    alices, carols = [await handle.result() for handle in handles]
    writes = fresh_sandbox.writes()
    for report in (alices, carols):
        for item in report.rollouts:
            annotations = [w for w in rollout_writes(writes, item.rollout.id) if w["method"] == "POST"]
            assert len(annotations) == 1, f"{item.rollout.id} annotated {len(annotations)} times"
            assert annotations[0]["actor"] == report.outgoing.email
    assert {r.rollout.id for r in carols.rollouts} == {"RO-330"}
    assert "RO-330" not in {r.rollout.id for r in alices.rollouts}
    assert alices.override.id != carols.override.id, "each handover's override is its own"
    posted = [w for w in successful(writes, "pagerduty", "POST", "/overrides")]
    assert len(posted) == 2
    assert {alices.override.id, carols.override.id} == {
        i for w in posted for i in w["result"]["override_ids"]
    }


async def test_what_a_listing_should_not_have_returned_is_left_alone_and_reported(
    time_skipping, fresh_sandbox
):
    """The worker trusts no listing: with APIs that ignore their filters, nothing that is not
    Alice's is touched, and the report says why each was left."""
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(carols_rollout))
    ignored = [
        ("platform", "/rollouts", ["owner", "state"]),
        ("platform", "/tickets", ["pinned", "assignee"]),
        ("pagerduty", "/incidents", ["user_ids[]"]),
    ]
    faults = [{"kind": "ignore_param", "rate": 1, "api": a, "path": p, "params": n} for a, p, n in ignored]
    with fresh_sandbox.faults(*faults):
        plan = await service.plan(env.client, task_queue, request())
        text = plan_text(plan)
        assert "Left alone" in text and "RO-330: owned by carol@novalien.com" in text
        assert "Q6KAFKA: assigned to Carol Nguyen, not the outgoing admin" in text

        report = await hand_over(env.client, task_queue)
        left = {
            item_id: detail
            for item_id, outcome, detail in [
                *((i.incident.id, i.outcome, i.detail) for i in report.incidents),
                *((t.ticket.id, t.outcome, t.detail) for t in report.tickets),
                *((r.rollout.id, r.outcome, r.detail) for r in report.rollouts),
            ]
            if outcome is Outcome.SKIPPED
        }
        assert left["RO-330"] == "owned by carol@novalien.com, not the outgoing admin; left alone"
        assert left["RO-295"] == "complete: not in flight; left alone"
        assert left["SUP-1049"] == "assigned to carol@novalien.com, not the outgoing admin; left alone"
        assert left["SUP-1060"] == "not pinned; left alone"
        assert left["Q6KAFKA"].startswith("assigned to Carol Nguyen")
        writes = fresh_sandbox.writes()
        assert rollout_writes(writes, "RO-330") == [] and rollout_writes(writes, "RO-295") == []
        touched = {w["path"] for w in successful(writes, "platform")} | {
            w["path"] for w in successful(writes, "pagerduty")
        }
        assert not [p for p in touched if "SUP-1049" in p or "SUP-1060" in p or "Q6KAFKA" in p]
        assert "3 rollouts in flight" in report.summary.text


def shared_incident(data: dict) -> None:
    incident = next(i for i in data["pagerduty"]["incidents"] if i["id"] == "Q2API5X")
    incident["assignees"] = ["PALICEM", "PCAROLN"]


async def test_a_co_assignee_keeps_a_shared_incident_and_is_named(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(shared_incident))
    plan = await service.plan(env.client, task_queue, request())
    assert "shared with Carol Nguyen, who stays assigned" in plan_text(plan)

    report = await hand_over(env.client, task_queue)
    assigned = [a["assignee"]["id"] for a in fresh_sandbox.incident("Q2API5X")["assignments"]]
    assert sorted(assigned) == ["PBOBOKA", "PCAROLN"], "incoming replaces outgoing; Carol stays"
    alone = [a["assignee"]["id"] for a in fresh_sandbox.incident("Q1DISK7")["assignments"]]
    assert alone == ["PBOBOKA"]
    shared = next(i for i in report.incidents if i.incident.id == "Q2API5X")
    assert shared.kept == ["Carol Nguyen"]
    assert "| Carol Nguyen |" in to_markdown(report)
    details = [
        w["body"]["text"] for w in successful(fresh_sandbox.writes(), "slack", "POST", "chat.postMessage")
    ]
    assert any("Carol Nguyen stays assigned" in text for text in details)


def unknown_error_rate(data: dict) -> None:
    next(r for r in data["platform"]["rollouts"] if r["id"] == "RO-318")["error_rate"] = None


async def test_an_unknown_error_rate_stays_unknown_everywhere(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(unknown_error_rate))
    plan = await service.plan(env.client, task_queue, request())
    assert "RO-318  platform-api.session-cache (ramping, 10%, errors unknown)" in plan_text(plan)

    handle = await service.start(env.client, task_queue, request())
    await listed(env.client, handle.id)
    given = RolloutAnnotationInput(
        actor=OUTGOING,
        rollout_id="RO-318",
        ramp_percent=10,
        error_rate=None,
        next_step="hold at 10% until we know",
    )
    await service.send(env.client, handle.id, InputKind.ROLLOUT_ANNOTATION, given)
    await play_outgoing(env.client, handle.id)
    await play_incoming(env.client, handle.id)
    report = await handle.result()

    annotation = next(
        a for a in fresh_sandbox.store.state.platform.annotations.values() if a.rollout_id == "RO-318"
    )
    assert annotation.error_rate is None
    assert "error rate unknown" in to_markdown(report)
    details = [
        w["body"]["text"] for w in successful(fresh_sandbox.writes(), "slack", "POST", "chat.postMessage")
    ]
    assert any(
        "platform-api.session-cache (ramping) — at 10%, error rate unknown" in text for text in details
    )
    assert not any("error rate 0%" in text for text in details)


async def test_an_emergency_keeps_an_unknown_error_rate_unknown(time_skipping, fresh_sandbox):
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(unknown_error_rate))
    handle = await service.start(env.client, task_queue, request(variant="emergency", reason="incapacitated"))
    await play_incoming(env.client, handle.id)
    await handle.result()
    annotation = next(
        a for a in fresh_sandbox.store.state.platform.annotations.values() if a.rollout_id == "RO-318"
    )
    assert annotation.error_rate is None


async def test_an_incident_the_rescan_finds_is_owed_from_when_it_was_found(time_skipping, fresh_sandbox):
    """Found three hours into the handover, its status paragraph is new: the outgoing admin hears
    of it in the thread, not from an escalation saying it has waited three hours."""
    env, task_queue = time_skipping
    fresh_sandbox.reset(team())
    handle = await service.start(env.client, task_queue, request())
    await listed(env.client, handle.id)
    await env.sleep(timedelta(hours=3))
    assign_in_pagerduty(fresh_sandbox, "Q6KAFKA", "PALICEM")
    await play_outgoing(env.client, handle.id)
    incoming = asyncio.create_task(play_incoming(env.client, handle.id))
    found = await wait_for(env.client, handle.id, lambda p: any(i.rescanned for i in p.incidents))
    kafka = next(i for i in found.incidents if i.incident.id == "Q6KAFKA")
    [owed] = [p for p in found.pending if p.item_id == "Q6KAFKA"]
    assert owed.since == kafka.found_at and kafka.found_at - found.inventory_at >= timedelta(hours=3)
    before = len(fresh_sandbox.writes())
    await env.sleep(timedelta(minutes=10))
    chased = [
        w["body"]["text"]
        for w in successful(fresh_sandbox.writes()[before:], "slack", "POST", "chat.postMessage")
        if "Consumer lag" in w["body"]["text"]
    ]
    assert not [text for text in chased if "waited" in text or "reminder" in text], chased
    assert any(part.startswith("rescan:") for part in slack_parts(fresh_sandbox.writes()))
    await service.send(env.client, handle.id, InputKind.STATUS, status_for("Q6KAFKA"))
    await incoming
    await handle.result()


async def test_inputs_falling_due_together_at_the_shortest_delay_are_chased_once(
    time_skipping, fresh_sandbox
):
    env, task_queue = time_skipping
    fresh_sandbox.reset(team())
    policy = ReminderPolicy(
        remind_after=timedelta(minutes=1),
        escalate_after=timedelta(minutes=30),
        repeat_every=timedelta(hours=1),
    )
    handle = await service.start(env.client, task_queue, request(reminders=policy))
    current = await listed(env.client, handle.id)
    await asyncio.sleep(1)
    assert not [p for p in slack_parts(fresh_sandbox.writes()) if p.startswith("reminder")], "not at once"
    for incident in current.incidents:  # incoming's acknowledgements fall due within a second or two
        await service.send(env.client, handle.id, InputKind.STATUS, status_for(incident.incident.id))
    await env.sleep(timedelta(minutes=3))
    reminders = [
        w["body"]["text"]
        for w in successful(fresh_sandbox.writes(), "slack", "POST", "chat.postMessage")
        if (w["body"].get("metadata") or {}).get("event_payload", {}).get("part", "").startswith("reminder:")
    ]
    to_bob = [text for text in reminders if text.startswith("<@U0BOB>")]
    assert len(to_bob) == 1, to_bob
    assert all("(0s)" not in text and "(0m)" not in text for text in reminders), reminders
    to_alice = [text for text in reminders if text.startswith("<@U0ALICE>")]
    assert len(to_alice) == 1, "Alice's inputs, all owed since the inventory, in one message"


async def test_an_incident_assigned_back_to_outgoing_after_its_handover_is_reassigned_again(
    time_skipping, fresh_sandbox
):
    """Someone puts a handed-over incident back on Alice (or another handover sharing it writes
    over ours): the re-scan before the summary hands it over again, its note standing."""
    env, task_queue = time_skipping
    fresh_sandbox.reset(team(shared_incident))
    handle = await service.start(env.client, task_queue, request())
    await play_outgoing(env.client, handle.id)
    await wait_for(
        env.client,
        handle.id,
        lambda p: all(i.reassigned is not None for i in p.incidents if i.incident.id == "Q2API5X"),
    )
    assign_in_pagerduty(fresh_sandbox, "Q2API5X", "PALICEM")
    await play_incoming(env.client, handle.id)
    report = await handle.result()
    shared = next(i for i in report.incidents if i.incident.id == "Q2API5X")
    assert shared.outcome is Outcome.HANDED_OVER and "reassigned again" in shared.detail
    assert [a["assignee"]["id"] for a in fresh_sandbox.incident("Q2API5X")["assignments"]] == ["PBOBOKA"]
    notes = [w for w in successful(fresh_sandbox.writes(), "pagerduty", "POST", "/incidents/Q2API5X/notes")]
    assert len(notes) == 1, "its note stands"
