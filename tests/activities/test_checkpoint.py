"""A batch that fails part-way resumes after the last item done (its heartbeat details), and its
retry comes soon: an API that drops some requests still lets a long batch through."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import checkpoint as checkpoints
from activities.checkpoint import EXACT, LOOKED, SOON, Checkpoint
from activities.pagerduty import IncidentAckBatch, PagerDutyActivities
from activities.platform import PlatformActivities, TicketBatch, TicketWork
from handover.models import Outcome, TicketAction
from tests.humans import assign_in_pagerduty

BATCH = TicketBatch(
    handover_id="handover-test",
    outgoing="alice@novalien.com",
    incoming="bob@novalien.com",
    acting_as="alice@novalien.com",
    items=[
        TicketWork(ticket_id="SUP-1042", action=TicketAction.LABEL_WAITING_ON_CUSTOMER),
        TicketWork(
            ticket_id="SUP-1051", action=TicketAction.LINK_ENGINEERING_ISSUE, engineering_issue="ENG-1"
        ),
    ],
)


def attempt(heartbeat_details: list) -> tuple[ActivityEnvironment, list]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, heartbeat_timeout=timedelta(seconds=20), heartbeat_details=heartbeat_details
    )
    beats: list = []
    env.on_heartbeat = lambda *details: beats.append(list(details))
    return env, beats


def faults(sandbox, *rules: dict) -> None:
    with sandbox.control() as control:
        control.put("/faults", json={"seed": 1, "faults": list(rules)}).raise_for_status()


def fail(path: str) -> dict:
    return {"kind": "error", "rate": 1, "api": "platform", "path": path}


@pytest.fixture
def faulty(fresh_sandbox):
    yield fresh_sandbox
    with fresh_sandbox.control() as control:
        control.delete("/faults").raise_for_status()


def test_a_batch_resumes_after_the_last_item_done_and_retries_soon(settings, faulty):
    platform = PlatformActivities(settings)
    faults(faulty, fail("/tickets/SUP-1051"))  # the second ticket's API is down
    env, beats = attempt([])
    with pytest.raises(ApplicationError) as failed:
        env.run(platform.hand_over_tickets, BATCH)
    assert failed.value.next_retry_delay == SOON  # it moved forward: retried in a second
    assert not failed.value.non_retryable
    checkpoint = [details for details in beats if details][-1]
    assert list(checkpoint[0]) == ["SUP-1042", EXACT]
    # It failed by raising, so the checkpoint is exact: the retry is unsure only of the ticket
    # that was in flight.
    assert checkpoint[0][EXACT] == {"attempt": 1, "unfinished": ["SUP-1051"]}

    # The retry: now the first ticket's API is down and the second's is back. Resuming, it never
    # asks for the first again.
    faults(faulty, fail("/tickets/SUP-1042"))
    env, _ = attempt(checkpoint)
    results = env.run(platform.hand_over_tickets, BATCH)
    assert [(r.item_id, r.outcome) for r in results] == [
        ("SUP-1042", Outcome.HANDED_OVER),
        ("SUP-1051", Outcome.HANDED_OVER),
    ]
    written = [w["path"] for w in faulty.writes("platform") if w["status"] < 300]
    assert written == [
        "/tickets/SUP-1042/assignee",
        "/tickets/SUP-1042/labels/waiting_on_customer",
        "/tickets/SUP-1051/assignee",
        "/tickets/SUP-1051/engineering-issue",
    ]


def test_an_attempt_that_did_nothing_keeps_the_retry_policy_backoff(settings, faulty):
    faults(faulty, fail("/tickets/*"))
    env, _ = attempt([])
    with pytest.raises(ApplicationError) as failed:
        env.run(PlatformActivities(settings).hand_over_tickets, BATCH)
    assert failed.value.next_retry_delay is None


@pytest.mark.parametrize(
    ("attempt_number", "details", "unsure_of"),
    [
        (1, [], set()),  # a first attempt wrote nothing before
        (2, [{"a": 1, EXACT: {"attempt": 1, "unfinished": ["b"]}}], {"b"}),  # failed by raising
        (2, [{"a": 1}], {"a", "b", "c"}),  # crashed: the last heartbeat that got through
        (3, [{"a": 1, EXACT: {"attempt": 1, "unfinished": ["b"]}}], {"a", "b", "c"}),  # stale mark
    ],
)
def test_a_retry_looks_before_writing_only_where_an_earlier_attempt_may_have_written(
    attempt_number, details, unsure_of
):
    env, _ = attempt(details)
    env.info = dataclasses.replace(env.info, attempt=attempt_number)

    def unsure() -> set[str]:
        with Checkpoint() as checkpoint:
            assert EXACT not in checkpoint
            return {key for key in ("a", "b", "c") if checkpoint.unsure(key)}

    assert env.run(unsure) == unsure_of


@pytest.mark.parametrize(
    ("details", "left"),
    [
        ([{EXACT: {"attempt": 1, "unfinished": ["b"]}}], {"attempt": 2, "unfinished": ["a", "b"]}),
        ([{}], None),  # after a crash: still unsure of everything, so no exact mark
    ],
)
def test_what_a_retry_was_unsure_of_stays_unsure_until_it_is_done(details, left):
    """A retry that fails before it gets to what it was unsure of (say its listing hit a 5xx)
    must not pass it on as sure: the write may have happened before the first failure."""
    env, beats = attempt(details)
    env.info = dataclasses.replace(env.info, attempt=2)

    def fail_after_starting_a() -> None:
        with Checkpoint() as checkpoint:
            checkpoint.start("a")
            raise ApplicationError("the listing failed")

    with pytest.raises(ApplicationError):
        env.run(fail_after_starting_a)
    last = [details for details in beats if details][-1][0] if any(beats) else {}
    assert last.get(EXACT) == left


def test_a_retry_whose_looks_are_answered_in_part_comes_after_a_few_seconds(settings, faulty):
    """The bulk acknowledgement after an attempt that may have sent it unheard reads each incident
    first; when only some of those reads fail, the API is up: retried after `LOOKED`, not after the
    backoff (under a quarter of requests failing, backing off to a minute outran five minutes)."""
    pagerduty = PagerDutyActivities(settings)
    for incident_id in ("Q1DISK7", "Q2API5X"):  # handed over to Bob: his to acknowledge
        assign_in_pagerduty(faulty, incident_id, "PBOBOKA", by="alice@novalien.com")
    setup = len(faulty.writes("pagerduty"))
    batch = IncidentAckBatch(
        from_email="bob@novalien.com", incoming_id="PBOBOKA", incident_ids=["Q1DISK7", "Q2API5X"]
    )
    faults(faulty, {"kind": "error", "rate": 1, "api": "pagerduty", "method": "PUT", "path": "/incidents"})
    env, beats = attempt([])
    with pytest.raises(ApplicationError):
        env.run(pagerduty.acknowledge_incidents, batch)
    checkpoint = [details for details in beats if details][-1]
    assert checkpoint[0][EXACT]["unfinished"] == ["updated 0"]  # the write may have gone through

    faults(
        faulty,
        {"kind": "error", "rate": 1, "api": "pagerduty", "method": "GET", "path": "/incidents/Q2API5X"},
    )
    env, _ = attempt(checkpoint)
    env.info = dataclasses.replace(env.info, attempt=2)
    with pytest.raises(ApplicationError) as failed:
        env.run(pagerduty.acknowledge_incidents, batch)
    assert failed.value.next_retry_delay == LOOKED
    assert not [w for w in faulty.writes("pagerduty")[setup:] if w["method"] == "PUT" and w["status"] < 300]


def test_a_batch_done_within_a_second_sends_no_heartbeat(settings, fresh_sandbox, monkeypatch):
    """Each heartbeat is a write of Temporal's: a few gathered acknowledgements, done at once,
    send none (the first is due BEAT_EVERY into the attempt; a minute here, so that a loaded
    machine's slow answers cannot make the batch outlast it)."""
    monkeypatch.setattr(checkpoints, "BEAT_EVERY", 60.0)
    for incident_id in ("Q1DISK7", "Q2API5X"):
        assign_in_pagerduty(fresh_sandbox, incident_id, "PBOBOKA", by="alice@novalien.com")
    batch = IncidentAckBatch(
        from_email="bob@novalien.com", incoming_id="PBOBOKA", incident_ids=["Q1DISK7", "Q2API5X"]
    )
    env, beats = attempt([])
    results = env.run(PagerDutyActivities(settings).acknowledge_incidents, batch)
    assert [r.outcome for r in results] == [Outcome.HANDED_OVER, Outcome.HANDED_OVER]
    assert beats == []


def test_a_longer_batch_beats_its_checkpoint_once_the_first_beat_is_due(monkeypatch):
    monkeypatch.setattr(checkpoints, "BEAT_EVERY", 0.05)
    env, beats = attempt([])

    def work() -> None:
        with Checkpoint() as checkpoint:
            checkpoint.record("a", 1)
            assert beats == []  # (not due yet)
            time.sleep(0.06)
            checkpoint.record("b", 2)

    env.run(work)
    assert beats == [[{"a": 1, "b": 2}]]
