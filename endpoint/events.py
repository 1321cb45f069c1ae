"""Slack (Events API, interactivity) and PagerDuty (webhooks v3) into the workflow.

Each request is verified against its signing secret over the raw body, then relayed as a Signal
(never an Update: an event must not fail because no worker is up) to the handover it concerns,
found by search attributes: a :+1: only to the handover whose summary it is on, an acknowledgement
only to handovers whose incoming admin made it. Anything else is answered 200 and dropped, so
unrelated chatter never grows a handover's history. A replay is harmless (the workflow ignores an
input it has already); if Temporal cannot take the event, the answer is 503 and the sender retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from slack_sdk.signature import SignatureVerifier
from temporalio.service import RPCError, RPCStatusCode

from endpoint import slack as slack_inputs
from handover import service as handovers
from handover import slack_ui, visibility
from handover.decisions import ACKNOWLEDGE_SUMMARY_ACTION, is_thumbs_up
from handover.models import PagerDutyEvent, SlackActionEvent, SlackReactionEvent

router = APIRouter(tags=["events"])

_DIGITS = re.compile(r"^[0-9]{1,12}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _slack_verified(request: Request, body: bytes) -> None:
    secret = request.app.state.settings.slack_signing_secret
    if secret is None:
        raise HTTPException(503, "Slack events are not configured here: set SLACK_SIGNING_SECRET.")
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    valid = False
    if _DIGITS.match(timestamp) and signature.startswith("v0=") and signature.isascii():
        valid = SignatureVerifier(secret.get_secret_value()).is_valid(body, timestamp, signature)
    if not valid:
        raise HTTPException(401, "The Slack signature is missing, wrong or older than five minutes.")


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise HTTPException(
            400, f"Unexpected {what}: expected a JSON object, as Slack and PagerDuty send it."
        )
    return value


async def _relay(request: Request, signal: str, event: Any, where: dict, patient: bool = False) -> None:
    try:
        await handovers.relay(request.app.state.client, signal, event, where, patient=patient)
    except RPCError as error:
        raise HTTPException(
            503, "Temporal cannot take the event right now; it will be sent again."
        ) from error


@router.post("/slack/events", summary="Slack Events API: url_verification, reaction_added")
async def slack_events(request: Request) -> dict:
    body = await request.body()
    _slack_verified(request, body)
    try:
        payload = _object(json.loads(body), "body")
    except ValueError:
        raise HTTPException(400, "The body is not JSON.") from None
    if payload.get("type") == "url_verification":
        return {"challenge": str(payload.get("challenge", ""))}
    event = _object(payload.get("event") or {}, "event")
    item = _object(event.get("item") or {}, "event item")
    reacted = event.get("type") == "reaction_added" and item.get("type") == "message"
    if payload.get("type") == "event_callback" and reacted and is_thumbs_up(str(event.get("reaction", ""))):
        reaction = SlackReactionEvent(
            user_id=str(event.get("user", "")),
            channel=str(item.get("channel", "")),
            ts=str(item.get("ts", "")),
            reaction=str(event.get("reaction", "")),
        )
        # In the team's channel, a :+1: found on no summary is looked for again (1.5 s at most):
        # given the moment the summary is posted, it can come before Temporal's visibility has it.
        ours = reaction.channel == request.app.state.settings.slack_channel_id
        await _relay(request, "slack_reaction", reaction, {visibility.SUMMARY_TS: reaction.ts}, patient=ours)
    return {"ok": True}


@router.post(
    "/slack/interactivity",
    summary="Slack interactivity: the asks' buttons and forms, and the summary's Acknowledge button",
)
async def slack_interactivity(request: Request) -> dict:
    body = await request.body()
    _slack_verified(request, body)
    try:
        payload = _object(json.loads(parse_qs(body.decode())["payload"][0]), "payload")
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise HTTPException(400, "Expected a form with a JSON `payload`, as Slack sends it.") from None
    client, slack = request.app.state.client, request.app.state.slack
    if payload.get("type") == "view_submission":
        view = _object(payload.get("view") or {}, "view")
        if view.get("callback_id") != slack_ui.FORM_CALLBACK:
            return {"ok": True}
        return await slack_inputs.submitted(client, slack, payload)
    if payload.get("type") != "block_actions":
        return {"ok": True}
    for action in payload.get("actions") or []:
        action = _object(action, "action")
        if action.get("action_id") in slack_ui.ACTIONS:
            # Answered at once, as Slack asks (3 seconds): the press is given in the background, and
            # its answer goes to the presser through the interaction's response_url.
            _in_background(request, slack_inputs.pressed(client, slack, payload, action))
    user = str(_object(payload.get("user") or {}, "user").get("id", ""))
    container = _object(payload.get("container") or {}, "container")
    channel = _object(payload.get("channel") or {}, "channel").get("id") or container.get("channel_id", "")
    for action in payload.get("actions") or []:
        action = _object(action, "action")
        workflow_id = str(action.get("value", ""))
        if action.get("action_id") != ACKNOWLEDGE_SUMMARY_ACTION or not workflow_id.startswith("handover-"):
            continue
        event = SlackActionEvent(
            user_id=user,
            action_id=ACKNOWLEDGE_SUMMARY_ACTION,
            channel=str(channel),
            message_ts=str(container.get("message_ts", "")),
        )
        try:
            handle = request.app.state.client.get_workflow_handle(workflow_id)
            await handle.signal("slack_action", event, rpc_timeout=handovers.EVENT_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                continue  # a finished handover: the press changes nothing
            raise HTTPException(
                503, "Temporal cannot take the press right now: press the button again."
            ) from error
    return {"ok": True}


def _in_background(request: Request, work: Coroutine[Any, Any, None]) -> None:
    """Kept until it ends (an asyncio task nobody holds may be collected half-way)."""
    running: set[asyncio.Task[None]] = request.app.state.pressing
    task = asyncio.create_task(work)
    running.add(task)
    task.add_done_callback(running.discard)


class Seen:
    """Ids of the PagerDuty events already relayed (PagerDuty delivers at least once)."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


def pagerduty_signature_valid(body: bytes, header: str, secrets: list[str]) -> bool:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of the raw body with a secret."""
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    offered = [signature for signature in offered if _HEX64.match(signature)]
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for signature in offered:
            valid |= hmac.compare_digest(expected, signature)
    return valid


@router.post("/pagerduty/webhooks", summary="PagerDuty webhooks v3: incident.acknowledged")
async def pagerduty_webhooks(request: Request) -> dict:
    configured = request.app.state.settings.pagerduty_webhook_secrets
    if configured is None:
        raise HTTPException(503, "PagerDuty webhooks are not configured here: set PAGERDUTY_WEBHOOK_SECRETS.")
    secrets = [s.strip() for s in configured.get_secret_value().split(",") if s.strip()]
    body = await request.body()
    if not pagerduty_signature_valid(body, request.headers.get("x-pagerduty-signature", ""), secrets):
        raise HTTPException(401, "The PagerDuty signature is missing or wrong.")
    try:
        event = _object(_object(json.loads(body), "body").get("event"), "event")
    except ValueError:
        raise HTTPException(400, 'Expected PagerDuty\'s v3 envelope: {"event": {...}}.') from None
    # On the signed event's id, never on X-Webhook-Id: the signature does not cover that header, so a
    # signed body would be taken again under a new one, and a real event dropped under a reused one.
    event_id = str(event.get("id") or "")
    seen: Seen = request.app.state.seen_webhooks
    if event_id and event_id in seen:
        return {"ok": True, "duplicate": True}
    data = _object(event.get("data") or {}, "event data")
    agent = _object(event.get("agent") or {}, "event agent")
    acknowledged = (
        event.get("event_type") == "incident.acknowledged" and event.get("resource_type") == "incident"
    )
    if acknowledged and data.get("id") and agent.get("id"):
        relayed = PagerDutyEvent(
            event_type="incident.acknowledged", incident_id=str(data["id"]), agent_id=str(agent["id"])
        )
        await _relay(request, "pagerduty_event", relayed, {visibility.INCOMING_PAGERDUTY: str(agent["id"])})
    if event_id:
        seen.add(event_id)  # only once relayed: a delivery that failed is relayed when it comes again
    return {"ok": True}
