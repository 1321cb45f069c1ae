"""Real processes for the reliability suite, killed and restarted for real.

The Temporal dev server (state in a database file), the workers and the endpoint are child
processes started with `python worker.py` and `python -m endpoint`, exactly as `make run` starts
them; `kill -9` is a real SIGKILL. The sandbox (the outside world: PagerDuty, Slack, the platform)
runs in this process, so its write log and fault plan are at hand.

Every secret is made at random for the session (API tokens, signing secrets, the people's
endpoint tokens) so that the scan at the end can look for each of them in every history and log.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.stack import dev_server_storage
from endpoint.__main__ import make_tokens
from handover import visibility
from sandbox.state import DEMO_SCENARIO
from sandbox.testing import SandboxHandle, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PEOPLE = ["alice@novalien.com", "bob@novalien.com", "carol@novalien.com", "dave@novalien.com"]
SERVICE = "offboarding-pipeline"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def random_secrets() -> dict[str, str]:
    """The service's secrets for this session, each unguessable and easy to search for."""
    return {
        "PAGERDUTY_API_TOKEN": f"pd-{secrets.token_hex(16)}",
        "SLACK_BOT_TOKEN": f"xoxb-{secrets.token_hex(16)}",
        "PLATFORM_API_TOKEN": f"plat-{secrets.token_hex(16)}",
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "PAGERDUTY_WEBHOOK_SECRETS": secrets.token_hex(16),
        **{
            f"Slack user token of {name}": f"xoxp-{secrets.token_hex(16)}"
            for name in ("alice", "bob", "carol", "dave")
        },
    }


def scenario_with(tokens: dict[str, str]) -> dict[str, Any]:
    """The demo scenario, answering only to this session's tokens."""
    scenario = yaml.safe_load(DEMO_SCENARIO.read_text())
    scenario["tokens"] = {
        "pagerduty_token": tokens["PAGERDUTY_API_TOKEN"],
        "slack_bot_token": tokens["SLACK_BOT_TOKEN"],
        "platform_token": tokens["PLATFORM_API_TOKEN"],
    }
    for user in scenario["slack"]["users"]:  # people's own Slack tokens: the service never has them
        if user.get("user_token"):
            user["user_token"] = tokens[f"Slack user token of {user['name']}"]
    return scenario


@dataclass
class Stack:
    root: Path
    sandbox: SandboxHandle
    secrets: dict[str, str]
    temporal_port: int = field(default_factory=free_port)
    endpoint_port: int = field(default_factory=free_port)
    task_queue: str = "oncall-handover"
    workers: list[subprocess.Popen] = field(default_factory=list)
    temporal: subprocess.Popen | None = None
    endpoint: subprocess.Popen | None = None
    started: list[tuple[str, str]] = field(default_factory=list)
    """(workflow id, run id) of every handover started: the secrets scan reads each history."""
    people: dict[str, str] = field(default_factory=dict)
    """Endpoint tokens: email (or `service:<name>`) -> token."""
    _client: Client | None = None

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.endpoint_port}"

    def env(self) -> dict[str, str]:
        base = self.sandbox.base_url
        return {
            **os.environ,
            **{name: value for name, value in self.secrets.items() if name.isupper()},
            "PYTHONUNBUFFERED": "1",
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "HANDOVER_TASK_QUEUE": self.task_queue,
            "HANDOVER_DATA_DIR": str(self.root / "data"),
            "SANDBOX_URL": base,
            "PAGERDUTY_BASE_URL": self.sandbox.pagerduty_url,
            "SLACK_BASE_URL": self.sandbox.slack_url,
            "PLATFORM_BASE_URL": self.sandbox.platform_url,
            "HANDOVER_CA_FILE": str(self.sandbox.ca_file),
            "HANDOVER_HTTP_TIMEOUT": "2",
            "HANDOVER_POLL_SECONDS": "1",
            "HANDOVER_WATCH_SECONDS": "5",
        }

    def _spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # --- Temporal ---------------------------------------------------------------------------

    def start_temporal(self) -> None:
        command = [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            *dev_server_storage(self.root / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--headless",
            "--log-level",
            "error",
        ]
        command += visibility.dev_server_flags()
        self.temporal = self._spawn("temporal", command)
        _wait(lambda: listening(self.temporal_port), self.temporal, "Temporal", 60)

    def kill_temporal(self) -> None:
        """kill -9 the dev server: what it committed must be in its database file."""
        assert self.temporal is not None
        self.temporal.send_signal(signal.SIGKILL)
        self.temporal.wait()
        self.temporal = None
        self._client = None

    def stop_temporal(self) -> None:
        """A clean stop (SIGTERM): the database file keeps every handover."""
        _stop(self.temporal)
        self.temporal = None
        self._client = None

    async def client(self) -> Client:
        if self._client is None:
            deadline = time.monotonic() + 30
            while True:
                try:
                    self._client = await Client.connect(
                        f"127.0.0.1:{self.temporal_port}", data_converter=pydantic_data_converter
                    )
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        return self._client

    # --- workers --------------------------------------------------------------------------

    def start_worker(self, runs: str = "all") -> subprocess.Popen:
        """`python worker.py`, running HANDOVER_WORKER_RUNS=`runs` (the workflows, the activities or both)."""
        name = f"worker-{len(self.workers) + 1}"
        worker = self._spawn(name, [sys.executable, "worker.py"], HANDOVER_WORKER_RUNS=runs)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> bool:
        """kill -9 one worker; whether it was alive."""
        if worker.poll() is not None:
            return False
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        return True

    def kill_workers(self) -> int:
        """kill -9 every worker; how many were alive."""
        return sum(self.kill_worker(worker) for worker in self.workers)

    def stop_workers(self) -> None:
        for worker in self.workers:
            _stop(worker)

    # --- the endpoint -----------------------------------------------------------------------

    def start_endpoint(self) -> None:
        """Up once it answers its health check: a port that merely listens may be another's (the
        dev server opens ports of its own beside its frontend, after this one was picked); then
        on another free port."""
        tokens_file = self.root / "data" / "endpoint" / "tokens.json"
        if not self.people:
            self.people = make_tokens(PEOPLE, [SERVICE], tokens_file)
        for attempt in range(3):
            port = str(self.endpoint_port)
            self.endpoint = self._spawn(
                "endpoint", [sys.executable, "-m", "endpoint", "--host", "127.0.0.1", "--port", port]
            )
            try:
                _wait(lambda: _healthy(self.endpoint_url), self.endpoint, "the endpoint", 30)
                return
            except RuntimeError:
                _stop(self.endpoint)
                if attempt == 2:
                    raise
                self.endpoint_port = free_port()

    def http(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.endpoint_url, headers={"Authorization": f"Bearer {self.people[who]}"}, timeout=30
        )

    def stop(self) -> None:
        _stop(self.endpoint)
        self.stop_workers()
        self.stop_temporal()

    def secret_values(self) -> dict[str, str]:
        """Every secret of the session, by name."""
        return {**self.secrets, **{f"endpoint token of {who}": token for who, token in self.people.items()}}

    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("*.log"))


def identity(worker: subprocess.Popen) -> str:
    """The worker's identity in Temporal (the SDK's default, `<pid>@<hostname>`: worker.py sets none)."""
    return f"{worker.pid}@{socket.gethostname()}"


async def until_polling(
    stack: Stack, workers: list[subprocess.Popen] | None = None, timeout: float = 60
) -> None:
    """Until every worker of the stack (or these) polls the task queue (for workflow tasks, for
    activities, or both: HANDOVER_WORKER_RUNS)."""
    client = await stack.client()
    requests = [
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=stack.task_queue), task_queue_type=kind
        )
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    ]
    expected = {identity(worker) for worker in (stack.workers if workers is None else workers)}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        answers = [await client.workflow_service.describe_task_queue(request) for request in requests]
        if expected <= {poller.identity for answer in answers for poller in answer.pollers}:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not every worker polls {stack.task_queue}: {expected}")


@contextmanager
def running_stack(root: Path, workers: int = 1, endpoint: bool = True) -> Iterator[Stack]:
    """Temporal, `workers` workers on one task queue and the endpoint, against a sandbox serving
    the demo scenario with random secrets; all stopped when the block ends."""
    secrets = random_secrets()
    with running_sandbox(scenario_with(secrets), root / "sandbox") as sandbox:
        stack = Stack(root=root, sandbox=sandbox, secrets=secrets)
        try:
            stack.start_temporal()
            if endpoint:
                stack.start_endpoint()
            for _ in range(workers):
                stack.start_worker()
            yield stack
        finally:
            stack.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:  # (not up yet, or not HTTP/1.1 at all: another's port)
        return False


def _wait(ready, process: subprocess.Popen | None, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up in {timeout:.0f}s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def record(artifacts: Path, name: str, row: dict[str, Any]) -> None:
    """One run's row for `make reliability`'s table."""
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / f"{name}.json").write_text(json.dumps(row, indent=2, default=str) + "\n")
