"""An emergency handover in an alert storm, on the dev server and the sandbox over HTTPS, with
PagerDuty's rate limit enforced per token (a short window, so that it bites within the test).

`make bench` runs the full storm (2,000 incidents, 500 tickets, 200 rollouts); this is the same
handover, smaller, asserting the write log."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from handover import service
from handover.models import AllItemsInput, InputKind, Outcome, SummaryAckInput
from sandbox.storm import storm
from tests.handovers import emergency
from tests.humans import INCOMING
from tests.writes import duplicates, successful

INCIDENTS, TICKETS, ROLLOUTS = 600, 60, 30
RATE = {"api": "pagerduty", "per_minute": 200, "window_seconds": 4}
HISTORY_BOUND = 10_240
"""Temporal's warning threshold for a workflow history, in events."""


async def test_storm_handover_respects_the_rate_limit_and_stays_small(dev_server, fresh_sandbox):
    client, task_queue = dev_server
    fresh_sandbox.reset(storm(INCIDENTS, TICKETS, ROLLOUTS))
    with fresh_sandbox.control() as control:
        control.put("/limits", json={"rate_limits": [RATE]}).raise_for_status()
    try:
        request = emergency("incapacitated", "e2e", overlap=timedelta(seconds=2))
        handle = await service.start(client, task_queue, request)
        # Every input up front, as signals: held until the handover can take them. Incoming
        # acknowledges all incidents and takes all rollouts in one input each.
        await handle.signal(InputKind.ALL_INCIDENTS_ACK.value, AllItemsInput(actor=INCOMING))
        await handle.signal(InputKind.ALL_ROLLOUTS_OWNERSHIP.value, AllItemsInput(actor=INCOMING))
        await handle.signal(InputKind.SUMMARY_ACK.value, SummaryAckInput(actor=INCOMING))
        report = await handle.result()
        with fresh_sandbox.control() as control:
            limits = control.get("/limits").json()
    finally:
        with fresh_sandbox.control() as control:
            control.delete("/limits").raise_for_status()

    assert len(report.incidents) == INCIDENTS and len(report.tickets) == TICKETS
    assert len(report.rollouts) == ROLLOUTS
    items = report.incidents + report.tickets + report.rollouts
    assert Counter(i.outcome for i in items) == {Outcome.HANDED_OVER: len(items)}, report.error
    assert all(i.acknowledged and i.acknowledged.via == "acknowledge all" for i in report.incidents)
    assert all(r.owned and r.owned.via == "take all" for r in report.rollouts)

    writes = fresh_sandbox.writes()
    assert limits["refused"].get("pagerduty", 0) > 0, "the rate limit never bit: the test proves nothing"
    refused = [w for w in writes if w["status"] == 429]
    assert refused and all(w["fault"] == "rate_limited" for w in refused)
    # Every incident: one note, reassigned once, acknowledged once, in bulk requests of at most 250.
    bulk = successful(writes, "pagerduty", "PUT", "/incidents")
    assert all(w["path"] == "/incidents" and len(w["body"]["incidents"]) <= 250 for w in bulk)
    reassigned = Counter(i["id"] for w in bulk for i in w["body"]["incidents"] if "assignments" in i)
    acknowledged = Counter(i["id"] for w in bulk for i in w["body"]["incidents"] if "status" in i)
    expected = {i.incident.id: 1 for i in report.incidents}
    assert reassigned == expected and acknowledged == expected
    notes = Counter(w["path"] for w in successful(writes, "pagerduty", "POST", "/notes"))
    assert notes == {f"/incidents/{incident_id}/notes": 1 for incident_id in expected}
    assert duplicates(writes) == {}
    # Reads in listings and notes posted side by side: well under the three requests per incident
    # (note, reassign, acknowledge) of a script that goes one incident at a time.
    assert limits["allowed"]["pagerduty"] < 2 * INCIDENTS
    state = fresh_sandbox.store.state.pagerduty.incidents
    assert {state[i].status for i in expected} == {"acknowledged"}
    assert {tuple(a.user for a in state[i].assignments) for i in expected} == {("PBOBOKA",)}

    history = await handle.fetch_history()
    assert len(history.events) < HISTORY_BOUND
    # Batched: the history grows with the number of batches, not with the number of items.
    assert len(history.events) < 400, len(history.events)
