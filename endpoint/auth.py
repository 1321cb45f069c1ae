"""Who is calling. Per-admin bearer tokens and service tokens, stored hashed (SHA-256 of a random
token), compared in constant time. The actor of every input is who the token says.

Configuration (either or both):
- a JSON file, HANDOVER_TOKENS_FILE (default .data/endpoint/tokens.json):
    {"service": {"offboarding-pipeline": "sha256:..."}, "admins": {"alice@novalien.com": ["sha256:..."]}}
- the environment: HANDOVER_SERVICE_TOKENS="name=sha256:...,..." and
  HANDOVER_ADMIN_TOKENS="alice@novalien.com=sha256:...,...".
`python -m endpoint tokens --admin EMAIL --service NAME` makes tokens and the file entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, HTTPException, Request

PREFIX = "sha256:"


def hash_token(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Caller:
    kind: str
    """`admin` or `service`."""
    name: str
    """The admin's email, or the service's name."""

    @property
    def actor(self) -> str:
        return self.name if self.kind == "admin" else f"service:{self.name}"


class TokenStore:
    def __init__(self, entries: list[tuple[str, Caller]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, tokens_file: Path | None) -> TokenStore:
        entries: list[tuple[str, Caller]] = []
        if tokens_file is not None and tokens_file.exists():
            data = json.loads(tokens_file.read_text())
            for name, digest in (data.get("service") or {}).items():
                entries.append((digest, Caller("service", name)))
            for email, digests in (data.get("admins") or {}).items():
                for digest in [digests] if isinstance(digests, str) else digests:
                    entries.append((digest, Caller("admin", email.lower())))
        for variable, kind in (("HANDOVER_SERVICE_TOKENS", "service"), ("HANDOVER_ADMIN_TOKENS", "admin")):
            for pair in filter(None, (p.strip() for p in os.environ.get(variable, "").split(","))):
                name, _, digest = pair.partition("=")
                entries.append(
                    (digest.strip(), Caller(kind, name.strip().lower() if kind == "admin" else name.strip()))
                )
        for digest, caller in entries:
            if not digest.startswith(PREFIX) or len(digest) != len(PREFIX) + 64:
                raise ValueError(f"the token of {caller.name} is not stored as sha256:<64 hex digits>")
        return cls(entries)

    def identify(self, token: str) -> Caller | None:
        """Every stored hash is compared, in constant time, whatever matches first."""
        presented = hash_token(token)
        found = None
        for digest, caller in self._entries:
            if hmac.compare_digest(digest, presented):
                found = caller
        return found

    def __len__(self) -> int:
        return len(self._entries)


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "Send your token as `Authorization: Bearer <token>`.")
    found = request.app.state.tokens.identify(token.strip())
    if found is None:
        raise HTTPException(401, "This token is not known here: ask an operator for yours.")
    return found


def admin(who: Caller = Depends(caller)) -> Caller:
    if who.kind != "admin":
        raise HTTPException(403, "People's inputs take the person's own token, not a service token.")
    return who


def service(who: Caller = Depends(caller)) -> Caller:
    if who.kind != "service":
        raise HTTPException(
            403, "Starting handovers over HTTP takes the service token; admins use starter.py."
        )
    return who
