"""The autopilot's routes over HTTP against the dev server: its status, and each steer with an
admin's or a service's token, recorded as the token says; every refusal changes nothing."""

from __future__ import annotations

from temporalio.api.sdk.v1 import WorkflowMetadata

from handover import autopilot
from handover.models import AutopilotRequest, autopilot_id
from tests.conftest import OBSERVER

SCHEDULE = "PPRIMARY"
"""The demo's: Alice's week began two days ago, so Bob's begins in five (nothing starts here)."""


async def test_status_and_every_steer_over_http(endpoint, fresh_sandbox):
    request = AutopilotRequest(schedule_id=SCHEDULE, requested_by="cli:test")
    on = await autopilot.turn_on(endpoint.client, endpoint.task_queue, request, why="weekly rotation")
    try:
        assert on is not None and on.next is not None
        # What the Temporal UI shows: the schedule in the summary, what it does next as details.
        handle = endpoint.client.get_workflow_handle(autopilot_id(SCHEDULE))
        shown = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "alice@novalien.com → bob@novalien.com" in shown.current_details
        assert "the handover starts at" in shown.current_details
        summary = (await handle.describe()).raw_description.execution_config.user_metadata.summary
        assert SCHEDULE.encode() in summary.data
        async with endpoint.http() as anonymous:
            assert (await anonymous.get(f"/autopilots/{SCHEDULE}")).status_code == 401
            assert (
                await anonymous.post(f"/autopilots/{SCHEDULE}/pause", json={"why": "x"})
            ).status_code == 401
        async with (
            endpoint.http("carol@novalien.com") as carol,
            endpoint.http("service:pipeline") as pipeline,
        ):
            read = await carol.get(f"/autopilots/{SCHEDULE}")
            assert read.status_code == 200, read.text
            assert read.json()["next"]["outgoing"] == "alice@novalien.com"
            listed = await pipeline.get("/autopilots")
            assert listed.status_code == 200
            assert [a["schedule"] for a in listed.json()] == [SCHEDULE]
            assert "alice@novalien.com → bob@novalien.com" in listed.json()[0]["next"]

            for bad, status, says in (
                ({}, 422, "why"),
                ({"why": "   "}, 422, "say why"),
                ({"why": "x", "by": "mallory@example.com"}, 422, "by"),
            ):
                answer = await carol.post(f"/autopilots/{SCHEDULE}/pause", json=bad)
                assert answer.status_code == status and says in answer.json()["detail"], (bad, answer.text)
            async with endpoint.http(OBSERVER) as erin:
                assert (await erin.get(f"/autopilots/{SCHEDULE}")).status_code == 200
                looked = await erin.post(f"/autopilots/{SCHEDULE}/pause", json={"why": "x"})
                assert looked.status_code == 403 and "Observers read" in looked.json()["detail"]
            unknown = await carol.get("/autopilots/PNOPE99")
            assert unknown.status_code == 404 and "not on" in unknown.json()["detail"]
            malformed = await carol.get("/autopilots/not-a-schedule")
            assert malformed.status_code == 422

            paused = await carol.post(f"/autopilots/{SCHEDULE}/pause", json={"why": "freeze week"})
            assert paused.status_code == 200, paused.text
            assert paused.json()["paused"]["by"] == "carol@novalien.com"
            again = await pipeline.post(f"/autopilots/{SCHEDULE}/pause", json={"why": "again"})
            assert again.status_code == 409 and "paused already" in again.json()["detail"]
            skipped = await pipeline.post(f"/autopilots/{SCHEDULE}/skip-next", json={"why": "bank holiday"})
            assert skipped.status_code == 200 and skipped.json()["skip"]["by"] == "service:pipeline"
            resumed = await pipeline.post(f"/autopilots/{SCHEDULE}/resume", json={"why": "freeze over"})
            assert resumed.status_code == 200
            body = resumed.json()
            assert body["paused"] is None and body["skip"] is None
            steers = [(s["action"], s["by"], s["why"]) for s in body["steers"]]
            assert steers == [
                ("start", "cli:test", "weekly rotation"),
                ("pause", "carol@novalien.com", "freeze week"),
                ("skip-next", "service:pipeline", "bank holiday"),
                ("resume", "service:pipeline", "freeze over"),
            ], "each steer recorded with who (as the token says) and why; the refused one is not"
            nothing = await carol.post(f"/autopilots/{SCHEDULE}/resume", json={"why": "again"})
            assert nothing.status_code == 409 and "nothing to resume" in nothing.json()["detail"]
        assert fresh_sandbox.writes() == [], "steering writes nothing outside Temporal"
    finally:
        await endpoint.client.get_workflow_handle(autopilot_id(SCHEDULE)).terminate("the test ends")
