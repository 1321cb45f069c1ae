"""Payload encryption end to end: with HANDOVER_PAYLOAD_KEYS set, what a person typed and who they
are is ciphertext in the history the Temporal server keeps; without, it is readable there (so this
test can fail).

On a time-skipping server of the test's own: a history encrypted with a throwaway key must not stay
on the session's dev server, where other tests read handovers of the same ids.

Not encrypted, by design: the workflow id (handover-<outgoing email>) and the search attributes,
which Temporal must read to find handovers, and the SDK's patch markers (a patch's id).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import pytest
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from handover import service
from handover.models import HandoverRequest, InputKind
from handover.temporal import data_converter
from tests.conftest import _worker_for
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
    readable = b"".join(payload.SerializeToString() for payload in stored)
    people = [OUTGOING.encode(), INCOMING.encode()]
    if not encrypted:
        assert paragraph.encode() in readable and all(person in readable for person in people)
        return

    assert {payload.metadata["encoding"] for payload in stored} == {b"binary/encrypted"}
    assert paragraph.encode() not in everything
    assert not [person for person in people if person in readable]

    decoded = await client.data_converter.payload_codec.decode(stored)
    read_back = b"".join(payload.SerializeToString() for payload in decoded)
    assert paragraph.encode() in read_back and all(person in read_back for person in people)
