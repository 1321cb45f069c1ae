"""The endpoint's own OpenAPI schema, fuzzed by schemathesis over real HTTP: whatever the request,
the endpoint never answers 5xx, and never 2xx on a route the caller's role may not use. 4xx are
expected (most generated input is wrong on purpose).

Every operation runs with every kind of token: the outgoing admin's (alice), the incoming admin's
(bob), an admin outside the handover (dave), the service that requested it, an observer (erin) and
a service that did not request it; with valid and with
invalid data, on generated handover ids and on a live handover of alice's, started afresh for each
token (so inputs reach the workflow's update validators). Examples are derandomized: every run
sends the same requests. Schemathesis's `not_a_server_error` check runs, and ours of the role.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from temporalio.service import RPCError

from sandbox.state import DEMO_SCENARIO
from tests.conftest import OBSERVER, TOKENS
from tests.endpoint.test_api import ID, start
from tests.humans import inventory

EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "8"))
"""Per operation, token, mode and handover id (about 2,000 requests in all). Set SCHEMA_EXAMPLES
to dig deeper: the examples are then random, different every run."""
DERANDOMIZE = "SCHEMA_EXAMPLES" not in os.environ
LIVE = {"incident_id": "Q1DISK7", "ticket_id": "SUP-1051", "rollout_id": "RO-311"}
"""Items of the live handover: what is generated for them reaches the workflow's validators."""


@dataclass
class ServerError:
    who: str
    method: str
    path: str
    body: object
    status: int
    answer: str
    curl: str

    def __str__(self) -> str:
        body = "" if self.body is None else f" body={json.dumps(self.body, default=str)[:300]}"
        answer = self.answer[:300]
        return f"{self.method} {self.path}{body} as {self.who} -> {self.status}: {answer}\n  {self.curl}"


ANYONE = {"GET /healthz", "GET /metrics", "GET /me", "GET /autopilots", "GET /autopilots/{schedule_id}"}
STEERS = {f"POST /autopilots/{{schedule_id}}/{action}" for action in ("pause", "resume", "skip-next")}
READS = {"GET /handovers/{handover_id}", "GET /handovers/{handover_id}/report"}
CANCEL = "POST /handovers/{handover_id}/cancel"
OUTGOING_INPUTS = {
    "POST /handovers/{handover_id}/incidents/{incident_id}/status",
    "POST /handovers/{handover_id}/tickets/{ticket_id}/engineering-link",
    "POST /handovers/{handover_id}/rollouts/{rollout_id}/annotation",
    "POST /handovers/{handover_id}/mitigated",
    CANCEL,
}
INCOMING_INPUTS = {
    "POST /handovers/{handover_id}/incidents/{incident_id}/ack",
    "POST /handovers/{handover_id}/incidents/ack-all",
    "POST /handovers/{handover_id}/rollouts/{rollout_id}/ownership",
    "POST /handovers/{handover_id}/rollouts/ownership-all",
    "POST /handovers/{handover_id}/summary/ack",
    "POST /handovers/{handover_id}/unclear-threads",
    "POST /handovers/{handover_id}/mitigated",
    CANCEL,
}
MAY_SUCCEED = {
    "alice@novalien.com": ANYONE | READS | OUTGOING_INPUTS | STEERS,
    "bob@novalien.com": ANYONE | READS | INCOMING_INPUTS | STEERS,
    "dave@novalien.com": ANYONE | STEERS,
    "service:pipeline": ANYONE | READS | {"POST /handovers", CANCEL} | STEERS,
    OBSERVER: ANYONE | READS,
    "service:audit": ANYONE | {"POST /handovers"} | STEERS,
}
"""The operations each token may get a 2xx from; any other 2xx is a defect (Slack's and PagerDuty's
routes among them: nothing here signs)."""


@dataclass
class Run:
    requests: int = 0
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unsatisfiable: list[str] = field(default_factory=list)
    server_errors: list[ServerError] = field(default_factory=list)
    not_theirs: list[ServerError] = field(default_factory=list)
    """2xx answers to a role that may not use the route."""


def fuzz(base_url: str, who: str, live_id: str, run: Run) -> None:
    """Blocking (requests, hypothesis): run in a thread, so the worker keeps the event loop."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Cancelling the live handover goes last, so that every other input reaches it running.
    operations.sort(key=lambda operation: operation.path.endswith("/cancel"))

    for operation in operations:
        has_input = bool(list(operation.iter_parameters())) or bool(operation.body)
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input else [GenerationMode.POSITIVE]
        for mode in modes:
            strategies = [operation.as_strategy(generation_mode=mode)]
            if "{handover_id}" in operation.path:
                live = {name: value for name, value in LIVE.items() if f"{{{name}}}" in operation.path}
                strategies.append(
                    operation.as_strategy(
                        generation_mode=mode, path_parameters={**live, "handover_id": live_id}
                    )
                )
            for strategy in strategies:

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=DERANDOMIZE,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def call(case) -> None:
                    response = case.call(base_url=base_url, headers=headers, timeout=30)
                    run.requests += 1
                    run.statuses[f"{case.operation.label} as {who}"][response.status_code] += 1

                    def found() -> ServerError:
                        return ServerError(
                            who=who,
                            method=case.method,
                            path=case.formatted_path,
                            body=None
                            if case.body is None or not hasattr(case.body, "__len__")
                            else case.body,
                            status=response.status_code,
                            answer=response.text,
                            curl=case.as_curl_command(headers=headers, base_url=base_url),
                        )

                    try:
                        case.validate_response(response, checks=[not_a_server_error])
                    except (AssertionError, BaseExceptionGroup):
                        run.server_errors.append(found())
                    if 200 <= response.status_code < 300 and case.operation.label not in MAY_SUCCEED[who]:
                        run.not_theirs.append(found())

                try:
                    call()
                except Unsatisfiable:
                    # Nothing left to make invalid (negative data, with the only parameter fixed).
                    run.unsatisfiable.append(f"{operation.label} {mode.value} as {who}")


async def test_no_request_makes_the_endpoint_answer_5xx_or_2xx_to_a_role_that_may_not(
    endpoint, fresh_sandbox
):
    run = Run()
    started = time.monotonic()
    try:
        for who in MAY_SUCCEED:
            await end_alice_s_handover(endpoint)
            await asyncio.to_thread(fresh_sandbox.reset, DEMO_SCENARIO)
            await start(endpoint)
            await inventory(endpoint.client, ID)
            await asyncio.to_thread(fuzz, endpoint.url, who, ID, run)
    finally:
        # Fuzzed starts may have begun handovers of made-up admins: end whatever still runs here.
        query = f'WorkflowType = "HandoverWorkflow" AND TaskQueue = "{endpoint.task_queue}"'
        async for execution in endpoint.client.list_workflows(query + ' AND ExecutionStatus = "Running"'):
            try:
                await endpoint.client.get_workflow_handle(execution.id).terminate("schema test ended")
            except RPCError:
                pass
    print(f"schemathesis: {run.requests} requests in {time.monotonic() - started:.1f} s")
    for label, statuses in run.statuses.items():
        print(f"  {label}: {dict(sorted(statuses.items()))}")
    print("nothing to make invalid:", *run.unsatisfiable, sep="\n  ")
    assert run.requests > 1500, run.statuses
    assert not run.server_errors, "the endpoint answered 5xx:\n" + "\n".join(map(str, run.server_errors))
    assert not run.not_theirs, "2xx to a role that may not use the route:\n" + "\n".join(
        map(str, run.not_theirs)
    )
    for who in ("bob@novalien.com", "service:pipeline", OBSERVER):  # the live handover, reached as each
        assert run.statuses[f"GET /handovers/{{handover_id}} as {who}"][200], run.statuses
    for outsider in ("dave@novalien.com", "service:audit"):
        assert not run.statuses[f"GET /handovers/{{handover_id}} as {outsider}"][200]


async def end_alice_s_handover(endpoint) -> None:
    try:
        await endpoint.client.get_workflow_handle(ID).terminate("the schema test goes on as another token")
    except RPCError:
        pass  # none running
