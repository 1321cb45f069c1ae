"""Slack and PagerDuty request signing, end to end: a valid event reaches the handover; a tampered
body, a wrong secret or a stale timestamp is refused (401); a replayed event is harmless, and a
PagerDuty event is relayed once, told apart by its signed id."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from temporalio.api.enums.v1 import EventType

from endpoint.events import pagerduty_signature_valid
from handover import service
from tests.conftest import PAGERDUTY_WEBHOOK_SECRETS, SLACK_SIGNING_SECRET
from tests.endpoint.test_api import ID, start
from tests.humans import INCOMING, inventory, play_outgoing, wait_for
from tests.workflows.test_events import incoming_done_but_the_summary


def slack_headers(body: bytes, secret: str = SLACK_SIGNING_SECRET, at: float | None = None) -> dict:
    timestamp = str(int(at if at is not None else time.time()))
    signature = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={signature}"}


def pagerduty_headers(body: bytes, secret: str, webhook_id: str) -> dict:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1={'0' * 64},v1={signature}", "X-Webhook-Id": webhook_id}


def reaction(ts: str, user: str = "U0BOB", name: str = "+1") -> bytes:
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": "C0PLATOPS", "ts": ts},
    }
    return json.dumps({"type": "event_callback", "event_id": f"Ev{ts}{user}", "event": event}).encode()


async def at_the_summary(endpoint) -> str:
    await start(endpoint)
    await play_outgoing(endpoint.client, ID)
    await incoming_done_but_the_summary(endpoint.client, ID)
    return (await wait_for(endpoint.client, ID, lambda p: p.summary is not None)).summary.ts


async def test_slack_url_verification_and_signature_refusals(endpoint):
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"}).encode()
    async with endpoint.http() as slack:
        answer = await slack.post("/slack/events", content=body, headers=slack_headers(body))
        assert answer.status_code == 200 and answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
        tampered = body.replace(b"3eZb", b"XXXX")
        assert (
            await slack.post("/slack/events", content=tampered, headers=slack_headers(body))
        ).status_code == 401
        wrong = slack_headers(body, secret="not-the-secret")
        assert (await slack.post("/slack/events", content=body, headers=wrong)).status_code == 401
        stale = slack_headers(body, at=time.time() - 301)
        answer = await slack.post("/slack/events", content=body, headers=stale)
        assert answer.status_code == 401 and "five minutes" in answer.json()["detail"]
        assert (await slack.post("/slack/events", content=body)).status_code == 401


async def test_incoming_thumbs_up_in_slack_acknowledges_the_summary_once(endpoint, fresh_sandbox):
    ts = await at_the_summary(endpoint)
    async with endpoint.http() as slack:
        forged = reaction(ts)
        bad = await slack.post("/slack/events", content=forged, headers=slack_headers(forged, secret="guess"))
        assert bad.status_code == 401
        assert (await service.progress(endpoint.client, ID)).summary.acknowledged is None
        carol = reaction(ts, user="U0CAROL")
        assert (
            await slack.post("/slack/events", content=carol, headers=slack_headers(carol))
        ).status_code == 200
        body = reaction(ts, name="+1::skin-tone-2")
        for attempt in range(3):  # Slack retries (X-Slack-Retry-Num); a replay changes nothing
            headers = {**slack_headers(body), **({"X-Slack-Retry-Num": str(attempt)} if attempt else {})}
            assert (await slack.post("/slack/events", content=body, headers=headers)).status_code == 200
    done = await wait_for(endpoint.client, ID, lambda p: p.summary.acknowledged is not None)
    assert done.summary.acknowledged.by == INCOMING
    assert [r.actor for r in done.rejected] == ["slack:U0CAROL"], "the replays left no trace"


async def test_the_summary_button_in_slack(endpoint, fresh_sandbox):
    ts = await at_the_summary(endpoint)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB"},
        "channel": {"id": "C0PLATOPS"},
        "container": {"type": "message", "message_ts": ts, "channel_id": "C0PLATOPS"},
        "actions": [{"action_id": "handover.acknowledge_summary", "value": ID, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    async with endpoint.http() as slack:
        tampered = body.replace(b"U0BOB", b"U0EVE")
        assert (
            await slack.post("/slack/interactivity", content=tampered, headers=headers)
        ).status_code == 401
        assert (await slack.post("/slack/interactivity", content=body, headers=headers)).status_code == 200
    done = await wait_for(endpoint.client, ID, lambda p: p.summary.acknowledged is not None)
    assert done.summary.acknowledged.by == INCOMING


def webhook(incident_id: str, agent: str, event_type: str = "incident.acknowledged") -> bytes:
    event = {
        "id": f"01{incident_id}{agent}",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2026-11-28T16:00:00Z",
        "agent": {"id": agent, "type": "user_reference"},
        "client": None,
        "data": {"id": incident_id, "type": "incident", "status": "acknowledged"},
    }
    return json.dumps({"event": event}).encode()


async def test_incoming_acknowledging_in_pagerduty_reaches_the_handover(endpoint, fresh_sandbox):
    await start(endpoint)
    incident = (await inventory(endpoint.client, ID)).incidents[0].incident.id
    await play_outgoing(endpoint.client, ID)
    await wait_for(endpoint.client, ID, lambda p: p.incidents[0].reassigned is not None)
    second = PAGERDUTY_WEBHOOK_SECRETS.split(",")[1]
    body = webhook(incident, "PBOBOKA")
    async with endpoint.http() as pagerduty:
        tampered = body.replace(b"PBOBOKA", b"PCAROLN")
        headers = pagerduty_headers(body, second, "wh-1")
        assert (
            await pagerduty.post("/pagerduty/webhooks", content=tampered, headers=headers)
        ).status_code == 401
        wrong = pagerduty_headers(body, "not-a-secret", "wh-2")
        assert (await pagerduty.post("/pagerduty/webhooks", content=body, headers=wrong)).status_code == 401
        assert (await pagerduty.post("/pagerduty/webhooks", content=body)).status_code == 401
        unrelated = webhook("QUNRELATED", "PBOBOKA")
        headers = pagerduty_headers(unrelated, second, "wh-3")
        assert (
            await pagerduty.post("/pagerduty/webhooks", content=unrelated, headers=headers)
        ).status_code == 200
        first = await pagerduty.post(
            "/pagerduty/webhooks", content=body, headers=pagerduty_headers(body, second, "wh-4")
        )
        assert first.status_code == 200 and "duplicate" not in first.json()
        replay = await pagerduty.post(  # PagerDuty's retry: the same event, a new X-Webhook-Id
            "/pagerduty/webhooks", content=body, headers=pagerduty_headers(body, second, "wh-5")
        )
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
    done = await wait_for(endpoint.client, ID, lambda p: p.incidents[0].acknowledged is not None)
    assert done.incidents[0].acknowledged.by == INCOMING and done.rejected == []


async def relayed(endpoint) -> int:
    """How many PagerDuty events reached the handover (its pagerduty_event signals)."""
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in endpoint.client.get_workflow_handle(ID).fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    return signals.count("pagerduty_event")


async def reassigned_to_incoming(endpoint) -> list[str]:
    """A handover whose first two incidents are bob's now, ready for his acknowledgements."""
    await start(endpoint)
    incidents = [item.incident.id for item in (await inventory(endpoint.client, ID)).incidents[:2]]
    await play_outgoing(endpoint.client, ID)
    await wait_for(endpoint.client, ID, lambda p: all(i.reassigned for i in p.incidents[:2]))
    return incidents


async def deliver(endpoint, body: bytes, webhook_id: str) -> dict:
    """A PagerDuty webhook, validly signed, under this X-Webhook-Id: its answer (200)."""
    headers = pagerduty_headers(body, PAGERDUTY_WEBHOOK_SECRETS.split(",")[0], webhook_id)
    async with endpoint.http() as pagerduty:
        answer = await pagerduty.post("/pagerduty/webhooks", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_pagerduty_events_are_de_duplicated_on_their_signed_id_not_on_x_webhook_id(
    endpoint, fresh_sandbox
):
    """The same signed event under a new X-Webhook-Id (as PagerDuty retries it, or anyone replays it)
    is relayed once."""
    incident, _ = await reassigned_to_incoming(endpoint)
    body = webhook(incident, "PBOBOKA")
    assert await deliver(endpoint, body, "wh-1") == {"ok": True}
    assert await deliver(endpoint, body, "wh-2") == {"ok": True, "duplicate": True}
    assert await relayed(endpoint) == 1


async def test_two_events_under_one_x_webhook_id_are_both_relayed(endpoint, fresh_sandbox):
    first, second = await reassigned_to_incoming(endpoint)
    assert await deliver(endpoint, webhook(first, "PBOBOKA"), "wh-1") == {"ok": True}
    assert await deliver(endpoint, webhook(second, "PBOBOKA"), "wh-1") == {"ok": True}
    assert await relayed(endpoint) == 2
    done = await wait_for(endpoint.client, ID, lambda p: all(i.acknowledged for i in p.incidents[:2]))
    assert [i.acknowledged.by for i in done.incidents[:2]] == [INCOMING, INCOMING]

    # An event without an id cannot be told from another: each delivery is relayed (harmless),
    # whatever its X-Webhook-Id.
    nameless = json.loads(webhook(first, "PBOBOKA"))
    del nameless["event"]["id"]
    body = json.dumps(nameless).encode()
    assert await deliver(endpoint, body, "wh-3") == {"ok": True}
    assert await deliver(endpoint, body, "wh-3") == {"ok": True}
    assert await relayed(endpoint) == 4


def test_pagerduty_signature_matches_pagerduty_s_own_test_vector():
    """go-pagerduty webhookv3/webhookv3_test.go: the secret, body and signatures PagerDuty publishes."""
    secret = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
    body = VECTOR_BODY.encode()
    valid = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
    mismatch = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
    assert pagerduty_signature_valid(body, valid, [secret])
    assert not pagerduty_signature_valid(body, mismatch, [secret])
    assert pagerduty_signature_valid(body, f"{mismatch},{valid}", ["another secret", secret])
    assert not pagerduty_signature_valid(body, "", [secret])
    assert not pagerduty_signature_valid(body + b" ", valid, [secret])


VECTOR_BODY = (
    '{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident",'
    '"occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV",'
    '"id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer",'
    '"type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident",'
    '"self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2",'
    '"number":2,"status":"triggered","title":"A little bump in the road","service":{'
    '"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH",'
    '"self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},'
    '"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G",'
    '"self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],'
    '"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE",'
    '"self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default",'
    '"type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0",'
    '"id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering",'
    '"type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities",'
    '"id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1",'
    '"type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,'
    '"conference_url":"https://example.com"},"resolve_reason":null}}}'
)
