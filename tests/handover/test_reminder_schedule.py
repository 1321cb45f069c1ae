"""When a pending input is reminded, escalated and escalated again: a pure schedule."""

from datetime import UTC, datetime, timedelta

from handover import decisions
from handover.models import (
    Done,
    HandoverProgress,
    IncidentHandover,
    InputKind,
    Phase,
    ReminderMark,
    ReminderPolicy,
)
from tests.handover.examples import ALICE, BOB, INCIDENT, request

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = ReminderPolicy(
    remind_after=timedelta(minutes=30), escalate_after=timedelta(hours=2), repeat_every=timedelta(hours=4)
)


def progress_waiting_for_one_status() -> HandoverProgress:
    incident = INCIDENT.model_copy(update={"created_at": T0})
    return HandoverProgress(
        handover_id="h",
        request=request(reminders=POLICY),
        started_at=T0,
        phase=Phase.HANDING_OVER,
        outgoing=ALICE,
        incoming=BOB,
        inventory_at=T0,
        incidents=[IncidentHandover(incident=incident)],
    )


def due(progress: HandoverProgress, after: timedelta) -> tuple[list[str], list[str]]:
    remind, escalate = decisions.due_reminders(progress, T0 + after)
    return [w.item_id for w in remind], [w.item_id for w in escalate]


def send(progress: HandoverProgress, after: timedelta, escalated: bool) -> None:
    for wait in decisions.pending_inputs(progress):
        mark = progress.reminders.setdefault(decisions.reminder_key(wait), ReminderMark())
        if escalated:
            mark.escalated_at = T0 + after
            mark.escalations += 1
        else:
            mark.reminded_at = T0 + after


def test_reminded_after_remind_after_then_escalated_then_repeated_up_to_the_cap():
    progress = progress_waiting_for_one_status()
    assert decisions.next_reminder_at(progress) == T0 + timedelta(minutes=30)
    assert due(progress, timedelta(minutes=28)) == ([], [])
    assert due(progress, timedelta(minutes=29)) == (["Q1"], []), "within a minute: batched with others"
    assert due(progress, timedelta(minutes=30)) == (["Q1"], [])
    send(progress, timedelta(minutes=30), escalated=False)
    assert due(progress, timedelta(minutes=31)) == ([], [])
    assert decisions.next_reminder_at(progress) == T0 + timedelta(hours=2)
    assert due(progress, timedelta(hours=2)) == ([], ["Q1"])
    for repeat in range(POLICY.max_escalations):
        at = timedelta(hours=2 + 4 * repeat)
        assert due(progress, at) == ([], ["Q1"])
        send(progress, at, escalated=True)
        assert due(progress, at + timedelta(hours=3, minutes=58)) == ([], [])
    assert due(progress, timedelta(days=30)) == ([], [])
    assert decisions.next_reminder_at(progress) is None


def test_a_late_wake_escalates_without_a_reminder_first():
    assert due(progress_waiting_for_one_status(), timedelta(hours=5)) == ([], ["Q1"])


def test_nothing_is_due_once_the_input_arrives():
    progress = progress_waiting_for_one_status()
    send(progress, timedelta(minutes=30), escalated=False)
    progress.incidents[0].status_given = Done(by=ALICE.email, at=T0 + timedelta(minutes=40))
    # Now incoming owes the acknowledgement, counted from the status: a new schedule.
    remind, escalate = decisions.due_reminders(progress, T0 + timedelta(hours=2))
    assert escalate == [] and [w.kind for w in remind] == [InputKind.INCIDENT_ACK]
    progress.incidents[0].acknowledged = Done(by=BOB.email, at=T0 + timedelta(hours=1))
    assert decisions.due_reminders(progress, T0 + timedelta(days=1)) == ([], [])
    assert decisions.next_reminder_at(progress) is None
