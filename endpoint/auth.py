"""Who is calling. Per-admin bearer tokens and service tokens, stored hashed (SHA-256 of a random
token), compared in constant time. The actor of every input is who the token says.

Configuration (either or both):
- a JSON file, HANDOVER_TOKENS_FILE (default .data/endpoint/tokens.json):
    {"service": {"offboarding-pipeline": "sha256:..."}, "admins": {"alice@novalien.com": ["sha256:..."]}}
- the environment: HANDOVER_SERVICE_TOKENS="name=sha256:...,..." and
  HANDOVER_ADMIN_TOKENS="alice@novalien.com=sha256:...,...".
`python -m endpoint tokens --admin EMAIL --service NAME` makes tokens and the file entries. The
file is read again when it changes (a running endpoint takes a new token at once); the
environment's tokens are read once, at start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import Depends, HTTPException, Request

PREFIX = "sha256:"
log = structlog.get_logger("endpoint.tokens")


def hash_token(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Caller:
    kind: str
    """`admin` or `service`."""
    name: str
    """The admin's email, or the service's name; both in lower case (as handovers record who
    requested them)."""

    @property
    def actor(self) -> str:
        return self.name if self.kind == "admin" else f"service:{self.name}"


def _file_entries(tokens_file: Path) -> list[tuple[str, Caller]]:
    data = json.loads(tokens_file.read_text())
    entries = [
        (digest, Caller("service", name.strip().lower()))
        for name, digest in (data.get("service") or {}).items()
    ]
    for email, digests in (data.get("admins") or {}).items():
        for digest in [digests] if isinstance(digests, str) else digests:
            entries.append((digest, Caller("admin", email.lower())))
    return _checked(entries)


def _environment_entries() -> list[tuple[str, Caller]]:
    entries = []
    for variable, kind in (("HANDOVER_SERVICE_TOKENS", "service"), ("HANDOVER_ADMIN_TOKENS", "admin")):
        for pair in filter(None, (p.strip() for p in os.environ.get(variable, "").split(","))):
            name, _, digest = pair.partition("=")
            entries.append((digest.strip(), Caller(kind, name.strip().lower())))
    return _checked(entries)


def _checked(entries: list[tuple[str, Caller]]) -> list[tuple[str, Caller]]:
    for digest, caller in entries:
        if not isinstance(digest, str) or not digest.startswith(PREFIX) or len(digest) != len(PREFIX) + 64:
            raise ValueError(f"the token of {caller.name} is not stored as sha256:<64 hex digits>")
    return entries


def _version(tokens_file: Path) -> tuple[int, int, int] | None:
    try:
        stat = tokens_file.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class TokenStore:
    """The hashed tokens of the environment (read at start) and of the tokens file, which is read
    again whenever it changes: a token `python -m endpoint tokens` issues works at once, and one
    taken out of the file stops working, without a restart."""

    def __init__(
        self,
        entries: list[tuple[str, Caller]],
        tokens_file: Path | None = None,
        environment: list[tuple[str, Caller]] | None = None,
    ) -> None:
        self._entries = entries
        self._file = tokens_file
        self._environment = environment or []
        self._version = _version(tokens_file) if tokens_file is not None else None

    @classmethod
    def load(cls, tokens_file: Path | None) -> TokenStore:
        environment = _environment_entries()
        if tokens_file is None or not tokens_file.exists():
            return cls(environment, tokens_file, environment)
        return cls(_file_entries(tokens_file) + environment, tokens_file, environment)

    def _reread_if_changed(self) -> None:
        """A stat per request: cheap. A file that cannot be read keeps the tokens known before."""
        if self._file is None:
            return
        version = _version(self._file)
        if version == self._version:
            return
        self._version = version
        try:
            from_file = _file_entries(self._file) if version is not None else []
        except (OSError, ValueError, AttributeError) as error:
            log.error(
                "tokens file unreadable: the tokens known before stay", file=str(self._file), error=str(error)
            )
            return
        self._entries = from_file + self._environment
        log.info("tokens file read again", file=str(self._file), tokens=len(self._entries))

    def identify(self, token: str) -> Caller | None:
        """Every stored hash is compared, in constant time, whatever matches first."""
        self._reread_if_changed()
        presented = hash_token(token)
        found = None
        for digest, caller in self._entries:
            if hmac.compare_digest(digest, presented):
                found = caller
        return found

    def holds(self, who: Caller) -> bool:
        """Whether `who` still has a token here (a codec cookie ends with its person's tokens)."""
        self._reread_if_changed()
        return any(caller == who for _, caller in self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def identified(request: Request) -> Caller:
    """Who the bearer token says, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "Send your token as `Authorization: Bearer <token>`.")
    found = request.app.state.tokens.identify(token.strip())
    if found is None:
        raise HTTPException(401, "This token is not known here: ask an operator for yours.")
    return found


async def caller(request: Request) -> Caller:
    """`identified`, as a dependency. (Coroutines, it and those below: FastAPI runs a plain
    function's dependency on its thread pool, a hop there and back for each, per request.)"""
    return identified(request)


async def admin(who: Caller = Depends(caller)) -> Caller:
    if who.kind != "admin":
        raise HTTPException(403, "People's inputs take the person's own token, not a service token.")
    return who


async def service(who: Caller = Depends(caller)) -> Caller:
    if who.kind != "service":
        raise HTTPException(
            403, "Starting handovers over HTTP takes the service token; admins use starter.py."
        )
    return who
