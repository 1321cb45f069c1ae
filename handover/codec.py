"""Payload encryption: what the worker, the endpoint and the CLI store in Temporal is AES-256-GCM
ciphertext when HANDOVER_PAYLOAD_KEYS is set (status paragraphs can be sensitive).

Each payload is encrypted whole (its metadata and data, serialized) under a random 12-byte nonce,
and stored as `encoding: binary/encrypted` with the id of the key in `encryption-key-id`, the layout
of temporalio/samples-python's encryption sample. The first key encrypts; every key decrypts, so a
new key can be put first while histories written under the old one are still read.

Each payload is also bound to its handover: the SDK tells the codec which workflow a payload is
for (its serialization context), and the workflow id goes in the payload's `handover-id` metadata
and into the cipher as associated data, so it cannot be moved to another handover without the
decryption failing. The codec endpoint decrypts a payload only for a caller who may read that
handover (endpoint/codec.py). Payloads written before the binding (or without a workflow, e.g. by
`/codec/encode`) have no `handover-id`: only the deployment's observers may read those.

Search attributes and workflow ids are not payloads the codec sees: Temporal indexes them, so they
stay plain (the admins' emails among them).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    ActivitySerializationContext,
    CompositePayloadConverter,
    EncodingPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"
BOUND_TO = "handover-id"
"""Metadata: the workflow id of the handover a payload belongs to (plain, and authenticated)."""
NONCE_BYTES = 12


class UndecryptablePayload(ValueError):
    """An encrypted payload this process cannot read. The message names the key id, never a key."""


def bound_to(payload: Payload) -> str | None:
    """The handover an encrypted payload is bound to; None if it is not (or not encrypted)."""
    value = payload.metadata.get(BOUND_TO)
    return value.decode(errors="replace") if value else None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: dict[str, bytes], workflow_id: str | None = None) -> None:
        if not keyring:
            raise ValueError("EncryptionCodec needs at least one key")
        # (Imported here: without keys no codec is made, and processes do without its 6 MB.)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.items()}
        self.encrypting_key_id = next(iter(keyring))
        self.workflow_id = workflow_id
        """The handover whose payloads this copy encrypts (from the SDK's context), if known."""

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = (
            context.workflow_id
            if isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext))
            else None
        )
        if workflow_id == self.workflow_id:
            return self
        bound = EncryptionCodec.__new__(EncryptionCodec)
        bound.__dict__.update(self.__dict__, workflow_id=workflow_id)
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._ciphers[self.encrypting_key_id]
        metadata = {"encoding": ENCRYPTED, KEY_ID: self.encrypting_key_id.encode()}
        if self.workflow_id:
            metadata[BOUND_TO] = self.workflow_id.encode()
        associated = metadata.get(BOUND_TO)
        return Payload(
            metadata=metadata, data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), associated)
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was turned on are read as they are.
        if payload.metadata.get("encoding") != ENCRYPTED:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(repr(known_id) for known_id in self._ciphers)
            raise UndecryptablePayload(
                f"a payload is encrypted with key id {key_id!r}, which HANDOVER_PAYLOAD_KEYS does not "
                f"have (it has {known}): add that key back, after the one that encrypts"
            )
        from cryptography.exceptions import InvalidTag  # (loaded with AESGCM, in __init__)

        nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(
                cipher.decrypt(nonce, ciphertext, payload.metadata.get(BOUND_TO) or None)
            )
        except (InvalidTag, ValueError, DecodeError):  # ValueError: too short to hold a nonce
            raise UndecryptablePayload(
                f"a payload encrypted with key id {key_id!r} does not decrypt: it was altered, or "
                f"the key under {key_id!r} is not the one that encrypted it"
            ) from None


class EncryptedWithoutKey(EncodingPayloadConverter):
    """An encrypted payload in a process without keys (no codec, so it reaches the payload
    converter as it is): a clear error instead of the SDK's "Unknown payload encoding"."""

    @property
    def encoding(self) -> str:
        return ENCRYPTED.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # never chosen to write

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        raise UndecryptablePayload(
            f"this handover's payloads are encrypted (key id {key_id!r}) and HANDOVER_PAYLOAD_KEYS "
            "is not set here: set it as it is set for the workers"
        )


class PayloadConverter(PydanticPayloadConverter):
    """Pydantic's, knowing encrypted payloads by name. Without keys no codec is installed at all:
    a codec makes the SDK visit every payload of every activation, which cost an alert storm 20%.

    The SDK makes one of these for each workflow run. They share one set of encoding converters,
    so pydantic's type adapters (a validator and a serializer for each type read: an activity's
    result, an input) are built once per process and not again for every handover, each of which
    held its own dozen (docs/bench.md)."""

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(self, *_encodings())


@functools.cache
def _encodings() -> tuple[EncodingPayloadConverter, ...]:
    """Pydantic's encoding converters (each stateless but for its cache of type adapters, which
    is thread-safe), and the one for encrypted payloads without keys."""
    return (*PydanticPayloadConverter().converters.values(), EncryptedWithoutKey())
