"""Every route of the endpoint, its success and each error status, over HTTP against the dev server."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from handover import inputs, service
from handover.models import HandoverRequest, Phase, SummaryAckInput
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.conftest import OBSERVER, OUTSIDER
from tests.humans import INCOMING, OUTGOING, inventory, play_incoming, play_outgoing, wait_for

ID = "handover-alice@novalien.com"
STATUS = {
    "hypothesis": "WAL archive stalled",
    "last_action": "freed 40 GB",
    "next_action": "fix the bucket key",
}


async def start(endpoint, **body) -> dict:
    async with endpoint.http("service:pipeline") as http:
        answer = await http.post("/handovers", json={"outgoing": OUTGOING, "incoming": INCOMING, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_start_with_the_service_token_and_every_refusal(endpoint, fresh_sandbox):
    body = {"outgoing": OUTGOING, "incoming": INCOMING}
    async with endpoint.http() as anonymous:
        assert (await anonymous.post("/handovers", json=body)).status_code == 401
    async with endpoint.http() as forged:
        forged.headers["Authorization"] = "Bearer not-a-token"
        answer = await forged.post("/handovers", json=body)
        assert answer.status_code == 401 and "not known" in answer.json()["detail"]
    async with endpoint.http(OUTGOING) as alice:
        answer = await alice.post("/handovers", json=body)
        assert answer.status_code == 403 and "service token" in answer.json()["detail"]
    async with endpoint.http("service:pipeline") as pipeline:
        for bad, says in (
            ({**body, "incoming": OUTGOING}, "same admin"),
            ({**body, "incoming": "bob"}, "not an email"),
            ({**body, "variant": "weekly"}, "variant"),
            ({**body, "overlap": "PT30M"}, '"demo": true'),
            ({**body, "variant": "emergency"}, "incapacitated or compromised"),
            ({**body, "surprise": 1}, "surprise"),
        ):
            answer = await pipeline.post("/handovers", json=bad)
            assert answer.status_code == 422 and says in answer.json()["detail"], (bad, answer.text)
        assert (
            await pipeline.post(
                "/handovers", content=b"{not json", headers={"Content-Type": "application/json"}
            )
        ).status_code == 422
        assert fresh_sandbox.writes() == []

        first = await pipeline.post("/handovers", json=body, headers={"Idempotency-Key": "offboard-alice-42"})
        assert first.status_code == 201 and first.json()["id"] == ID
        again = await pipeline.post("/handovers", json=body, headers={"Idempotency-Key": "offboard-alice-42"})
        assert again.status_code == 201 and again.json()["id"] == ID, (
            "a repeat of the same start is the same handover"
        )
        other = await pipeline.post("/handovers", json={**body, "incoming": "carol@novalien.com"})
        assert other.status_code == 409 and other.json()["running_id"] == ID
        demo = {"outgoing": "carol@novalien.com", "incoming": "bob@novalien.com", "overlap": "PT5M"}
        short = await pipeline.post("/handovers", json={**demo, "demo": True})
        assert short.status_code == 201, f"what the refusal of a short overlap says works: {short.text}"


def demo_with_slack(change) -> dict:
    scenario = read_scenario_file(DEMO_SCENARIO)
    change(scenario["slack"])
    return scenario


def bob_not_in_slack(slack: dict) -> None:
    slack["users"] = [u for u in slack["users"] if u["email"] != INCOMING]


def bot_not_invited(slack: dict) -> None:
    next(c for c in slack["channels"] if c["id"] == "C0PLATOPS")["members"] = ["U0ALICE", "U0BOB"]


async def test_a_start_refused_at_step_0_is_answered_with_the_refusal(endpoint, fresh_sandbox):
    """The pipeline hears at once, with the refusal's own status and sentence, and nothing is
    written: not a 201 followed by a failure that nobody reads."""
    body = {"outgoing": OUTGOING, "incoming": INCOMING}
    async with endpoint.http("service:pipeline") as pipeline:
        not_admin = await pipeline.post("/handovers", json={**body, "incoming": "dave@novalien.com"})
        assert not_admin.status_code == 403, not_admin.text
        assert "dave@novalien.com is not an active platform admin" in not_admin.json()["detail"]
        try:
            for change, status, detail in (
                (
                    bob_not_in_slack,
                    422,
                    "bob@novalien.com has no Slack account in this workspace (Slack's users.lookupByEmail "
                    "found nobody): check the address, or add them to Slack",
                ),
                (
                    bot_not_invited,
                    424,
                    "the Slack bot is not a member of #novavms-platform-ops (C0PLATOPS): "
                    "invite it with /invite @oncall-handover",
                ),
            ):
                fresh_sandbox.reset(demo_with_slack(change))
                answer = await pipeline.post("/handovers", json=body)
                assert answer.status_code == status, answer.text
                assert answer.json()["detail"] == detail
            assert fresh_sandbox.writes() == []
        finally:
            fresh_sandbox.reset(DEMO_SCENARIO)


async def test_progress_report_and_me(endpoint, fresh_sandbox):
    await start(endpoint)
    await inventory(endpoint.client, ID)
    async with endpoint.http(OUTGOING) as alice:
        progress = await alice.get(f"/handovers/{ID}")
        assert progress.status_code == 200 and progress.json()["phase"] == "handing over"
        assert (await alice.get(f"/handovers/{OUTGOING}")).json()["handover_id"] == ID, (
            "by the outgoing email too"
        )
        assert (await alice.get("/handovers/handover-nobody@novalien.com")).status_code == 404
        assert (await alice.get("/handovers/..%2F..%2Fetc%2Fpasswd")).status_code in (404, 422)
        early = await alice.get(f"/handovers/{ID}/report")
        assert early.status_code == 409 and "still running" in early.json()["detail"]
        me = (await alice.get("/me")).json()
        assert me["actor"] == OUTGOING and [(h["id"], h["role"]) for h in me["handovers"]] == [
            (ID, "outgoing")
        ]
    async with endpoint.http(INCOMING) as bob:
        assert [h["role"] for h in (await bob.get("/me")).json()["handovers"]] == ["incoming"]
    async with endpoint.http("service:pipeline") as pipeline:
        cancelled = await pipeline.post(f"/handovers/{ID}/cancel", json={"reason": "wrong incoming admin"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "accepted"
        report = await wait_for_report(pipeline)
        assert report["phase"] == "cancelled" and report["cancelled"]["by"] == "service:pipeline"
        again = await pipeline.post(f"/handovers/{ID}/cancel", json={"reason": "again please"})
        assert again.status_code == 409 and "has ended" in again.json()["detail"]
    async with endpoint.http(OUTGOING) as alice:  # ended: listed after the running ones, its last run
        for _ in range(100):  # visibility follows the close shortly
            me = (await alice.get("/me")).json()
            if not me["handovers"] and me["ended"] and me["ended"][0]["phase"] == "cancelled":
                break
            await asyncio.sleep(0.1)
        assert me["handovers"] == [] and (me["ended"][0]["id"], me["ended"][0]["role"]) == (ID, "outgoing")
        assert me["ended"][0]["phase"] == "cancelled" and me["ended"][0]["ended_at"]
        assert len({h["id"] for h in me["ended"]}) == len(me["ended"]), "one entry per handover id"


async def test_a_handover_is_read_by_its_people_and_observers_and_unknown_to_anyone_else(
    endpoint, fresh_sandbox
):
    """Dave holds a token but is in no handover; service:audit is not the requester; erin is an
    observer (HANDOVER_OBSERVERS)."""
    await start(endpoint)
    await inventory(endpoint.client, ID)
    unknown_id = "handover-nobody@novalien.com"

    async def answers(who: str, path: str) -> tuple[int, str]:
        async with endpoint.http(who) as http:
            answer = await http.get(path)
        return answer.status_code, answer.json()["detail"] if answer.status_code >= 400 else ""

    for reader in (OUTGOING, INCOMING, "service:pipeline", OBSERVER):
        assert (await answers(reader, f"/handovers/{ID}"))[0] == 200, reader
    for outsider in (OUTSIDER, "service:audit"):
        for path in (f"/handovers/{ID}", f"/handovers/{OUTGOING}", f"/handovers/{ID}/report"):
            status, detail = await answers(outsider, path)
            assert (status, detail) == (404, f"no handover {ID}"), (outsider, path)
        unknown = await answers(outsider, f"/handovers/{unknown_id}")
        assert unknown == (404, f"no handover {unknown_id}"), "said as for an id that does not exist"
        async with endpoint.http(outsider) as http:
            me = (await http.get("/me")).json()
            assert ID not in [h["id"] for h in me["handovers"]], (
                outsider
            )  # (`ended`: earlier runs may be theirs)
            status = await http.post(f"/handovers/{ID}/incidents/Q1DISK7/status", json=STATUS)
            cancel = await http.post(f"/handovers/{ID}/cancel", json={"reason": "not mine to cancel"})
        # Its inputs: no such handover either (a service's token is refused people's inputs first).
        assert (status.status_code, cancel.status_code) == (403 if "service:" in outsider else 404, 404)
        assert cancel.json()["detail"] == f"no handover {ID}", "refused by the workflow, told as unknown"
    async with endpoint.http("service:pipeline") as pipeline:
        assert ID in [h["id"] for h in (await pipeline.get("/me")).json()["handovers"]], "the requester's"
    async with endpoint.http(OBSERVER) as erin:
        me = (await erin.get("/me")).json()
        assert (ID, "observer") in [(h["id"], h["role"]) for h in me["handovers"]]
        refused = await erin.post(f"/handovers/{ID}/cancel", json={"reason": "observers only read"})
        assert refused.status_code == 403, "an observer reads; it gives no input"

    async with endpoint.http("service:pipeline") as pipeline:
        await pipeline.post(f"/handovers/{ID}/cancel", json={"reason": "read test over"})
        await wait_for_report(pipeline)
    assert (await answers(OBSERVER, f"/handovers/{ID}/report"))[0] == 200
    assert await answers(OUTSIDER, f"/handovers/{ID}/report") == (404, f"no handover {ID}")

    # Alice hands over again, to Carol: her id names the new run, which is not Bob's to read, and his
    # /me no longer lists the id (opening it would be a 404).
    await start(endpoint, incoming="carol@novalien.com")
    assert (await answers(INCOMING, f"/handovers/{ID}")) == (404, f"no handover {ID}")
    async with endpoint.http(INCOMING) as bob:
        me = (await bob.get("/me")).json()
    assert ID not in [h["id"] for h in me["handovers"] + me["ended"]]
    async with endpoint.http("service:pipeline") as pipeline:
        await pipeline.post(f"/handovers/{ID}/cancel", json={"reason": "read test over"})


async def wait_for_report(http) -> dict:
    for _ in range(100):
        answer = await http.get(f"/handovers/{ID}/report")
        if answer.status_code == 200:
            return answer.json()
        await asyncio.sleep(0.1)
    raise AssertionError(answer.text)


async def test_every_input_and_its_refusals(endpoint, fresh_sandbox):
    await start(endpoint)
    listed = await inventory(endpoint.client, ID)
    incident = listed.incidents[0].incident.id
    rollout = listed.rollouts[0].rollout
    base = f"/handovers/{ID}"
    async with endpoint.http(OUTGOING) as alice, endpoint.http(INCOMING) as bob, endpoint.http() as anonymous:
        assert (await anonymous.post(f"{base}/incidents/{incident}/status", json=STATUS)).status_code == 401
        async with endpoint.http("service:pipeline") as pipeline:
            answer = await pipeline.post(f"{base}/incidents/{incident}/status", json=STATUS)
            assert answer.status_code == 403 and "own token" in answer.json()["detail"]
        answer = await bob.post(f"{base}/incidents/{incident}/status", json=STATUS)
        assert answer.status_code == 403 and "outgoing admin" in answer.json()["detail"]
        answer = await alice.post(f"{base}/incidents/QNOSUCH/status", json=STATUS)
        assert answer.status_code == 404 and "not part of" in answer.json()["detail"]
        answer = await alice.post(f"{base}/incidents/{incident}/status", json={"hypothesis": "x"})
        assert answer.status_code == 422 and "last_action" in answer.json()["detail"]
        answer = await alice.post(f"{base}/incidents/{incident}/status", json={**STATUS, "hypothesis": "dns"})
        assert answer.json()["detail"] == (
            "Invalid input: hypothesis: 'dns' is one word: write what you think is happening, in a few words."
        )
        answer = await alice.post(f"{base}/incidents/bad%20id/status", json=STATUS)
        assert answer.status_code == 422
        assert answer.json()["detail"] == (
            "Invalid input: incident_id: 'bad id' is not an incident id (letters, digits and . _ : - only)."
        )
        answer = await alice.post(f"{base}/tickets/SUP-1051/engineering-link", json={"issue": "ENG 42"})
        assert answer.status_code == 422 and answer.json()["detail"] == (
            "Invalid input: issue: an engineering issue is a key like ENG-1234 or a URL, without spaces "
            "('ENG 42' has one)."
        )
        answer = await bob.post(f"{base}/unclear-threads", json={"thread_ts": "123", "question": "?"})
        assert answer.status_code == 422 and "'123' is not a Slack thread" in answer.json()["detail"]
        assert "question: '?' is too short: write a few words" in answer.json()["detail"]
        answer = await bob.post(f"{base}/incidents/{incident}/ack")
        assert answer.status_code == 409 and "no status paragraph yet" in answer.json()["detail"]

        answer = await alice.post(f"{base}/incidents/{incident}/status", json=STATUS)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted"
        answer = await alice.post(f"{base}/incidents/{incident}/status", json=STATUS)
        assert answer.status_code == 409 and "was given by alice" in answer.json()["detail"]
        assert (await bob.post(f"{base}/incidents/{incident}/ack")).status_code == 200

        link = await alice.post(f"{base}/tickets/SUP-1051/engineering-link", json={"issue": "ENG-4242"})
        assert link.status_code == 200
        not_needed = await alice.post(f"{base}/tickets/SUP-1042/engineering-link", json={"issue": "ENG-1"})
        assert not_needed.status_code == 403 and "not waiting on engineering" in not_needed.json()["detail"]

        early = await bob.post(f"{base}/rollouts/{rollout.id}/ownership")
        assert early.status_code == 409 and "no annotation yet" in early.json()["detail"]
        one_word = {"ramp_percent": rollout.ramp_percent, "error_rate": 0.4, "next_step": "hold"}
        answer = await alice.post(f"{base}/rollouts/{rollout.id}/annotation", json=one_word)
        assert answer.status_code == 422 and "next_step: 'hold' is one word" in answer.json()["detail"]
        annotation = {**one_word, "next_step": "hold at this ramp"}
        assert (
            await alice.post(f"{base}/rollouts/{rollout.id}/annotation", json=annotation)
        ).status_code == 200
        bad = await alice.post(
            f"{base}/rollouts/{rollout.id}/annotation", json={**annotation, "ramp_percent": 140}
        )
        assert bad.status_code == 422 and "ramp_percent" in bad.json()["detail"]
        assert (await bob.post(f"{base}/rollouts/{rollout.id}/ownership")).status_code == 200

        summary = await bob.post(f"{base}/summary/ack")
        assert summary.status_code == 409 and "not posted yet" in summary.json()["detail"]
        mitigated = await bob.post(f"{base}/mitigated", json={"note": "?"})
        assert mitigated.status_code == 403 and "mid-shift" in mitigated.json()["detail"]
        flag = await bob.post(
            f"{base}/unclear-threads", json={"thread_ts": "1764342000.000100", "question": "why?"}
        )
        assert flag.status_code == 200
        not_incoming = await alice.post(
            f"{base}/unclear-threads", json={"thread_ts": "1764342000.000200", "question": "why?"}
        )
        assert not_incoming.status_code == 403
        async with endpoint.http("dave@novalien.com") as dave:  # not one of its people: no such handover
            outsider = await dave.post(f"{base}/cancel", json={"reason": "not mine"})
            assert outsider.status_code == 404 and outsider.json()["detail"] == f"no handover {ID}"

        await play_outgoing(endpoint.client, ID)
        await play_incoming(endpoint.client, ID)
        done = await wait_for(endpoint.client, ID, lambda p: p.phase is Phase.OVERLAP)
        assert done.summary.acknowledged.by == INCOMING
        finished = await bob.post(f"{base}/summary/ack")
        assert finished.status_code == 409 and "already" in finished.json()["detail"]


async def start_unworked(endpoint):
    """A handover on a task queue that no worker polls."""
    request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="t")
    return await service.start(endpoint.client, "no-worker-here", request)


async def test_an_input_with_no_worker_up_is_queued_as_a_signal(endpoint, fresh_sandbox):
    handle = await start_unworked(endpoint)
    async with endpoint.http(OUTSIDER) as dave:  # not one of its people: no such handover, no signal
        outsider = await dave.post(f"/handovers/{ID}/summary/ack")
    assert (outsider.status_code, outsider.json()["detail"]) == (404, f"no handover {ID}")
    async with endpoint.http(INCOMING) as bob:
        answer = await bob.post(f"/handovers/{ID}/summary/ack")
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    from temporalio.api.enums.v1 import EventType

    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 1, "Bob's alone"
    await handle.terminate("test done")


async def test_an_input_with_no_worker_up_waits_no_longer_than_asked(endpoint, fresh_sandbox):
    """The SDK asks again, with its whole rpc_timeout each time, while the server answers that the
    Update is only admitted: bounded in all, so Slack (3 s) and the endpoint's callers get their
    answer when they were told they would."""
    handle = await start_unworked(endpoint)
    try:
        for _ in range(3):
            started = time.monotonic()
            given = SummaryAckInput(actor=INCOMING)
            sent = await service.send(endpoint.client, ID, inputs.SUMMARY_ACK, given, timedelta(seconds=1.5))
            took = time.monotonic() - started
            assert sent is None, "relayed as its Signal"
            assert took < 1.5 + 0.5, f"the wait was 1.5 s; it took {took:.1f} s"
    finally:
        await handle.terminate("test done")


async def test_health_metrics_and_the_openapi_document(endpoint):
    async with endpoint.http() as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"ok": True}
        await anonymous.get("/me")
        metrics = (await anonymous.get("/metrics")).text
        assert 'handover_endpoint_requests_total{method="GET",route="/me",status="401"} 1.0' in metrics
        assert "handover_endpoint_request_seconds_bucket" in metrics
        spec = (await anonymous.get("/openapi.json")).json()
        assert "/handovers/{handover_id}/incidents/{incident_id}/status" in spec["paths"]
        assert (await anonymous.get("/")).headers["content-type"].startswith("text/html")


async def test_inputs_are_in_the_history_as_the_token_s_person(endpoint, fresh_sandbox):
    await start(endpoint)
    incident = (await inventory(endpoint.client, ID)).incidents[0].incident.id
    async with endpoint.http(OUTGOING) as alice:
        body = {**STATUS, "actor": "carol@novalien.com"}
        refused = await alice.post(f"/handovers/{ID}/incidents/{incident}/status", json=body)
        assert refused.status_code == 422, "the actor is the token's person, never a field in the body"
        assert (
            await alice.post(f"/handovers/{ID}/incidents/{incident}/status", json=STATUS)
        ).status_code == 200
    current = await service.progress(endpoint.client, ID)
    assert next(i for i in current.incidents if i.incident.id == incident).status_given.by == OUTGOING


async def test_a_terminated_or_unworked_handover_says_what_is_wrong(endpoint, fresh_sandbox):
    handle = await start_unworked(endpoint)
    async with endpoint.http(OUTGOING) as alice:
        waiting = await alice.get(f"/handovers/{ID}")
        assert waiting.status_code == 503 and "is the worker running?" in waiting.json()["detail"]
        await handle.terminate(reason="started by mistake")
        ended = await alice.get(f"/handovers/{ID}")
        assert ended.status_code == 409
        assert (
            "ended (terminated)" in ended.json()["detail"] and "started by mistake" in ended.json()["detail"]
        )
        assert (await alice.get(f"/handovers/{ID}/report")).status_code == 409


async def test_acknowledge_all_and_take_all_in_one_input_each(endpoint, fresh_sandbox):
    """An alert storm's bulk inputs: refused until something is ready, then every ready item at
    once, recorded per item; then nothing is left to take."""
    await start(endpoint)
    listed = await inventory(endpoint.client, ID)
    base = f"/handovers/{ID}"
    async with endpoint.http(OUTGOING) as alice, endpoint.http(INCOMING) as bob:
        answer = await alice.post(f"{base}/incidents/ack-all")
        assert answer.status_code == 403 and "incoming admin" in answer.json()["detail"]
        answer = await bob.post(f"{base}/incidents/ack-all")
        assert answer.status_code == 409 and "none of the 3 incidents has a status" in answer.json()["detail"]
        answer = await bob.post(f"{base}/rollouts/ownership-all")
        assert answer.status_code == 409 and "annotated yet" in answer.json()["detail"]
        for item in listed.incidents[:2]:
            status = await alice.post(f"{base}/incidents/{item.incident.id}/status", json=STATUS)
            assert status.status_code == 200
        answer = await bob.post(f"{base}/incidents/ack-all")
        assert answer.status_code == 200, answer.text
        assert "2 incidents acknowledged" in answer.json()["message"]
        assert "1 still wait" in answer.json()["message"]
        answer = await bob.post(f"{base}/incidents/ack-all")
        assert answer.status_code == 409, "the third has no status yet: nothing is ready"
    progress = await service.progress(endpoint.client, ID)
    acknowledged = [i for i in progress.incidents if i.acknowledged is not None]
    assert [(i.acknowledged.by, i.acknowledged.via) for i in acknowledged] == [
        (INCOMING, "acknowledge all")
    ] * 2
