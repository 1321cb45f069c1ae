"""The sandbox for tests: a real HTTPS server on a free port, in a background thread.

with running_sandbox(DEMO_SCENARIO, tmp_path) as sandbox:
    client = pagerduty.RestApiV2Client(token, base_url=sandbox.pagerduty_url, verify=sandbox.ssl_context())
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn

from sandbox.app import create_app
from sandbox.state import Scenario, Store
from sandbox.tls import client_ssl_context, prepare_tls


@dataclass(frozen=True)
class SandboxHandle:
    base_url: str
    ca_file: Path
    pagerduty_url: str
    slack_url: str
    """With the trailing slash `slack_sdk.WebClient(base_url=...)` needs."""
    platform_url: str
    store: Store
    """The live state, for assertions that the control routes do not cover."""

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the sandbox CA: for httpx/httpx2 `verify=` and `slack_sdk.WebClient(ssl=...)`."""
        return client_ssl_context(self.ca_file)

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.base_url}/_sandbox", verify=self.ssl_context(), timeout=10)

    def pagerduty_client(self, **options: Any) -> httpx.Client:
        """PagerDuty's REST API with the account-level key (`options`: httpx.Client's, headers too)."""
        token = self.store.state.tokens.pagerduty_token
        return self._client(self.pagerduty_url, f"Token token={token}", options)

    def platform_client(self, **options: Any) -> httpx.Client:
        """The platform API with its token (`options`: httpx.Client's, headers too)."""
        return self._client(self.platform_url, f"Bearer {self.store.state.tokens.platform_token}", options)

    def _client(self, base_url: str, authorization: str, options: dict[str, Any]) -> httpx.Client:
        headers = {"Authorization": authorization, **options.pop("headers", {})}
        return httpx.Client(base_url=base_url, verify=self.ssl_context(), headers=headers, **options)

    def reset(self, scenario: str | Path | dict[str, Any] | None = None) -> None:
        """Back to the loaded scenario (or to another one), with the write log cleared."""
        if scenario is None:
            body: dict[str, Any] = {}
        elif isinstance(scenario, dict):
            body = scenario
        else:
            body = {"scenario": str(scenario)}
        with self.control() as client:
            client.post("/reset", json=body).raise_for_status()

    def put_plan(self, kind: Literal["faults", "limits"], plan: dict[str, Any]) -> dict[str, Any]:
        """A fault plan (sandbox/faults.py) or a limit plan (sandbox/limits.py) in force, until
        `clear`; answers the plan as the sandbox took it."""
        with self.control() as client:
            answer = client.put(f"/{kind}", json=plan)
            answer.raise_for_status()
            return answer.json()

    def clear(self, kind: Literal["faults", "limits"]) -> None:
        with self.control() as client:
            client.delete(f"/{kind}").raise_for_status()

    @contextmanager
    def faults(self, *rules: dict[str, Any], seed: int = 1) -> Iterator[None]:
        """Faults injected for the length of the block (sandbox/faults.py), cleared after it."""
        self.put_plan("faults", {"seed": seed, "faults": list(rules)})
        try:
            yield
        finally:
            self.clear("faults")

    def writes(self, api: str | None = None) -> list[dict[str, Any]]:
        """The write log (`GET /_sandbox/writes`), oldest first; `api` keeps one API's writes."""
        with self.control() as client:
            response = client.get("/writes", params={"api": api} if api else None)
            response.raise_for_status()
            return response.json()["writes"]

    def state(self) -> dict[str, Any]:
        """The whole current state (`GET /_sandbox/state`)."""
        with self.control() as client:
            response = client.get("/state")
            response.raise_for_status()
            return response.json()

    # --- a person in Slack (sandbox/interactivity.py) ---------------------------------------

    def slack_app(self, request_url: str | None, signing_secret: str = "") -> None:
        """Where Slack sends the app's interactions, signed with `signing_secret`; None: nowhere.
        A reset keeps it, as it is the app's configuration."""
        with self.control() as client:
            if request_url is None:
                client.delete("/slack/app").raise_for_status()
            else:
                body = {"request_url": request_url, "signing_secret": signing_secret}
                client.put("/slack/app", json=body).raise_for_status()

    def press(
        self, user: str, ts: str, action_id: str, value: str | None = None, channel: str | None = None
    ) -> dict[str, Any]:
        """`user` presses the button `action_id` (and `value`) of message `ts`: what the app
        answered (`status`, `body`), the `trigger_id` and `response_url` it was given."""
        body = {"user": user, "ts": ts, "action_id": action_id, "value": value, "channel": channel}
        return self._interact("/slack/press", body)

    def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """`user` submits their open view, having entered `values` (block_id -> a text, an option's
        value or a list of them): `status` (the app's, or "refused_by_slack"), `response`, `view`
        (None once closed), `errors`."""
        return self._interact("/slack/submit", {"user": user, "view_id": view_id, "values": values})

    def _interact(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.control() as client:
            answer = client.post(path, json=body, timeout=15)  # it waits on the app's answer
            answer.raise_for_status()
            return answer.json()

    def views(self, user: str) -> list[dict[str, Any]]:
        """The modals open on `user`'s screen, oldest first, each with the `errors` it shows."""
        with self.control() as client:
            answer = client.get("/slack/views", params={"user": user})
            answer.raise_for_status()
            return answer.json()["views"]

    def ephemeral(self, user: str) -> list[dict[str, Any]]:
        """The ephemeral messages the app showed `user`, oldest first (text, blocks, channel, at)."""
        with self.control() as client:
            answer = client.get("/slack/ephemeral", params={"user": user})
            answer.raise_for_status()
            return answer.json()["ephemeral"]

    def incident(self, incident_id: str) -> dict[str, Any]:
        """An incident as PagerDuty's `GET /incidents/{id}` shows it now."""
        with self.pagerduty_client(timeout=10) as client:
            response = client.get(f"/incidents/{incident_id}")
            response.raise_for_status()
            return response.json()["incident"]


@contextmanager
def running_sandbox(
    scenario: str | Path | Scenario | dict[str, Any], data_dir: str | Path
) -> Iterator[SandboxHandle]:
    """Serves the scenario over HTTPS on 127.0.0.1 until the block ends."""
    app = create_app(scenario)
    tls = prepare_tls(data_dir)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every answer waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.01)
    base_url = f"https://127.0.0.1:{port}"
    try:
        yield SandboxHandle(
            base_url=base_url,
            ca_file=tls.ca_file,
            pagerduty_url=f"{base_url}/pagerduty",
            slack_url=f"{base_url}/slack/api/",
            platform_url=f"{base_url}/platform/v1",
            store=app.state.store,
        )
    finally:
        # Clients in tests keep idle keep-alive connections open, and closing a TLS connection
        # waits for the peer: do not wait for connections, the tests are done with them.
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=10)
        sock.close()
