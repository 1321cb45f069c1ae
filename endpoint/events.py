"""Slack (Events API, interactivity) and PagerDuty (webhooks v3) into the workflow.

Each request is verified against its signing secret over the raw body, then relayed as a Signal
(never an Update: an event must not fail because no worker is up) and answered 200 at once.
Events that concern no handover are ignored with 200; a replay is harmless (the workflow ignores
an input it has already).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from slack_sdk.signature import SignatureVerifier

from handover import service as handovers
from handover.models import PagerDutyEvent, SlackActionEvent, SlackReactionEvent

router = APIRouter(tags=["events"])


def _slack_verified(request: Request, body: bytes) -> None:
    secret = request.app.state.settings.slack_signing_secret
    if secret is None:
        raise HTTPException(503, "Slack events are not configured here: set SLACK_SIGNING_SECRET.")
    verifier = SignatureVerifier(secret.get_secret_value())
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    try:
        valid = bool(timestamp and signature) and verifier.is_valid(body, timestamp, signature)
    except ValueError:  # a timestamp that is no number
        valid = False
    if not valid:
        raise HTTPException(401, "The Slack signature is missing, wrong or older than five minutes.")


@router.post("/slack/events", summary="Slack Events API: url_verification, reaction_added")
async def slack_events(request: Request) -> dict:
    body = await request.body()
    _slack_verified(request, body)
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(400, "The body is not JSON.") from None
    if payload.get("type") == "url_verification":
        return {"challenge": payload.get("challenge", "")}
    event = payload.get("event") or {}
    item = event.get("item") or {}
    if (
        payload.get("type") == "event_callback"
        and event.get("type") == "reaction_added"
        and item.get("type") == "message"
    ):
        reaction = SlackReactionEvent(
            user_id=str(event.get("user", "")),
            channel=str(item.get("channel", "")),
            ts=str(item.get("ts", "")),
            reaction=str(event.get("reaction", "")),
        )
        await handovers.broadcast(request.app.state.client, "slack_reaction", reaction)
    return {"ok": True}


@router.post("/slack/interactivity", summary="Slack interactivity: the summary's Acknowledge button")
async def slack_interactivity(request: Request) -> dict:
    body = await request.body()
    _slack_verified(request, body)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise HTTPException(400, "Expected a form with a JSON `payload`, as Slack sends it.") from None
    if payload.get("type") != "block_actions":
        return {"ok": True}
    user = str((payload.get("user") or {}).get("id", ""))
    for action in payload.get("actions") or []:
        workflow_id = str(action.get("value", ""))
        if not workflow_id.startswith("handover-"):
            continue
        event = SlackActionEvent(user_id=user, action_id=str(action.get("action_id", "")))
        try:
            await request.app.state.client.get_workflow_handle(workflow_id).signal("slack_action", event)
        except Exception:  # a finished or unknown handover: the press changes nothing
            continue
    return {"ok": True}


class Seen:
    """Webhook ids already relayed (PagerDuty delivers at least once)."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, webhook_id: str) -> bool:
        if webhook_id in self._ids:
            return False
        self._ids[webhook_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


def pagerduty_signature_valid(body: bytes, header: str, secrets: list[str]) -> bool:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of the raw body with a secret."""
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
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
    webhook_id = request.headers.get("x-webhook-id", "")
    if webhook_id and not request.app.state.seen_webhooks.first_time(webhook_id):
        return {"ok": True, "duplicate": True}
    try:
        event = json.loads(body)["event"]
        data = event.get("data") or {}
        agent = event.get("agent") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise HTTPException(400, 'Expected PagerDuty\'s v3 envelope: {"event": {...}}.') from None
    if event.get("resource_type") == "incident" and data.get("id"):
        relayed = PagerDutyEvent(
            event_type=str(event.get("event_type", "")), incident_id=str(data["id"]), agent_id=agent.get("id")
        )
        await handovers.broadcast(request.app.state.client, "pagerduty_event", relayed)
    return {"ok": True}
