"""The abuse matrix: bad inputs to the endpoint and to starter.py, one row each.

Every row is one bad input. It must be refused with the right HTTP status (or CLI exit code), with
a sentence a person can act on and no stack trace, and it must leave no trace: the sandbox's write
log and the Temporal history of every handover the matrix keeps running are the same after the
row as before it.

Most rows aim at one planned alice→bob handover, started once for the module and parked after its
inventory, waiting on people (nothing moves then: reminders are 30 minutes away). It goes through
three stages, in the order of the table: `parked` (nothing given yet), `given` (a few inputs given,
for the duplicates) and `ended` (cancelled, for inputs after the end). A mid-shift carol→bob
handover, parked waiting for the outage to be mitigated, is started for the rows that need one.

A row the service gets wrong today carries `defect=` (the reason): it is an xfail (strict, so
the row fails once the service is fixed and the mark should go).

At the end, tests/artifacts/abuse-matrix.json records every row run, for `make reliability`:
{"tried": N, "refused_correctly": M, "cases": [{"name", "expected", "got", "ok"}]}.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment

from endpoint.app import create_app
from endpoint.guards import SECURITY_HEADERS
from handover import service, visibility
from handover.codec import BOUND_TO, EncryptionCodec
from handover.models import (
    CancelInput,
    EngineeringLinkInput,
    IncidentAckInput,
    IncidentStatusInput,
    InputKind,
    Phase,
    RolloutAnnotationInput,
    RolloutOwnershipInput,
    UnclearThreadInput,
    workflow_id_for,
)
from handover.temporal import data_converter
from sandbox.state import DEMO_SCENARIO
from tests.conftest import (
    OBSERVER,
    PAGERDUTY_WEBHOOK_SECRETS,
    SLACK_SIGNING_SECRET,
    TOKENS,
    _worker_for,
    binary,
    endpoint_settings,
    token_store,
)
from tests.endpoint.test_api import ID, STATUS
from tests.endpoint.test_events import pagerduty_headers, reaction, slack_headers, webhook
from tests.humans import INCOMING, OUTGOING, inventory, wait_for
from tests.serving import serving
from workflows.incidents import GATHER_ACKNOWLEDGEMENTS

STARTER = str(Path(__file__).resolve().parent.parent / "starter.py")
ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "abuse-matrix.json"

CAROL = "carol@novalien.com"
DAVE = "dave@novalien.com"  # in PagerDuty, Slack and the platform, but not a platform admin
GHOST = "ghost@novalien.com"  # nowhere
SERVICE = "service:pipeline"
MID_ID = "handover-carol@novalien.com"
BASE = f"/handovers/{ID}"
PARKED_KEY = "abuse-matrix-parked-handover"

# The demo scenario's items (see sandbox/scenarios/demo.yaml), each kept to its own rows so that a
# row wrongly accepted cannot change what another row finds:
INCIDENT = "Q1DISK7"  # the `given` stage gives its status and acknowledgement
OTHER_INCIDENT = "Q2API5X"  # never given anything
BLANK_INCIDENT = "Q3CERT9"  # only the blank-paragraph row
TICKET = "SUP-1051"  # waiting on engineering with no issue: the `given` stage links it
CUSTOMER_TICKET = "SUP-1042"  # waiting on the customer: needs no engineering issue
ROLLOUT = "RO-311"  # the `given` stage annotates it and takes ownership
TYPED_ROLLOUT = "RO-318"  # only rows with a badly typed annotation
UNANNOTATED_ROLLOUT = "RO-302"  # only ownership-before-annotation rows
THREAD = "1764342000.000100"  # the `given` stage flags it

KEYRING = {"abuse-matrix": hashlib.sha256(b"the abuse matrix's payload key").digest()}
PAYLOAD_KEYS = "abuse-matrix=" + base64.b64encode(KEYRING["abuse-matrix"]).decode()
"""The matrix runs as a deployment with payload encryption on: the codec routes are served."""
SECRET = "the card vault's master key is in ticket SUP-7"
FROM_THE_UI = {"Origin": "http://localhost:8233", "Content-Type": "application/json"}
AUDIT = "service:audit"  # a service token that requested nothing
PARAGRAPH = ["--hypothesis", "WAL fills the disk", "--last-action", "moved WAL", "--next-action", "watch it"]
ANNOTATION = {"ramp_percent": 10, "error_rate": 1.2, "next_step": "hold at 10% until Monday"}
STAGES = ("parked", "given", "ended")


# --- what a row sends ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    """A request to the endpoint, with `who`'s token (None: no Authorization header)."""

    path: str
    who: str | None = None
    json: Any = None
    content: bytes | Callable[[], bytes] | None = None
    """A raw body (sent as application/json unless `headers` say otherwise); callable: made at send time."""
    chunked: bool = False
    """`content` goes as a stream: Transfer-Encoding: chunked, no Content-Length."""
    headers: dict[str, Any] = field(default_factory=dict)
    signed: Callable[[], tuple[bytes, dict[str, Any]]] | None = None
    """Body and headers made at send time (Slack and PagerDuty signatures carry the time)."""
    method: str = "POST"


@dataclass(frozen=True)
class Cli:
    """`python starter.py ARGS` against the matrix's dev server and task queue."""

    args: tuple[str, ...]


@dataclass(frozen=True)
class Step0:
    """`POST /handovers` with the service token, refused at step 0 (the API tokens are the
    worker's): the start waits for step 0 and answers the refusal's own status and reason, and the
    handover is failed."""

    body: dict[str, Any]


@dataclass(frozen=True)
class SandboxReset:
    """`POST /_sandbox/reset` with `body` (the sandbox's control route: no auth, loopback only)."""

    body: dict[str, Any]


Check = Callable[[httpx.Response], str | None]


@dataclass(frozen=True, repr=False)
class Case:
    name: str
    send: Http | Cli | Step0 | SandboxReset
    expect: int
    """The HTTP status, or the CLI's exit code."""
    says: str
    """A substring of the answer's `detail` (or the CLI's stderr)."""
    stage: str = "parked"
    mid_shift: bool = False
    """The row needs the mid-shift handover running."""
    check: Check | None = None
    """A further check of the answer: a problem, or None."""
    defect: str | None = None
    """The service gets this row wrong today: why (the row is an xfail)."""

    def __repr__(self) -> str:
        return self.name

    @property
    def expected(self) -> str:
        if isinstance(self.send, Cli):
            return f"exit {self.expect}: …{self.says}…"
        if isinstance(self.send, Step0):
            return f"HTTP {self.expect} once step 0 refuses: …{self.says}…"
        return f"HTTP {self.expect}: …{self.says}…"


def post(path: str, who: str | None = None, json: Any = None, **more: Any) -> Http:
    return Http(path, who, json, **more)


def get(path: str, who: str | None = None) -> Http:
    return Http(path, who, method="GET")


def cli(*args: str) -> Cli:
    return Cli(args)


def slack(
    body: bytes,
    secret: str = SLACK_SIGNING_SECRET,
    age: float = 0,
    send: bytes | None = None,
    drop: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> Callable[[], tuple[bytes, dict[str, Any]]]:
    """`body` signed as Slack signs it, `age` seconds ago; `send` goes instead (tampering), without
    the headers in `drop`, with `extra` on top."""

    def signed() -> tuple[bytes, dict[str, Any]]:
        headers: dict[str, Any] = slack_headers(body, secret=secret, at=time.time() - age)
        for name in drop:
            del headers[name]
        return (body if send is None else send), {**headers, **(extra or {})}

    return signed


def slack_at(body: bytes, timestamp: str) -> Callable[[], tuple[bytes, dict[str, Any]]]:
    """Signed with the right secret, over a timestamp that is no number."""

    def signed() -> tuple[bytes, dict[str, Any]]:
        base = f"v0:{timestamp}:".encode() + body
        signature = hmac.new(SLACK_SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
        return body, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={signature}"}

    return signed


PD_SECRET = PAGERDUTY_WEBHOOK_SECRETS.split(",")[0]


def pagerduty(
    body: bytes,
    secret: str = PD_SECRET,
    send: bytes | None = None,
    signature: Callable[[str], Any] | None = None,
    drop_signature: bool = False,
) -> Callable[[], tuple[bytes, dict[str, Any]]]:
    """`body` signed as PagerDuty signs it (with a fresh X-Webhook-Id, as PagerDuty sends one: the
    endpoint ignores it, the signature does not cover it); `send` goes instead; `signature(hex)`
    rewrites the X-PagerDuty-Signature header."""

    def signed() -> tuple[bytes, dict[str, Any]]:
        headers: dict[str, Any] = pagerduty_headers(body, secret, f"wh-abuse-{uuid.uuid4().hex[:12]}")
        if signature is not None:
            headers["X-PagerDuty-Signature"] = signature(
                hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            )
        if drop_signature:
            del headers["X-PagerDuty-Signature"]
        return (body if send is None else send), headers

    return signed


def no_injected_header(answer: httpx.Response) -> str | None:
    return "an X-Injected header came back" if "x-injected" in answer.headers else None


def codec_body(*payloads: Payload) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def _sealed(workflow_id: str | None) -> Payload:
    """A status paragraph encrypted with the matrix's key, bound to `workflow_id` (or to none)."""
    codec = EncryptionCodec(KEYRING)
    if workflow_id is not None:
        codec = codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{**STATUS, "hypothesis": SECRET}])
    return codec.encrypt(plain)


def _moved(payload: Payload, workflow_id: str) -> Payload:
    moved = Payload()
    moved.CopyFrom(payload)
    moved.metadata[BOUND_TO] = workflow_id.encode()
    return moved


def nothing_of_passwd(answer: httpx.Response) -> str | None:
    return "the answer shows the file" if "root:" in answer.text or "x:0:0" in answer.text else None


def no_plaintext(answer: httpx.Response) -> str | None:
    return "the answer holds the plaintext" if SECRET in answer.text else None


def no_ciphertext(answer: httpx.Response) -> str | None:
    return (
        "the answer holds a ciphertext"
        if "binary/encrypted" in answer.text or "YmluYXJ5L2VuY3J5cHRlZA" in answer.text
        else None
    )


def still_encrypted(answer: httpx.Response) -> str | None:
    """The payloads come back as they were sent."""
    if answer.status_code != 200:
        return None
    back = [json_format.ParseDict(payload, Payload()) for payload in answer.json()["payloads"]]
    sent = [payload.metadata.get("encoding") for payload in back]
    if sent != [b"binary/encrypted"] or SECRET.encode() in b"".join(p.data for p in back):
        return f"decrypted for someone who may not read it (encodings {sent})"
    return None


def running_id_is_the_parked_one(answer: httpx.Response) -> str | None:
    running_id = answer.json().get("running_id")
    return None if running_id == ID else f"running_id is {running_id!r}, not {ID!r}"


# --- the matrix ---------------------------------------------------------------------------------


def at(*parts: str) -> str:
    """A path under the parked handover."""
    return "/".join((BASE, *parts))


def five_megabytes() -> bytes:
    return json.dumps({**STATUS, "hypothesis": "WAL " * 1_250_000}).encode()


async def in_chunks(body: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    """The body as a stream, which httpx sends chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def deeply_nested() -> bytes:
    return b'{"hypothesis": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"


def basic(who: str) -> str:
    return "Basic " + base64.b64encode(f"{who}:{TOKENS[who]}".encode()).decode()


def half(good: str) -> str:
    return f"v1={good[:32]}"


def sha256_scheme(good: str) -> str:
    return f"sha256={good}"


def non_ascii(good: str) -> bytes:
    return b"v1=\xe9t\xe9"


REACTION = reaction(THREAD)  # bob's :+1: on a message of the channel, as Slack's Events API sends it
PRESS = urlencode(
    {
        "payload": json.dumps(
            {
                "type": "block_actions",
                "user": {"id": "U0BOB"},
                "actions": [{"action_id": "handover.acknowledge_summary", "value": ID, "type": "button"}],
            }
        )
    }
).encode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WEBHOOK = webhook(INCIDENT, "PBOBOKA")  # bob acknowledged Q1DISK7 in PagerDuty
DATA_AS_STRING = (
    b'{"event": {"event_type": "incident.acknowledged", "resource_type": "incident", "data": "Q1"}}'
)
BLANK = {"hypothesis": "   ", "last_action": "   ", "next_action": "   "}
NO_TOKEN_HEADERS = {"Authorization": "Bearer token-bob-0123456788"}
TS_QUESTION = {"thread_ts": "yesterday", "question": "what was this?"}
ALICE_THREAD = {"thread_ts": "1764342000.000200", "question": "why?"}
BOB_TO_CAROL = {"outgoing": OUTGOING, "incoming": CAROL}
CAROL_TO_BOB = {"outgoing": CAROL, "incoming": INCOMING}
RAMP = ("--error-rate", "1", "--next-step", "hold at 10%")

SECRET_OF_ID = _sealed(ID)
SECRET_OF_NONE = _sealed(None)
MOVED_TO_DAVE = _moved(SECRET_OF_ID, workflow_id_for(DAVE))
MOVED_INTO_THE_QUERY = _moved(SECRET_OF_ID, f'{ID}" OR WorkflowType = "HandoverWorkflow')
MOVED_TO_A_BACKSLASH = _moved(SECRET_OF_ID, "handover-dave\\")

# fmt: off
CASES: list[Case] = [
    # -- malformed bodies, wrong types, huge bodies --
    Case("malformed JSON", post(at("incidents", INCIDENT, "status"), OUTGOING,
         content=b'{"hypothesis": "WAL",'), 422, "not valid JSON"),
    Case("a string for ramp_percent", post(at("rollouts", TYPED_ROLLOUT, "annotation"), OUTGOING,
         {**ANNOTATION, "ramp_percent": "lots"}), 422, "ramp_percent: Input should be a valid number"),
    Case("NaN for ramp_percent", post(at("rollouts", TYPED_ROLLOUT, "annotation"), OUTGOING,
         content=b'{"ramp_percent": NaN, "error_rate": 1.2, "next_step": "hold at 10%"}'),
         422, "ramp_percent"),
    Case("a list for the body", post(at("incidents", INCIDENT, "status"), OUTGOING, [STATUS]),
         422, "valid dictionary"),
    Case("a text/plain body", post(at("incidents", INCIDENT, "status"), OUTGOING,
         content=json.dumps(STATUS).encode(), headers={"Content-Type": "text/plain"}),
         422, "valid dictionary"),
    Case("a body that is not UTF-8", post(at("incidents", INCIDENT, "status"), OUTGOING,
         content=b'{"hypothesis": "\xff\xfe\xfa"}'), 400, "error parsing the body"),
    Case("JSON nested 200,000 deep", post(at("incidents", INCIDENT, "status"), OUTGOING,
         content=deeply_nested), 400, "error parsing the body"),
    Case("a 5 MB status paragraph", post(at("incidents", INCIDENT, "status"), OUTGOING,
         content=five_megabytes), 413, "larger than 1 MB"),
    Case("a 5 MB body with no token", post(at("incidents", INCIDENT, "status"), content=five_megabytes),
         413, "larger than 1 MB"),
    Case("a 5 MB status paragraph, chunked (no Content-Length)", post(at("incidents", INCIDENT, "status"),
         OUTGOING, content=five_megabytes, chunked=True), 413, "larger than 1 MB"),
    Case("a 5 MB unsigned Slack event, chunked", post("/slack/events", content=five_megabytes, chunked=True),
         413, "larger than 1 MB"),
    Case("a 5 MB unsigned Slack button press, chunked", post("/slack/interactivity", content=five_megabytes,
         chunked=True, headers=FORM), 413, "larger than 1 MB"),
    Case("a 5 MB unsigned PagerDuty webhook, chunked", post("/pagerduty/webhooks", content=five_megabytes,
         chunked=True), 413, "larger than 1 MB"),
    Case("an actor in the body", post(at("incidents", INCIDENT, "status"), OUTGOING,
         {**STATUS, "actor": CAROL}), 422, "actor: Extra inputs are not permitted"),
    Case("a blank status paragraph (three spaces each)", post(at("incidents", BLANK_INCIDENT, "status"),
         OUTGOING, BLANK), 422, "hypothesis"),
    Case("a thread_ts that is no Slack timestamp", post(at("unclear-threads"), INCOMING, TS_QUESTION),
         422, "thread_ts"),
    # -- unknown handover or item --
    Case("an unknown handover", post("/handovers/handover-nobody@novalien.com/incidents/Q1DISK7/status",
         OUTGOING, STATUS), 404, "no handover handover-nobody@novalien.com"),
    Case("a handover named by neither id nor email", post("/handovers/nobody/summary/ack", INCOMING),
         404, "neither a handover id nor an admin's email"),
    Case("an unknown incident", post(at("incidents", "QNOSUCH", "status"), OUTGOING, STATUS),
         404, "incident QNOSUCH is not part of handover"),
    Case("another admin's incident (Carol's Q6KAFKA)", post(at("incidents", "Q6KAFKA", "status"), OUTGOING,
         STATUS), 404, "incident Q6KAFKA is not part of handover"),
    Case("an unknown ticket", post(at("tickets", "SUP-9999", "engineering-link"), OUTGOING,
         {"issue": "ENG-1"}), 404, "ticket SUP-9999 is not part of handover"),
    Case("an unknown rollout", post(at("rollouts", "RO-999", "ownership"), INCOMING),
         404, "rollout RO-999 is not part of handover"),
    # -- the wrong person, for each kind of input --
    Case("status from the incoming admin", post(at("incidents", OTHER_INCIDENT, "status"), INCOMING, STATUS),
         403, "status paragraphs come from the outgoing admin"),
    Case("status from an admin not in the handover", post(at("incidents", OTHER_INCIDENT, "status"), CAROL,
         STATUS), 404, f"no handover {ID}"),
    Case("incident ack from the outgoing admin", post(at("incidents", OTHER_INCIDENT, "ack"), OUTGOING),
         403, "the incoming admin acknowledges each reassignment"),
    Case("engineering link from the incoming admin", post(at("tickets", TICKET, "engineering-link"), INCOMING,
         {"issue": "ENG-4242"}), 403, "the outgoing admin supplies engineering issues"),
    Case("annotation from the incoming admin", post(at("rollouts", TYPED_ROLLOUT, "annotation"), INCOMING,
         ANNOTATION), 403, "the outgoing admin annotates rollouts"),
    Case("ownership from the outgoing admin", post(at("rollouts", UNANNOTATED_ROLLOUT, "ownership"),
         OUTGOING), 403, "the incoming admin takes ownership of rollouts"),
    Case("summary ack from the outgoing admin", post(at("summary", "ack"), OUTGOING),
         403, "the incoming admin acknowledges the summary"),
    Case("mitigated from someone not in the mid-shift handover", post(f"/handovers/{MID_ID}/mitigated", DAVE,
         {"note": "looks fine to me"}), 404, f"no handover {MID_ID}", mid_shift=True),
    Case("mitigated from an observer", post(f"/handovers/{MID_ID}/mitigated", OBSERVER,
         {"note": "looks fine to me"}), 403, "cannot call the outage mitigated", mid_shift=True),
    Case("mitigated on a planned handover", post(at("mitigated"), INCOMING, {"note": "failed over"}),
         403, "only a mid-shift handover"),
    Case("unclear thread from the outgoing admin", post(at("unclear-threads"), OUTGOING, ALICE_THREAD),
         403, "the incoming admin flags unclear threads"),
    Case("cancel from someone not in the handover", post(at("cancel"), DAVE, {"reason": "not my handover"}),
         404, f"no handover {ID}"),
    Case("cancel from an observer", post(at("cancel"), OBSERVER, {"reason": "not my handover"}),
         403, "cannot cancel this handover"),
    # -- reading what is not yours --
    Case("progress read by an admin not in the handover", get(BASE, DAVE), 404, f"no handover {ID}"),
    Case("progress read by the outgoing email, by an admin not in it", get(f"/handovers/{OUTGOING}", DAVE),
         404, f"no handover {ID}"),
    Case("progress read by a service that did not request it", get(BASE, AUDIT), 404, f"no handover {ID}"),
    Case("the mid-shift handover read by an admin of the other one", get(f"/handovers/{MID_ID}", OUTGOING),
         404, f"no handover {MID_ID}", mid_shift=True),
    # -- the sandbox's control routes: scenario files only from where scenarios live --
    Case("a sandbox reset to /etc/passwd", SandboxReset({"scenario": "/etc/passwd"}), 403,
         "read only from", check=nothing_of_passwd),
    Case("a sandbox reset through ..", SandboxReset({"scenario": f"{DEMO_SCENARIO.parent}/../../README.md"}),
         403, "read only from"),
    # -- the codec: a token always, and only what the caller may read --
    Case("codec decode with the Temporal UI's Origin and no token", post("/codec/decode", None,
         codec_body(SECRET_OF_ID), headers=FROM_THE_UI), 401, "Send your token", check=no_plaintext),
    Case("codec encode with the Temporal UI's Origin and no token", post("/codec/encode", None,
         codec_body(SECRET_OF_ID), headers=FROM_THE_UI), 401, "Send your token", check=no_ciphertext),
    Case("codec decode with a made-up cookie", post("/codec/decode", None, codec_body(SECRET_OF_ID),
         headers={**FROM_THE_UI, "Cookie": "handover_codec=token-bob-0123456788"}), 401,
         "codec cookie is not valid here", check=no_plaintext),
    Case("codec decode of a handover's payload by an admin not in it", post("/codec/decode", DAVE,
         codec_body(SECRET_OF_ID)), 200, "", check=still_encrypted),
    Case("codec decode of a handover's payload by a service that did not request it", post("/codec/decode",
         AUDIT, codec_body(SECRET_OF_ID)), 200, "", check=still_encrypted),
    Case("codec decode of a payload bound to no handover, by an admin", post("/codec/decode", INCOMING,
         codec_body(SECRET_OF_NONE)), 200, "", check=still_encrypted),
    Case("codec decode of a payload moved to Dave's handover id, by an observer", post("/codec/decode",
         OBSERVER, codec_body(MOVED_TO_DAVE)), 422, "does not decrypt: it was altered", check=no_plaintext),
    Case("codec decode with a real token as the cookie", post("/codec/decode", None, codec_body(SECRET_OF_ID),
         headers={**FROM_THE_UI, "Cookie": f"handover_codec={TOKENS[INCOMING]}"}), 401,
         "codec cookie is not valid here", check=no_plaintext),
    Case("codec decode of a payload whose binding would rewrite the runs query", post("/codec/decode", DAVE,
         codec_body(MOVED_INTO_THE_QUERY)), 200, "", check=still_encrypted),
    Case("codec decode of a payload bound to an id ending in a backslash", post("/codec/decode", DAVE,
         codec_body(MOVED_TO_A_BACKSLASH)), 200, "", check=still_encrypted),
    Case("an engineering link for a ticket waiting on the customer", post(at("tickets", CUSTOMER_TICKET,
         "engineering-link"), OUTGOING, {"issue": "ENG-1"}), 403, "not waiting on engineering"),
    # -- tokens --
    Case("a service token giving a person's input", post(at("incidents", OTHER_INCIDENT, "status"), SERVICE,
         STATUS), 403, "the person's own token"),
    Case("an admin's token starting a handover", post("/handovers", OUTGOING, CAROL_TO_BOB),
         403, "takes the service token"),
    Case("no token", post(at("summary", "ack")), 401, "Authorization: Bearer"),
    Case("an unknown token", post(at("summary", "ack"), headers=NO_TOKEN_HEADERS), 401, "not known here"),
    Case("a real token in the `Token` scheme", post(at("summary", "ack"),
         headers={"Authorization": f"Token {TOKENS[INCOMING]}"}), 401, "Authorization: Bearer"),
    Case("a real token in the `Basic` scheme", post(at("summary", "ack"),
         headers={"Authorization": basic(INCOMING)}), 401, "Authorization: Bearer"),
    Case("`Bearer` with no token", post(at("summary", "ack"), headers={"Authorization": "Bearer"}),
         401, "Authorization: Bearer"),
    # -- out of order --
    Case("ack before the status paragraph", post(at("incidents", OTHER_INCIDENT, "ack"), INCOMING),
         409, "no status paragraph yet"),
    Case("ownership before the annotation", post(at("rollouts", UNANNOTATED_ROLLOUT, "ownership"), INCOMING),
         409, "no annotation yet"),
    Case("summary ack before the summary", post(at("summary", "ack"), INCOMING), 409, "not posted yet"),
    # -- starting (service token) --
    Case("outgoing the same as incoming", post("/handovers", SERVICE,
         {"outgoing": OUTGOING, "incoming": "ALICE@novalien.com"}), 422, "same admin"),
    Case("an outgoing that is no email", post("/handovers", SERVICE,
         {"outgoing": "alice", "incoming": INCOMING}), 422, "not an email address"),
    Case("a negative overlap", post("/handovers", SERVICE, {**CAROL_TO_BOB, "overlap": "-PT2H"}),
         422, "overlap must be more than 0"),
    Case("an Idempotency-Key too short", post("/handovers", SERVICE, CAROL_TO_BOB,
         headers={"Idempotency-Key": "k"}), 422, "Idempotency-Key: String should have at least 8 characters"),
    Case("a second handover for the same outgoing admin", post("/handovers", SERVICE, BOB_TO_CAROL),
         409, "running already: handover-alice@novalien.com", check=running_id_is_the_parked_one),
    Case("a running handover's Idempotency-Key on a different request", post("/handovers", SERVICE,
         BOB_TO_CAROL, headers={"Idempotency-Key": PARKED_KEY}), 409, "was used for another request"),
    Case("an unknown admin (refused at step 0)", Step0({"outgoing": GHOST, "incoming": INCOMING}),
         422, f"{GHOST} is not a PagerDuty user"),
    Case("a non-admin (refused at step 0)", Step0({"outgoing": DAVE, "incoming": INCOMING}),
         403, f"{DAVE} is not an active platform admin"),
    # -- ids: traversal, NUL, length, header injection, spaces and quotes --
    Case("path traversal as the handover id",
         post("/handovers/..%2F..%2Fetc%2Fpasswd/incidents/Q1DISK7/status", OUTGOING, STATUS),
         404, "Not Found"),
    Case("`..` as the handover id", post("/handovers/%2E%2E/incidents/Q1DISK7/status", OUTGOING, STATUS),
         404, "neither a handover id nor an admin's email"),
    Case("path traversal as the incident id", post(at("incidents", "..%2F..%2Fcancel", "status"), OUTGOING,
         STATUS), 404, "Not Found"),
    Case("a NUL byte in the handover id", post(f"{BASE}%00/summary/ack", INCOMING), 422, "handover_id"),
    Case("a NUL byte in the incident id", post(at("incidents", f"{INCIDENT}%00", "status"), OUTGOING, STATUS),
         422, "incident_id"),
    Case("a 1,000-character handover id", post(f"/handovers/handover-{'a' * 1000}@novalien.com/summary/ack",
         INCOMING), 422, "handover_id"),
    Case("a 1,000-character incident id", post(at("incidents", "Q" * 1000, "ack"), INCOMING),
         422, "incident_id"),
    Case("header injection in the incident id", post(at("incidents", f"{INCIDENT}%0d%0aX-Injected:%201",
         "status"), OUTGOING, STATUS), 422, "incident_id", check=no_injected_header),
    Case("header injection in the handover id", post(f"{BASE}%0d%0aX-Injected:%201/summary/ack", INCOMING),
         422, "handover_id", check=no_injected_header),
    Case("an incident id with a space", post(at("incidents", "Q1%20DISK7", "status"), OUTGOING, STATUS),
         422, "incident_id"),
    Case("an incident id with quotes", post(at("incidents", "Q1DISK7%22%20OR%20'1'='1", "status"), OUTGOING,
         STATUS), 422, "incident_id"),
    # -- Slack: Events API --
    Case("Slack event signed with a wrong secret", post("/slack/events",
         signed=slack(REACTION, secret="a-guessed-secret")), 401, "Slack signature"),
    Case("Slack event tampered after signing", post("/slack/events",
         signed=slack(REACTION, send=REACTION.replace(b"U0BOB", b"U0EVE"))), 401, "Slack signature"),
    Case("Slack event replayed ten minutes later", post("/slack/events", signed=slack(REACTION, age=600)),
         401, "older than five minutes"),
    Case("Slack event dated ten minutes ahead", post("/slack/events", signed=slack(REACTION, age=-600)),
         401, "Slack signature"),
    Case("Slack event without a signature", post("/slack/events",
         signed=slack(REACTION, drop=("X-Slack-Signature",))), 401, "Slack signature"),
    Case("Slack event without a timestamp", post("/slack/events",
         signed=slack(REACTION, drop=("X-Slack-Request-Timestamp",))), 401, "Slack signature"),
    Case("Slack event with a timestamp that is no number", post("/slack/events",
         signed=slack_at(REACTION, "yesterday")), 401, "Slack signature"),
    Case("Slack event with a non-ASCII signature", post("/slack/events",
         signed=slack(REACTION, extra={"X-Slack-Signature": b"v0=\xe9t\xe9"})), 401, "Slack signature",),
    Case("Slack event, signed, that is not JSON", post("/slack/events", signed=slack(b"reaction_added: +1")),
         400, "not JSON"),
    Case("Slack event, signed, a JSON array", post("/slack/events", signed=slack(b"[]")), 400, "JSON",),
    # -- Slack: interactivity (the summary's button) --
    Case("Slack button press signed with a wrong secret", post("/slack/interactivity",
         signed=slack(PRESS, secret="a-guessed-secret", extra=FORM)), 401, "Slack signature"),
    Case("Slack button press tampered after signing", post("/slack/interactivity",
         signed=slack(PRESS, send=PRESS.replace(b"U0BOB", b"U0EVE"), extra=FORM)), 401, "Slack signature"),
    Case("Slack button press replayed ten minutes later", post("/slack/interactivity",
         signed=slack(PRESS, age=600, extra=FORM)), 401, "older than five minutes"),
    Case("Slack button press without signature headers", post("/slack/interactivity", content=PRESS,
         headers=FORM), 401, "Slack signature"),
    Case("Slack button press, signed, that is not a form", post("/slack/interactivity",
         signed=slack(b'{"type": "block_actions"}')), 400, "Expected a form"),
    Case("Slack button press, signed, whose payload is a JSON array", post("/slack/interactivity",
         signed=slack(b"payload=%5B%5D", extra=FORM)), 400, "payload"),
    # -- PagerDuty webhooks --
    Case("PagerDuty webhook signed with a wrong secret", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, secret="a-guessed-secret")), 401, "PagerDuty signature"),
    Case("PagerDuty webhook tampered after signing", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, send=WEBHOOK.replace(b"PBOBOKA", b"PCAROLN"))),
         401, "PagerDuty signature"),
    Case("PagerDuty webhook without a signature", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, drop_signature=True)), 401, "PagerDuty signature"),
    Case("PagerDuty webhook, right HMAC under a wrong scheme (sha256=)", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, signature=sha256_scheme)), 401, "PagerDuty signature"),
    Case("PagerDuty webhook, signature cut in half", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, signature=half)), 401, "PagerDuty signature"),
    Case("PagerDuty webhook with a non-ASCII signature", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK, signature=non_ascii)), 401, "PagerDuty signature"),
    Case("PagerDuty webhook, signed, that is not JSON", post("/pagerduty/webhooks",
         signed=pagerduty(b"incident.acknowledged Q1DISK7")), 400, "v3 envelope"),
    Case("PagerDuty webhook, signed, whose event data is a string", post("/pagerduty/webhooks",
         signed=pagerduty(DATA_AS_STRING)), 400, "expected a JSON object"),
    # -- the command line --
    Case("CLI: start with an outgoing that is no email", cli("start", "alice", INCOMING),
         2, "outgoing: 'alice' is not an email address"),
    Case("CLI: start with outgoing the same as incoming", cli("start", OUTGOING, OUTGOING.upper()),
         2, "same admin"),
    Case("CLI: start with a bad duration", cli("start", CAROL, INCOMING, "--overlap", "soon"),
         2, "'soon' is not a duration like 2h"),
    Case("CLI: an input without --as", cli("ack-summary", OUTGOING), 2, "--as YOUR_EMAIL"),
    Case("CLI: --as that is no email", cli("ack-summary", OUTGOING, "--as", "bob"),
         2, "actor: 'bob' is not an email address"),
    Case("CLI: a ramp that is no number", cli("annotate", OUTGOING, TYPED_ROLLOUT, "--as", OUTGOING,
         "--ramp", "lots", *RAMP), 2, "argument --ramp: invalid float value: 'lots'"),
    Case("CLI: a 3,000-character hypothesis", cli("submit-status", OUTGOING, OTHER_INCIDENT, "--as", OUTGOING,
         *PARAGRAPH, "--hypothesis", "x" * 3000),
         2, "hypothesis: String should have at most 2000 characters"),
    Case("CLI: a thread that is no Slack timestamp", cli("flag-thread", OUTGOING, "yesterday", "--question",
         "what was this?", "--as", INCOMING), 2, "thread_ts"),
    Case("CLI: an unknown handover", cli("ack-summary", "handover-nobody@novalien.com", "--as", INCOMING),
         3, "no handover handover-nobody@novalien.com"),
    Case("CLI: an unknown rollout", cli("annotate", OUTGOING, "RO-999", "--as", OUTGOING,
         "--ramp", "10", *RAMP), 3, "rollout RO-999 is not part of handover"),
    Case("CLI: ack from the outgoing admin", cli("ack-incident", OUTGOING, OTHER_INCIDENT, "--as", OUTGOING),
         4, "the incoming admin acknowledges each reassignment"),
    Case("CLI: status from the incoming admin", cli("submit-status", OUTGOING, OTHER_INCIDENT,
         "--as", INCOMING, *PARAGRAPH), 4, "status paragraphs come from the outgoing admin"),
    Case("CLI: cancel from a non-admin", cli("cancel", OUTGOING, "--reason", "not my call", "--as", DAVE),
         4, "cannot cancel this handover"),
    Case("CLI: ownership before the annotation", cli("own-rollout", OUTGOING, UNANNOTATED_ROLLOUT, "--as",
         INCOMING), 5, "no annotation yet"),
    Case("CLI: a second start for the same outgoing admin", cli("start", OUTGOING, CAROL),
         5, "running already: handover-alice@novalien.com"),
    Case("CLI: start with an unknown admin (step 0)", cli("start", GHOST, INCOMING),
         3, f"{GHOST} is not a PagerDuty user"),
    Case("CLI: start with a non-admin (step 0)", cli("start", DAVE, INCOMING),
         4, f"{DAVE} is not an active platform admin"),
    # -- the mid-shift handover's last row: a blank reason (if it is taken, the handover is cancelled) --
    Case("a blank cancel reason (three spaces)", post(f"/handovers/{MID_ID}/cancel", CAROL,
         {"reason": "   "}), 422, "reason", mid_shift=True),
    # -- given twice (stage `given`: a status, ack, annotation, ownership, link and flag given once) --
    Case("a PagerDuty event delivered again under another X-Webhook-Id", post("/pagerduty/webhooks",
         signed=pagerduty(WEBHOOK)), 200, "duplicate", stage="given"),
    Case("the same status twice", post(at("incidents", INCIDENT, "status"), OUTGOING, STATUS),
         409, f"was given by {OUTGOING}", stage="given"),
    Case("the same ack twice", post(at("incidents", INCIDENT, "ack"), INCOMING),
         409, f"was acknowledged by {INCOMING} already", stage="given"),
    Case("the same annotation twice", post(at("rollouts", ROLLOUT, "annotation"), OUTGOING, ANNOTATION),
         409, f"was annotated by {OUTGOING} already", stage="given"),
    Case("the same ownership twice", post(at("rollouts", ROLLOUT, "ownership"), INCOMING),
         409, f"took ownership of rollout {ROLLOUT} already", stage="given"),
    Case("the same engineering link twice", post(at("tickets", TICKET, "engineering-link"), OUTGOING,
         {"issue": "ENG-4242"}), 409, "is linked to ENG-4242 already", stage="given"),
    Case("the same unclear thread twice", post(at("unclear-threads"), INCOMING,
         {"thread_ts": THREAD, "question": "and again?"}), 409, f"was flagged by {INCOMING} already",
         stage="given"),
    Case("CLI: the same status twice", cli("submit-status", OUTGOING, INCIDENT, "--as", OUTGOING, *PARAGRAPH),
         5, f"was given by {OUTGOING}", stage="given"),
    # -- after the end (stage `ended`: alice cancelled it) --
    Case("a status after the end", post(at("incidents", OTHER_INCIDENT, "status"), OUTGOING, STATUS),
         409, "has ended", stage="ended"),
    Case("a second cancel after the end", post(at("cancel"), INCOMING, {"reason": "cancel it again"}),
         409, "has ended", stage="ended"),
    Case("CLI: an input after the end", cli("ack-summary", OUTGOING, "--as", INCOMING),
         5, "has ended", stage="ended"),
    Case("CLI: a cancel after the end", cli("cancel", OUTGOING, "--reason", "once more", "--as", OUTGOING),
         5, "has ended", stage="ended"),
    Case("a report read by an admin not in the handover", get(at("report"), DAVE), 404, f"no handover {ID}",
         stage="ended"),
    Case("a report read by a service that did not request it", get(at("report"), AUDIT), 404,
         f"no handover {ID}", stage="ended"),
]
# fmt: on


# --- the handovers the matrix aims at -----------------------------------------------------------


@dataclass
class Answer:
    status: int
    message: str
    problems: list[str] = field(default_factory=list)
    response: httpx.Response | None = None


@dataclass
class World:
    url: str
    client: Client
    task_queue: str
    sandbox: Any
    cli_env: dict[str, str]
    stage: str = "parked"
    watched: dict[str, WorkflowHandle] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)

    def http(self, who: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)

    async def start(self, body: dict[str, Any], **headers: str) -> str:
        async with self.http(SERVICE) as pipeline:
            answer = await pipeline.post("/handovers", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def park(self) -> None:
        """alice→bob, planned, after its inventory, with nothing given: it waits on people."""
        await self.start({"outgoing": OUTGOING, "incoming": INCOMING}, **{"Idempotency-Key": PARKED_KEY})
        await inventory(self.client, ID)
        self.watched[ID] = self.client.get_workflow_handle(ID)
        await self.settle()

    async def mid_shift(self) -> None:
        """carol→bob, mid-shift, waiting for the outage (Carol's Q6KAFKA) to be mitigated."""
        if MID_ID in self.watched:
            return
        body = {"outgoing": CAROL, "incoming": INCOMING, "variant": "mid-shift"}
        await self.start({**body, "senior": CAROL, "major_incident": "Q6KAFKA"})
        await wait_for(self.client, MID_ID, lambda p: p.phase is Phase.OUTAGE)
        self.watched[MID_ID] = self.client.get_workflow_handle(MID_ID)
        await self.settle()

    async def reach(self, stage: str) -> None:
        if STAGES.index(stage) < STAGES.index(self.stage):
            raise AssertionError(f"the parked handover is past {stage!r} already (at {self.stage!r})")
        while self.stage != stage:
            if self.stage == "parked":
                await self.give_once_each()
                self.stage = "given"
            elif self.stage == "given":
                await service.send(
                    self.client,
                    ID,
                    InputKind.CANCEL,
                    CancelInput(actor=OUTGOING, reason="the matrix is done"),
                )
                await asyncio.wait_for(self.watched[ID].result(), 30)
                self.stage = "ended"
            await self.settle()

    async def give_once_each(self) -> None:
        given = [
            (
                InputKind.STATUS,
                IncidentStatusInput(actor=OUTGOING, incident_id=INCIDENT, **STATUS),
            ),
            (InputKind.INCIDENT_ACK, IncidentAckInput(actor=INCOMING, incident_id=INCIDENT)),
            (
                InputKind.ROLLOUT_ANNOTATION,
                RolloutAnnotationInput(actor=OUTGOING, rollout_id=ROLLOUT, **ANNOTATION),
            ),
            (InputKind.ROLLOUT_OWNERSHIP, RolloutOwnershipInput(actor=INCOMING, rollout_id=ROLLOUT)),
            (
                InputKind.ENGINEERING_LINK,
                EngineeringLinkInput(actor=OUTGOING, ticket_id=TICKET, issue="ENG-4242"),
            ),
            (
                InputKind.UNCLEAR_THREAD,
                UnclearThreadInput(actor=INCOMING, thread_ts=THREAD, question="what happened here?"),
            ),
        ]
        for kind, one in given:
            assert await service.send(self.client, ID, kind, one) is not None, kind
        # Bob's acknowledgement of INCIDENT, as PagerDuty delivers it: relayed once (a later row
        # delivers it again under another X-Webhook-Id).
        body, headers = pagerduty(WEBHOOK)()
        async with self.http() as sender:
            delivered = await sender.post(
                "/pagerduty/webhooks", content=body, headers={**headers, "Content-Type": "application/json"}
            )
        assert delivered.status_code == 200 and "duplicate" not in delivered.json(), delivered.text

    async def histories(self) -> dict[str, list[int]]:
        return {
            workflow_id: [event.event_type async for event in handle.fetch_history_events()]
            for workflow_id, handle in self.watched.items()
        }

    async def settle(
        self, quiet: float = GATHER_ACKNOWLEDGEMENTS.total_seconds() + 1, timeout: float = 30
    ) -> None:
        """Until no watched handover's history has grown for `quiet` seconds (longer than an
        acknowledgement waits for others: its timer is quiet until it fires)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: dict[str, int] = {}
        since = loop.time()
        while True:
            lengths = {key: len(events) for key, events in (await self.histories()).items()}
            if lengths != last:
                last, since = lengths, loop.time()
            elif loop.time() - since >= quiet:
                return
            if loop.time() > deadline:
                raise AssertionError(f"the handovers' histories did not settle: {lengths}")
            await asyncio.sleep(0.25)

    async def writes(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.sandbox.writes)

    def write_artifact(self) -> None:
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        matrix = {
            "tried": len(self.results),
            "refused_correctly": sum(1 for result in self.results if result["ok"]),
            "cases": self.results,
        }
        ARTIFACT.write_text(json.dumps(matrix, indent=2) + "\n")


@pytest.fixture(scope="module")
async def world(sandbox, settings, activity_executor) -> AsyncIterator[World]:
    """The `endpoint` fixture's set-up, for the whole module (the parked handover outlives each row),
    as a deployment with payload encryption on: the endpoint over HTTP with the same tokens and
    secrets, a worker, the sandbox at the demo scenario, on a dev server of the module's own (no
    encrypted history stays where other tests read alice's handovers without the key). Its teardown
    writes the artifact; the worker's terminates the handovers."""
    encrypted = settings.model_copy(update={"payload_keys": SecretStr(PAYLOAD_KEYS)})
    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(encrypted),
        search_attributes=visibility.ALL,
        dev_server_log_level="error",
    )
    client = temporal.client
    await asyncio.to_thread(sandbox.reset, DEMO_SCENARIO)
    async for task_queue in _worker_for(client, encrypted, activity_executor):
        served = endpoint_settings(encrypted, client, task_queue, codec_cors_origins=[FROM_THE_UI["Origin"]])
        env = {k: v for k, v in os.environ.items() if k not in ("HANDOVER_ACTOR", "HANDOVER_DEBUG")}
        env.update(
            TEMPORAL_ADDRESS=client.service_client.config.target_host,
            HANDOVER_TASK_QUEUE=task_queue,
            HANDOVER_PAYLOAD_KEYS=PAYLOAD_KEYS,
        )
        async with serving(create_app(served, tokens=token_store())) as url:
            abuse = World(url=url, client=client, task_queue=task_queue, sandbox=sandbox, cli_env=env)
            try:
                await abuse.park()
                yield abuse
            finally:
                abuse.write_artifact()
    await temporal.shutdown()
    await asyncio.to_thread(sandbox.reset, DEMO_SCENARIO)  # the next module finds the demo scenario


# --- one row ------------------------------------------------------------------------------------


def _detail(answer: httpx.Response) -> str:
    """The `detail` sentence, or the whole answer where there is none."""
    try:
        detail = answer.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return answer.text
    return detail if isinstance(detail, str) else json.dumps(detail)


INTERNALS = ("Traceback", "validation error for", "[type=", "errors.pydantic.dev", "Internal Server Error")
"""What a message for a person never shows."""


async def _http(abuse: World, send: Http) -> Answer:
    headers: dict[str, Any] = {}
    content: bytes | None = None
    if send.signed is not None:
        content, headers = send.signed()
    elif send.content is not None:
        content = send.content() if callable(send.content) else send.content
        headers = {"Content-Type": "application/json"}
    async with abuse.http(send.who) as http:
        answer = await http.request(
            send.method,
            send.path,
            headers={**headers, **send.headers},
            **(
                {"content": in_chunks(content) if send.chunked else content}
                if content is not None
                else {"json": send.json}
                if send.json is not None
                else {}
            ),
        )
    result = Answer(answer.status_code, _detail(answer), response=answer)
    missing = [name for name, value in SECURITY_HEADERS.items() if answer.headers.get(name) != value]
    if missing:
        result.problems.append(f"without {', '.join(missing)}")
    if len(answer.content) > 4000:
        result.problems.append(f"the answer is {len(answer.content)} bytes: it echoes the input")
    return result


async def _cli(abuse: World, send: Cli) -> Answer:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        STARTER,
        *send.args,
        env=abuse.cli_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    stderr = err.decode()
    result = Answer(process.returncode if process.returncode is not None else -1, stderr.strip())
    if "Traceback" in stderr:
        result.problems.append("a stack trace on stderr")
    if not stderr.strip():
        result.message = out.decode().strip()
        result.problems.append("nothing on stderr")
    return result


async def _step0(abuse: World, send: Step0) -> Answer:
    async with abuse.http(SERVICE) as pipeline:
        answer = await pipeline.post("/handovers", json=send.body)
    result = Answer(answer.status_code, _detail(answer))
    if answer.status_code == 201:
        result.problems.append("the start was answered 201, not its refusal")
    workflow_id = workflow_id_for(send.body["outgoing"])
    status = (await abuse.client.get_workflow_handle(workflow_id).describe()).status
    if status is not WorkflowExecutionStatus.FAILED:
        result.problems.append(f"{workflow_id} is {status.name.lower() if status else '?'}, not failed")
    return result


async def _sandbox_reset(abuse: World, send: SandboxReset) -> Answer:
    def post() -> httpx.Response:
        with abuse.sandbox.control() as control:
            return control.post("/reset", json=send.body)

    answer = await asyncio.to_thread(post)
    return Answer(answer.status_code, str(answer.json().get("error", answer.text)), response=answer)


def _event_names(events: list[int]) -> str:
    return ", ".join(EventType.Name(event).removeprefix("EVENT_TYPE_") for event in events)  # type: ignore[arg-type]


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.defect, strict=True)] if case.defect else []
        params.append(
            pytest.param(case, id=re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-"), marks=marks)
        )
    return params


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES), "each row has a name of its own"
    assert [STAGES.index(case.stage) for case in CASES] == sorted(
        STAGES.index(case.stage) for case in CASES
    ), "rows come in the order of the parked handover's stages"


@pytest.mark.parametrize("case", _params())
async def test_refused_without_a_trace(world: World, case: Case):
    await world.reach(case.stage)
    if case.mid_shift:
        await world.mid_shift()
    writes_before = await world.writes()
    histories_before = await world.histories()

    if isinstance(case.send, Http):
        answer = await _http(world, case.send)
    elif isinstance(case.send, Cli):
        answer = await _cli(world, case.send)
    elif isinstance(case.send, SandboxReset):
        answer = await _sandbox_reset(world, case.send)
    else:
        answer = await _step0(world, case.send)

    problems = list(answer.problems)
    if answer.status != case.expect:
        problems.append(f"{answer.status} instead of {case.expect}")
    if case.says not in answer.message:
        problems.append(f"the message does not say {case.says!r}")
    if answer.status >= 500:
        problems.append("a server error")
    shown = [internal for internal in INTERNALS if internal in answer.message]
    if shown:
        problems.append(f"the message shows internals ({', '.join(shown)})")
    if case.check is not None and answer.response is not None:
        problem = case.check(answer.response)
        if problem:
            problems.append(problem)
    histories_after = await world.histories()
    for workflow_id, before in histories_before.items():
        after = histories_after[workflow_id]
        if after != before:
            problems.append(f"history of {workflow_id} grew by {_event_names(after[len(before) :])}")
    if histories_after != histories_before:
        await world.settle()  # a row wrongly taken: let its work end (to see all of it, and not later)
    writes_after = await world.writes()
    if writes_after != writes_before:
        new = [f"{write.get('method')} {write.get('path')}" for write in writes_after[len(writes_before) :]]
        problems.append(f"sandbox writes: {', '.join(new)}")

    got = f"{'exit' if isinstance(case.send, Cli) else 'HTTP'} {answer.status}: {answer.message[:300]}"
    if problems:
        got += f" [{'; '.join(problems)}]"
    world.results.append({"name": case.name, "expected": case.expected, "got": got, "ok": not problems})
    assert not problems, f"{case.name}: {got}"
