"""Tokens issued, and taken back, while the endpoint runs: the tokens file is read again when it
changes, so nobody needs a restart nobody mentions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from endpoint.__main__ import make_tokens
from endpoint.app import create_app
from endpoint.auth import Caller, TokenStore, hash_token
from tests.humans import INCOMING, OUTGOING
from tests.serving import serving

ROOT = Path(__file__).resolve().parents[2]


def issue(tokens_file: Path, admin: str) -> subprocess.CompletedProcess:
    """`python -m endpoint tokens --admin ...`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "endpoint", "tokens", "--admin", admin],
        cwd=ROOT,
        env={**os.environ, "HANDOVER_TOKENS_FILE": str(tokens_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_token_issued_or_removed_while_the_endpoint_runs_counts_at_once(
    dev_server, settings, tmp_path
):
    client, task_queue = dev_server
    tokens_file = tmp_path / "tokens.json"
    alice = make_tokens([OUTGOING], [], tokens_file)[OUTGOING]
    app = create_app(
        settings.model_copy(update={"endpoint_tokens_file": tokens_file, "task_queue": task_queue}),
        client=client,
    )
    async with serving(app) as url:

        async def me(token: str) -> httpx.Response:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                return await http.get("/me", headers={"Authorization": f"Bearer {token}"})

        assert (await me(alice)).status_code == 200

        issued = issue(tokens_file, INCOMING)
        assert issued.returncode == 0, issued.stderr
        assert "a running endpoint takes them at once" in issued.stderr
        bob = issued.stdout.strip().split("\t")[1]
        answer = await me(bob)
        assert answer.status_code == 200, f"a new token works without a restart: {answer.text}"
        assert answer.json()["actor"] == INCOMING

        # Taken out of the file: refused at once.
        data = json.loads(tokens_file.read_text())
        del data["admins"][INCOMING]
        tokens_file.write_text(json.dumps(data))
        assert (await me(bob)).status_code == 401
        assert (await me(alice)).status_code == 200

        # A file broken mid-edit: the tokens known before still work (no 500, nobody locked out).
        tokens_file.write_text('{"admins": {')
        assert (await me(alice)).status_code == 200
        assert (await me(bob)).status_code == 401


def test_a_service_is_named_in_lower_case_as_its_handovers_record_it(tmp_path: Path, monkeypatch):
    """A handover records its requester in lower case: a service whose name has capitals in the
    tokens file (or the environment) would otherwise not be one of its own handovers' people."""
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(
        json.dumps({"service": {"Offboarding-Pipeline": hash_token("from-the-file-0123")}})
    )
    monkeypatch.setenv("HANDOVER_SERVICE_TOKENS", f"Audit={hash_token('from-the-environment-0123')}")
    store = TokenStore.load(tokens_file)
    assert store.identify("from-the-file-0123") == Caller("service", "offboarding-pipeline")
    assert store.identify("from-the-environment-0123") == Caller("service", "audit")
