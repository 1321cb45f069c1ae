"""Payload encryption end to end: with HANDOVER_PAYLOAD_KEYS set, what a person typed and who they
are is ciphertext in the history the Temporal server keeps; without, it is readable there (so this
test can fail).

On a time-skipping server of the test's own: a history encrypted with a throwaway key must not stay
on the session's dev server, where other tests read handovers of the same ids.

Not encrypted, by design: the workflow id (handover-<outgoing email>), also in each payload's
`handover-id` binding, and the search attributes, which Temporal must read to find handovers, and
the SDK's patch markers (a patch's id).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from endpoint.app import create_app
from handover import service, visibility
from handover.codec import BOUND_TO, bound_to
from handover.models import CancelInput, HandoverRequest, InputKind
from handover.temporal import data_converter
from tests.conftest import OBSERVER, OUTSIDER, TOKENS, _worker_for, binary, token_store

CAROL = "carol@novalien.com"
from tests.humans import INCOMING, OUTGOING, inventory, status_for


def stored_payloads(message: Message) -> Iterator[Payload]:
    """Every payload in a history event (inputs, results, memo, failure details), but the search
    attributes'."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if isinstance(value, Message):
            yield from stored_payloads(value)
        else:  # repeated, or a map
            for child in value.values() if field.message_type.GetOptions().map_entry else value:
                if isinstance(child, Message):
                    yield from stored_payloads(child)


def _patch_marker(event: HistoryEvent) -> bool:
    """`workflow.patched` markers: the SDK's own record of a patch id (`{"id": "waiting-on"}`),
    written by the SDK's core past the codec; no data of a handover."""
    return event.marker_recorded_event_attributes.marker_name == "core_patch"


@pytest.mark.parametrize("encrypted", [True, False], ids=["encryption-on", "encryption-off"])
async def test_status_paragraphs_and_emails_are_ciphertext_in_history(
    time_skipping, settings, activity_executor, fresh_sandbox, encrypted
):
    keys = SecretStr(f"2026-05={base64.b64encode(os.urandom(32)).decode()}") if encrypted else None
    worker_settings = settings.model_copy(update={"payload_keys": keys})
    env, _ = time_skipping
    plain_client = env.client
    client = Client(**{**plain_client.config(), "data_converter": data_converter(worker_settings)})
    paragraph = f"customer Acme's card vault db-7 is leaking, ticket {uuid.uuid4()}"

    async for task_queue in _worker_for(client, worker_settings, activity_executor):
        request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="e2e")
        handle = await service.start(client, task_queue, request, idempotency_key=str(uuid.uuid4()))
        incident = (await inventory(client, handle.id)).incidents[0].incident.id
        status = status_for(incident).model_copy(update={"hypothesis": paragraph})
        await service.send(client, handle.id, InputKind.STATUS, status)
        # The history as the server keeps it: a client without the codec, nothing decoded.
        history = await plain_client.get_workflow_handle(handle.id).fetch_history()

    stored = [
        payload for event in history.events if not _patch_marker(event) for payload in stored_payloads(event)
    ]
    everything = b"".join(event.SerializeToString() for event in history.events)
    readable = b"".join(payload.data for payload in stored)
    bindings = {payload.metadata.get(BOUND_TO) for payload in stored}
    people = [OUTGOING.encode(), INCOMING.encode()]
    if not encrypted:
        assert paragraph.encode() in readable and all(person in readable for person in people)
        return

    assert {payload.metadata["encoding"] for payload in stored} == {b"binary/encrypted"}
    # Plain beside the ciphertext: the handover each payload is bound to, its workflow id, which the
    # server keeps in plain anyway.
    assert bindings == {handle.id.encode()}
    assert paragraph.encode() not in everything
    assert not [person for person in people if person in readable]

    decoded = await client.data_converter.payload_codec.decode(stored)
    read_back = b"".join(payload.SerializeToString() for payload in decoded)
    assert paragraph.encode() in read_back and all(person in read_back for person in people)


async def decoded_by(app, who: str, payloads: list[Payload]) -> httpx.Response:
    """`POST /codec/decode` with `who`'s token."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as http:
        return await http.post(
            "/codec/decode",
            json={"payloads": [json_format.MessageToDict(p) for p in payloads]},
            headers={"Authorization": f"Bearer {TOKENS[who]}"},
        )


async def test_the_codec_endpoint_decodes_a_handover_for_its_readers_only(
    settings, activity_executor, fresh_sandbox
):
    """Every payload of a handover's history is bound to it; through the codec endpoint its people
    and an observer read them, and a token holder outside it gets them back still encrypted. On a
    dev server of the test's own (the codec lists a handover's runs; the time-skipping server
    cannot list), so that no encrypted history stays where other tests read alice's handovers."""
    keys = SecretStr(f"2026-05={base64.b64encode(os.urandom(32)).decode()}")
    worker_settings = settings.model_copy(update={"payload_keys": keys, "observers": [OBSERVER]})
    paragraph = f"customer Acme's card vault db-7 is leaking, ticket {uuid.uuid4()}"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(worker_settings),
        search_attributes=visibility.ALL,
        dev_server_log_level="error",
    )
    try:
        client = env.client
        async for task_queue in _worker_for(client, worker_settings, activity_executor):
            request = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="service:pipeline")
            handle = await service.start(client, task_queue, request)
            incident = (await inventory(client, handle.id)).incidents[0].incident.id
            status = status_for(incident).model_copy(update={"hypothesis": paragraph})
            await service.send(client, handle.id, InputKind.STATUS, status)
            plain_client = Client(**{**client.config(), "data_converter": pydantic_data_converter})
            history = await plain_client.get_workflow_handle(handle.id).fetch_history()
            stored = [
                p for event in history.events if not _patch_marker(event) for p in stored_payloads(event)
            ]
            assert stored and {bound_to(payload) for payload in stored} == {handle.id}, "each bound to it"

            app = create_app(
                worker_settings.model_copy(
                    update={"temporal_address": client.service_client.config.target_host}
                ),
                client=client,
                tokens=token_store(),
            )

            def back(answer: httpx.Response) -> list[Payload]:
                assert answer.status_code == 200, answer.text
                return [json_format.ParseDict(p, Payload()) for p in answer.json()["payloads"]]

            for reader in (OUTGOING, INCOMING, "service:pipeline", OBSERVER):
                read = b"".join(payload.data for payload in back(await decoded_by(app, reader, stored)))
                assert paragraph.encode() in read and INCOMING.encode() in read, reader
            for outsider in (OUTSIDER, "service:audit"):
                assert back(await decoded_by(app, outsider, stored)) == stored, f"{outsider}: still encrypted"

            moved = Payload()
            moved.CopyFrom(stored[0])
            moved.metadata[BOUND_TO] = b"handover-dave@novalien.com"  # to a handover Dave may read
            refused = await decoded_by(app, OBSERVER, [moved])
            assert (
                refused.status_code == 422 and "does not decrypt: it was altered" in refused.json()["detail"]
            )

            # Another run under Alice's id, started by a service that names Carol incoming: neither
            # gains the first run's payloads, and Bob, in that run only, loses them; Alice (in every
            # run) and the observer keep them. A new app: who may decode an id is kept 10 seconds.
            await service.send(
                client, handle.id, InputKind.CANCEL, CancelInput(actor=OUTGOING, reason="next run please")
            )
            await handle.result()
            again = HandoverRequest(outgoing=OUTGOING, incoming=CAROL, requested_by="service:audit")
            await service.start(client, task_queue, again)
            app = create_app(app.state.settings, client=client, tokens=token_store())
            for reader in (OUTGOING, OBSERVER):
                read = b"".join(payload.data for payload in back(await decoded_by(app, reader, stored)))
                assert paragraph.encode() in read, reader
            for former in (INCOMING, CAROL, "service:audit", "service:pipeline"):
                assert back(await decoded_by(app, former, stored)) == stored, f"{former}: not in every run"
    finally:
        await env.shutdown()
