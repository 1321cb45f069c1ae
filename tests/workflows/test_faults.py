"""A handover under injected faults: a quarter of all requests fail in every way the sandbox can
fail them, and the handover still completes, with no change made twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from handover import service
from handover.models import Outcome, Variant
from tests.conftest import skipping, worker
from tests.handovers import alice_to_bob
from tests.humans import inventory, play_incoming, play_outgoing
from tests.writes import duplicates

FAULTS = {
    "seed": 2026,
    "faults": [
        {"kind": "error", "rate": 0.08},
        {"kind": "rate_limit", "rate": 0.05, "retry_after": 1},
        {"kind": "drop", "rate": 0.04},
        {"kind": "lost_response", "rate": 0.06},
        {"kind": "slow", "rate": 0.03, "delay": 2.5},
    ],
}


REQUESTS = {
    "planned-offboarding": alice_to_bob("t", offboarding=True),
    "emergency-compromised": alice_to_bob("t", variant=Variant.EMERGENCY, reason="compromised"),
}


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_a_handover_under_a_quarter_of_requests_failing_completes_without_doubles(
    name, time_skipping, fresh_sandbox, settings, activity_executor: ThreadPoolExecutor
):
    env, _ = time_skipping
    impatient = settings.model_copy(update={"http_timeout_seconds": 1.5})  # `slow` outlasts it
    with fresh_sandbox.control() as control:
        control.put("/faults", json=FAULTS).raise_for_status()
    try:
        async with worker(env.client, "faulty", skipping(impatient), activity_executor):  # (watch off)
            handle = await service.start(env.client, "faulty", REQUESTS[name])
            await inventory(env.client, handle.id)
            await play_outgoing(env.client, handle.id)
            await play_incoming(env.client, handle.id, timeout=300)  # (retries take real time)
            report = await handle.result()
            items = report.incidents + report.tickets + report.rollouts
            assert [i for i in items if i.outcome is not Outcome.HANDED_OVER] == []
            assert duplicates(fresh_sandbox.writes()) == {}
        with fresh_sandbox.control() as control:
            fired = control.get("/faults").json()
        assert fired["fired_share"] >= 0.15, fired
    finally:
        with fresh_sandbox.control() as control:
            control.delete("/faults")
