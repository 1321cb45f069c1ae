"""Payload encryption: what the worker, the endpoint and the CLI store in Temporal is AES-256-GCM
ciphertext when HANDOVER_PAYLOAD_KEYS is set (status paragraphs can be sensitive).

Each payload is encrypted whole (its metadata and data, serialized) under a random 12-byte nonce,
and stored as `encoding: binary/encrypted` with the id of the key in `encryption-key-id`, the layout
of temporalio/samples-python's encryption sample. The first key encrypts; every key decrypts, so a
new key can be put first while histories written under the old one are still read.

Search attributes and workflow ids are not payloads the codec sees: Temporal indexes them, so they
stay plain (the admins' emails among them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, EncodingPayloadConverter, PayloadCodec

ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class UndecryptablePayload(ValueError):
    """An encrypted payload this process cannot read. The message names the key id, never a key."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: dict[str, bytes]) -> None:
        if not keyring:
            raise ValueError("EncryptionCodec needs at least one key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.items()}
        self.encrypting_key_id = next(iter(keyring))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._ciphers[self.encrypting_key_id]
        return Payload(
            metadata={"encoding": ENCRYPTED, KEY_ID: self.encrypting_key_id.encode()},
            data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None),
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
        nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, ciphertext, None))
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
    a codec makes the SDK visit every payload of every activation, which cost an alert storm 20%."""

    def __init__(self) -> None:
        super().__init__()
        CompositePayloadConverter.__init__(self, *self.converters.values(), EncryptedWithoutKey())
