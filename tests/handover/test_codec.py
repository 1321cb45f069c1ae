"""EncryptionCodec: what reaches Temporal is ciphertext, and every key of the ring still reads it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from handover.codec import EncryptionCodec, PayloadConverter, UndecryptablePayload
from handover.models import IncidentStatusInput, ItemResult, Outcome
from handover.settings import Settings
from handover.temporal import data_converter
from workflows.handover import HandoverWorkflow
from workflows.plan import PlanWorkflow

PLANNED_HISTORY = Path(__file__).parents[1] / "replay" / "histories" / "planned.json"
ROOT = Path(__file__).parents[2]

STATUS = IncidentStatusInput(
    actor="alice@novalien.com",
    incident_id="Q1INCIDENT",
    hypothesis="connection pool exhausted on the customer's tenant db-7 after the deploy",
    last_action="rolled back the deploy",
    next_action="watch p99 for 30 minutes",
)


def status_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([STATUS])[0]


def new_key() -> bytes:
    return os.urandom(32)


async def test_round_trip_leaves_nothing_readable():
    codec = EncryptionCodec({"2026-05": new_key()})
    plain = status_payload()

    [encrypted] = await codec.encode([plain])

    assert encrypted.metadata["encoding"] == b"binary/encrypted"
    assert encrypted.metadata["encryption-key-id"] == b"2026-05"
    assert b"db-7" not in encrypted.SerializeToString()
    assert b"alice@novalien.com" not in encrypted.SerializeToString()
    assert await codec.decode([encrypted]) == [plain]


async def test_the_same_payload_encrypts_differently_each_time():
    codec = EncryptionCodec({"2026-05": new_key()})
    first, second = await codec.encode([status_payload(), status_payload()])
    assert first.data != second.data  # a fresh nonce per payload


async def test_plain_payloads_pass_through_decode():
    """Histories written before encryption was turned on are still read."""
    codec = EncryptionCodec({"2026-05": new_key()})
    plain = status_payload()
    assert await codec.decode([plain]) == [plain]


async def test_rotation_new_key_first_old_key_still_decrypts():
    old, new = new_key(), new_key()
    [written_before] = await EncryptionCodec({"2026-04": old}).encode([status_payload()])

    rotated = EncryptionCodec({"2026-05": new, "2026-04": old})
    [written_after] = await rotated.encode([status_payload()])

    assert written_after.metadata["encryption-key-id"] == b"2026-05"
    assert await rotated.decode([written_before, written_after]) == [status_payload(), status_payload()]


async def test_unknown_key_id_is_a_clear_error_naming_the_ids_not_the_keys():
    retired = new_key()
    [encrypted] = await EncryptionCodec({"2026-04": retired}).encode([status_payload()])
    current = new_key()

    with pytest.raises(UndecryptablePayload, match="key id '2026-04'.*it has '2026-05'") as raised:
        await EncryptionCodec({"2026-05": current}).decode([encrypted])
    assert base64.b64encode(retired).decode() not in str(raised.value)
    assert base64.b64encode(current).decode() not in str(raised.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a flipped bit
        lambda data: data[:20],  # cut short
        lambda data: data[:5],  # shorter than a nonce
    ],
    ids=["flipped-bit", "truncated", "no-nonce"],
)
async def test_tampered_ciphertext_is_a_clear_error(tamper):
    codec = EncryptionCodec({"2026-05": new_key()})
    [encrypted] = await codec.encode([status_payload()])
    encrypted.data = tamper(encrypted.data)

    with pytest.raises(UndecryptablePayload, match="key id '2026-05' does not decrypt: it was altered"):
        await codec.decode([encrypted])


async def test_the_same_id_with_another_key_is_a_clear_error():
    [encrypted] = await EncryptionCodec({"2026-05": new_key()}).encode([status_payload()])
    with pytest.raises(UndecryptablePayload, match="not the one that encrypted it"):
        await EncryptionCodec({"2026-05": new_key()}).decode([encrypted])


async def test_without_keys_an_encrypted_payload_names_the_setting():
    plain = data_converter(Settings())
    assert plain.payload_codec is None  # no codec: the SDK skips visiting every payload
    [encrypted] = await EncryptionCodec({"2026-05": new_key()}).encode([status_payload()])
    with pytest.raises(UndecryptablePayload, match="HANDOVER_PAYLOAD_KEYS is not set here"):
        await plain.decode([encrypted])
    assert await plain.decode(await plain.encode(["plain"])) == ["plain"]


def test_data_converter_encrypts_only_with_keys_configured():
    assert data_converter(Settings()).payload_codec is None

    keys = f"2026-05={base64.b64encode(new_key()).decode()},2026-04={base64.b64encode(new_key()).decode()}"
    converter = data_converter(Settings(payload_keys=SecretStr(keys)))

    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.encrypting_key_id == "2026-05"
    assert type(converter.payload_converter) is type(pydantic_data_converter.payload_converter)


async def test_a_history_from_before_encryption_replays_with_encryption_on():
    """Turning HANDOVER_PAYLOAD_KEYS on must not strand the handovers that are waiting: their plain
    payloads pass through the codec."""
    recorded = json.loads(PLANNED_HISTORY.read_text())
    workflow_id = recorded["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    keys = f"2026-05={base64.b64encode(new_key()).decode()}"
    replayer = Replayer(
        workflows=[HandoverWorkflow, PlanWorkflow],
        data_converter=data_converter(Settings(payload_keys=SecretStr(keys))),
    )
    await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, recorded))


def test_without_keys_no_process_loads_the_cipher():
    """cryptography is 6 MB of every process's memory: loaded only when a codec is made."""
    code = (
        "import sys, worker, endpoint.app, starter\n"
        "from handover.temporal import data_converter\n"
        "from handover.settings import Settings\n"
        "assert data_converter(Settings.load()).payload_codec is None\n"
        "assert 'cryptography' not in sys.modules, sorted(m for m in sys.modules if 'cryptography' in m)\n"
        "EncryptionCodec = sys.modules['handover.codec'].EncryptionCodec\n"
        "EncryptionCodec({'k1': bytes(32)})\n"
        "assert 'cryptography' in sys.modules\n"
    )
    clean = {k: v for k, v in os.environ.items() if k != "HANDOVER_PAYLOAD_KEYS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr


def test_each_runs_payload_converter_reuses_the_type_adapters_of_the_others():
    """The SDK makes a payload converter per workflow run: a type's adapter (a validator and a
    serializer) is built once per process, not once per handover."""
    first, second = PayloadConverter(), PayloadConverter()
    payloads = first.to_payloads([[ItemResult(item_id="Q1", outcome=Outcome.HANDED_OVER)]])
    adapters = second.converters[b"json/plain"]._type_adapter  # type: ignore[attr-defined]
    before = adapters.cache_info()
    for converter in (first, second):
        [[read]] = converter.from_payloads(payloads, [list[ItemResult]])
        assert read.outcome is Outcome.HANDED_OVER
    after = adapters.cache_info()
    assert after.currsize - before.currsize <= 1 and after.hits - before.hits >= 1
