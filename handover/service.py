"""What the CLI, the demo and the endpoint do with a handover, through the Temporal client.

Every failure a person can cause comes back as one of `handover.errors`, with a message to act on.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.client import (
    WorkflowExecutionStatus as Status,
)
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from handover import inputs, visibility
from handover.errors import (
    AlreadyDone,
    AlreadyRunning,
    HandoverError,
    InvalidInput,
    NotReady,
    NoWorker,
    UnknownHandover,
    from_failure,
)
from handover.inputs import Declared
from handover.models import (
    HandoverPlan,
    HandoverProgress,
    HandoverReport,
    HandoverRequest,
    HumanInput,
    InputAccepted,
    InputKind,
    Phase,
    Variant,
    workflow_id_for,
)

WORKFLOW = "HandoverWorkflow"
QUERY_WITHIN = timedelta(seconds=5)
"""How long reading a running handover's progress may wait for a worker."""
ANSWER_WITHIN = timedelta(seconds=10)
"""How long a query or update may wait for a worker (queries fail after it; inputs fall back to
their signal twin)."""


def check_demo(request: HandoverRequest, uses_sandbox: bool) -> None:
    """`demo` (an overlap under two hours) is for the demo scenario on the sandbox only: against
    real PagerDuty, Slack and platform APIs a planned handover keeps its two hours."""
    if request.demo and not uses_sandbox:
        raise InvalidInput(
            '--demo (HTTP: "demo": true) is for the demo scenario on the sandbox; with real PagerDuty, '
            "Slack and platform APIs a planned or mid-shift handover overlaps for at least 2 hours"
        )


def handover_id(text: str) -> str:
    """A handover is named by its workflow id or by the outgoing admin's email."""
    text = text.strip()
    if text.startswith("handover-"):
        return text
    try:
        return workflow_id_for(text)
    except ValueError:
        raise UnknownHandover(f"{text!r} is neither a handover id nor an admin's email") from None


async def start(
    client: Client, task_queue: str, request: HandoverRequest, idempotency_key: str | None = None
) -> WorkflowHandle:
    """Start a handover. With an idempotency key, a repeat of the same start returns the handover
    it started (running or finished) instead of refusing it or starting another."""
    workflow_id = workflow_id_for(request.outgoing)
    what = request.model_dump(mode="json", exclude={"requested_by"})
    if idempotency_key is not None:
        repeated = await _started_with_key(client, workflow_id, idempotency_key, what)
        if repeated is not None:
            return repeated
    conflict = await crossed(client, request)
    if conflict is not None:
        raise AlreadyRunning(conflict)
    try:
        return await client.start_workflow(
            WORKFLOW,
            request,
            id=workflow_id,
            task_queue=task_queue,
            result_type=HandoverReport,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=(
                f"On-call handover {request.outgoing} → {request.incoming} ({request.variant.value})"
            ),
            static_details=(
                f"Requested by {request.requested_by} · {request.variant.value}"
                f"{' · offboarding (audit check)' if request.offboarding else ''} · "
                f"overlap {request.overlap} · `starter.py status {request.outgoing}`"
            ),
            memo={"idempotency_key": idempotency_key, "request": what} if idempotency_key else None,
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is not None:  # (the same start, made at the same moment by another caller)
            repeated = await _started_with_key(client, workflow_id, idempotency_key, what)
            if repeated is not None:
                return repeated
        raise AlreadyRunning(
            f"a handover for {request.outgoing} is running already: {workflow_id}; "
            "finish or cancel it before starting another"
        ) from None


async def latest_run(
    client: Client, workflow_id: str, rpc_timeout: timedelta | None = None
) -> WorkflowExecutionDescription | None:
    """The latest run under this workflow id (running or ended), or None if Temporal has none."""
    try:
        return await client.get_workflow_handle(workflow_id).describe(rpc_timeout=rpc_timeout)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


async def _started_with_key(client: Client, workflow_id: str, key: str, what: dict) -> WorkflowHandle | None:
    """The handover this idempotency key started (running or finished), or None; AlreadyRunning
    when the key started another request."""
    described = await latest_run(client, workflow_id)
    memo = {} if described is None else await described.memo()
    if memo.get("idempotency_key") != key:
        return None
    if memo.get("request") != what:
        earlier = memo.get("request") or {}
        raise AlreadyRunning(
            f"Idempotency-Key {key!r} was used for another request "
            f"({earlier.get('outgoing')} → {earlier.get('incoming')}): use a new key for a new handover"
        )
    return client.get_workflow_handle(workflow_id, result_type=HandoverReport)


_SAFE_VALUE = re.compile(r"^[A-Za-z0-9@._+#:-]{1,254}$")
EVENT_TIMEOUT = timedelta(seconds=2)
"""Slack and PagerDuty want an answer within 3 and 5 seconds: relaying gives up before."""


def _equals(key: SearchAttributeKey | str, value: str) -> str:
    """A visibility clause; values from outside (webhooks, tokens, a payload's binding) can never
    change the query."""
    if not _SAFE_VALUE.fullmatch(value):
        raise ValueError(f"not a value to look up: {value!r}")
    return f'{key if isinstance(key, str) else key.name} = "{value}"'


def workflow_id_clause(workflow_id: str) -> str:
    """`WorkflowId = "<id>"`; ValueError for an id that could change the query."""
    return _equals("WorkflowId", workflow_id)


def list_query(
    *,
    include_finished: bool = False,
    phase: Phase | None = None,
    variant: Variant | None = None,
    outgoing: str | None = None,
    incoming: str | None = None,
    involving: str | None = None,
    waiting_on: str | None = None,
) -> str:
    """The visibility query of `starter.py list`: every filter given must hold."""
    clauses = [f'WorkflowType = "{WORKFLOW}"']
    if not include_finished:
        clauses.append('ExecutionStatus = "Running"')
    if phase is not None:
        clauses.append(f'{visibility.PHASE.name} = "{phase.value}"')
    if variant is not None:
        clauses.append(_equals(visibility.VARIANT, variant.value))
    if outgoing is not None:
        clauses.append(_equals(visibility.OUTGOING, outgoing))
    if incoming is not None:
        clauses.append(_equals(visibility.INCOMING, incoming))
    if involving is not None:
        clauses.append(
            f"({_equals(visibility.OUTGOING, involving)} OR {_equals(visibility.INCOMING, involving)})"
        )
    if waiting_on is not None:
        clauses.append(_equals(visibility.WAITING_ON, waiting_on))  # a keyword list: "contains"
    return " AND ".join(clauses)


async def running(
    client: Client,
    involving: str | None = None,
    where: dict[SearchAttributeKey, str] | None = None,
    timeout: timedelta | None = None,
) -> list[dict]:
    """Running handovers (from Temporal's visibility: no worker needed), optionally one admin's,
    or those whose search attributes equal `where`."""
    try:
        clauses = [list_query(involving=involving)]
        clauses += [_equals(key, value) for key, value in (where or {}).items()]
    except ValueError:
        return []  # nothing can match a value like that
    found = []
    async for execution in client.list_workflows(" AND ".join(clauses), limit=200, rpc_timeout=timeout):
        attributes = execution.typed_search_attributes
        found.append(
            {
                "id": execution.id,
                "run_id": execution.run_id,
                "phase": attributes.get(visibility.PHASE) or "",
                "outgoing": attributes.get(visibility.OUTGOING) or "",
                "incoming": attributes.get(visibility.INCOMING) or "",
                "variant": attributes.get(visibility.VARIANT) or "",
                "started_at": execution.start_time,
            }
        )
    return found


async def ended(client: Client, involving: str | None = None, limit: int = 20) -> list[dict]:
    """Handovers that have ended, newest first, one per id (its latest run), optionally one admin's:
    the console lists them after the running ones, so a finished handover's report can be opened."""
    try:
        query = list_query(include_finished=True, involving=involving) + ' AND ExecutionStatus != "Running"'
    except ValueError:
        return []
    executions = [execution async for execution in client.list_workflows(query, limit=limit * 5)]
    executions.sort(key=lambda e: e.close_time or e.start_time, reverse=True)
    found: dict[str, dict] = {}
    for execution in executions:
        if execution.id in found:
            continue
        attributes = execution.typed_search_attributes
        completed = execution.status == Status.COMPLETED  # the phase says how: completed, cancelled, failed
        found[execution.id] = {
            "id": execution.id,
            "run_id": execution.run_id,
            "phase": (attributes.get(visibility.PHASE) or "ended")
            if completed
            else (execution.status.name.lower() if execution.status else "ended"),
            "outgoing": attributes.get(visibility.OUTGOING) or "",
            "incoming": attributes.get(visibility.INCOMING) or "",
            "variant": attributes.get(visibility.VARIANT) or "",
            "started_at": execution.start_time,
            "ended_at": execution.close_time,
        }
    return list(found.values())[:limit]


async def latest_runs(client: Client, workflow_ids: list[str]) -> dict[str, str]:
    """The run id each handover id names now (its newest run), in one visibility query."""
    ids = sorted({workflow_id for workflow_id in workflow_ids if _SAFE_VALUE.fullmatch(workflow_id)})
    if not ids:
        return {}
    query = " OR ".join(workflow_id_clause(workflow_id) for workflow_id in ids)
    newest: dict[str, Any] = {}
    async for execution in client.list_workflows(f'WorkflowType = "{WORKFLOW}" AND ({query})'):
        known = newest.get(execution.id)
        if known is None or execution.start_time > known.start_time:
            newest[execution.id] = execution
    return {workflow_id: execution.run_id for workflow_id, execution in newest.items()}


RELOOK = (0.25, 0.5, 0.75)
"""Seconds between looks for an event's handover when `patient` (1.5 s in all: Slack wants its
answer within 3)."""


async def relay(
    client: Client, signal: str, event: Any, where: dict[SearchAttributeKey, str], patient: bool = False
) -> int:
    """An event from Slack or PagerDuty, as a signal to the running handovers it concerns (found by
    their search attributes). Signals are kept by the server: nothing is lost while no worker is
    up. Raises RPCError quickly when Temporal does not answer, so the sender retries later.

    `patient`: when no handover is found, look again a few times (RELOOK): a :+1: given the moment
    the summary is posted can come before Temporal's visibility has its search attribute."""
    loop = asyncio.get_running_loop()
    done_by = loop.time() + sum(RELOOK) + 0.25  # (the looks themselves take a moment)
    found = await running(client, where=where, timeout=EVENT_TIMEOUT)
    for pause in RELOOK if patient and not found else ():
        if loop.time() + pause > done_by:  # (a slow Temporal: Slack's answer comes first)
            break
        await asyncio.sleep(pause)
        found = await running(client, where=where, timeout=EVENT_TIMEOUT)
        if found:
            break
    sent = 0
    for handover in found:
        try:
            await client.get_workflow_handle(handover["id"]).signal(signal, event, rpc_timeout=EVENT_TIMEOUT)
            sent += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # (it ended meanwhile)
                raise
    return sent


async def crossed(client: Client, request: HandoverRequest) -> str | None:
    """Why this handover cannot start while another runs, or None. One handover per outgoing admin;
    an admin who is receiving a handover cannot hand over, and one who is handing over cannot
    receive (incidents would be handed to someone leaving, or move both ways at once)."""
    try:
        live = await running(client)
    except RPCError as error:
        if error.status == RPCStatusCode.UNIMPLEMENTED:  # a server without visibility (the test server)
            return None
        raise
    # The outgoing admin's own handover first: it is the likelier reason, and the plainer one.
    for handover in sorted(live, key=lambda each: each["outgoing"] != request.outgoing):
        why = _in_the_way(handover, request)
        if why is not None and await _still_running(client, handover):
            return why
    return None


def _in_the_way(handover: dict, request: HandoverRequest) -> str | None:
    if handover["outgoing"] == request.outgoing:
        return (
            f"a handover for {request.outgoing} is running already: {handover['id']}; "
            "finish or cancel it before starting another"
        )
    if handover["incoming"] == request.outgoing:
        return (
            f"{request.outgoing} is receiving a handover from {handover['outgoing']} "
            f"({handover['id']}); let it finish or cancel it before {request.outgoing} hands over"
        )
    if handover["outgoing"] == request.incoming:
        return (
            f"{request.incoming} is handing over their own on-call ({handover['id']}); "
            "hand over to an admin who stays on call, or wait for that handover to finish"
        )
    return None


async def _still_running(client: Client, handover: dict) -> bool:
    """Visibility lags a handover's end by a moment: one in the way of a start is asked itself (a
    describe reads its history) before the start is refused."""
    try:
        described = await client.get_workflow_handle(handover["id"], run_id=handover["run_id"]).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status == Status.RUNNING


async def start_plan(
    client: Client, task_queue: str, request: HandoverRequest, plan_id: str | None = None
) -> WorkflowHandle[Any, HandoverPlan]:
    """A plan's workflow, started (each plan has an id of its own: plans never clash)."""
    return await client.start_workflow(
        "PlanWorkflow",
        request,
        id=plan_id or f"plan-{request.outgoing}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=HandoverPlan,
        execution_timeout=timedelta(minutes=2),
    )


async def plan(client: Client, task_queue: str, request: HandoverRequest) -> HandoverPlan:
    """What a handover would move, read by a worker (where the API tokens are); changes nothing."""
    try:
        return await (await start_plan(client, task_queue, request)).result()
    except WorkflowFailureError as error:
        raise (from_failure(error) or HandoverError(f"the plan failed: {_cause(error)}")) from None


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error)


async def progress(client: Client, workflow_id: str) -> HandoverProgress:
    """Live progress of a running handover, or the report of a finished one."""
    handle = client.get_workflow_handle(workflow_id, result_type=HandoverReport)
    description = await _describe(handle)
    if description.status == Status.COMPLETED:
        return await handle.result()
    if description.status == Status.RUNNING:
        try:
            return await handle.query("progress", result_type=HandoverProgress, rpc_timeout=QUERY_WITHIN)
        except RPCError as error:
            if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
        # No answer in time: either no worker polls, or the handover closed while it was asked
        # (step 0 failing as the query came): a closed one is told as closed, not as no worker.
        description = await _describe(handle)
        if description.status == Status.COMPLETED:
            return await handle.result()
        if description.status == Status.RUNNING:
            raise NoWorker(
                f"no worker answered for {workflow_id} within {QUERY_WITHIN.seconds} s: "
                "is the worker running? Inputs are still kept and checked when one is back."
            )
    state = description.status.name.lower() if description.status else "closed"
    if description.status == Status.TERMINATED:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            reason = event.workflow_execution_terminated_event_attributes.reason
            raise AlreadyDone(f"handover {workflow_id} ended (terminated): {reason or 'no reason given'}")
    try:
        await handle.result()
    except WorkflowFailureError as error:
        known = from_failure(error)
        if known is not None:
            raise known from None  # e.g. step 0 refused an admin: the requester hears why
        raise AlreadyDone(f"handover {workflow_id} ended ({state}): {_cause(error)}") from None
    raise AlreadyDone(f"handover {workflow_id} ended ({state})")


async def wait_until_validated(client: Client, workflow_id: str, timeout: float = 60) -> HandoverProgress:
    """After a start: both admins resolved (or the reason they were not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await progress(client, workflow_id)  # raises step 0's refusal once it has failed
        # (A running handover that says failed is closing: failing at step 0, or winding down.)
        closing = current.phase is Phase.FAILED and not isinstance(current, HandoverReport)
        if (current.phase is not Phase.VALIDATING and not closing) or loop.time() > deadline:
            return current
        await asyncio.sleep(0.5)


async def refused_at_step_0(client: Client, workflow_id: str, within: timedelta) -> HandoverError | None:
    """After a start: why step 0 refused the handover, if it did within `within`; None once both
    admins and Slack are validated, or while step 0 still runs when the time is up (no worker yet)."""
    handle = client.get_workflow_handle(workflow_id, result_type=HandoverReport)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within.total_seconds()
    while True:
        description = await _describe(handle)
        if description.status == Status.FAILED:  # after step 0 a handover ends with a report instead
            try:
                await handle.result()
            except WorkflowFailureError as error:
                return from_failure(error) or HandoverError(f"step 0 refused the handover: {_cause(error)}")
        remaining = deadline - loop.time()
        if description.status != Status.RUNNING or remaining <= 0:
            return None
        try:
            current = await handle.query(
                "progress", result_type=HandoverProgress, rpc_timeout=timedelta(seconds=remaining)
            )
        except RPCError as error:
            if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            return None  # no worker answered in time: the handover is kept, and validated once one is up
        if current.phase not in (Phase.VALIDATING, Phase.FAILED):  # (failed: it is closing)
            return None
        await asyncio.sleep(min(0.1, max(remaining, 0)))


async def report(client: Client, workflow_id: str, wait: bool) -> HandoverReport:
    current = await progress(client, workflow_id)
    if isinstance(current, HandoverReport):
        return current
    if not wait:
        raise NotReady(
            f"handover {workflow_id} is still running ({current.phase.value}); see `status`, or pass --wait"
        )
    handle = client.get_workflow_handle(workflow_id, result_type=HandoverReport)
    try:
        return await handle.result()
    except WorkflowFailureError as error:
        raise (from_failure(error) or HandoverError(f"handover {workflow_id} failed")) from None


async def _describe(handle: WorkflowHandle) -> WorkflowExecutionDescription:
    try:
        return await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UnknownHandover(f"no handover {handle.id}") from None
        raise


async def _ensure_running(client: Client, handle: WorkflowHandle) -> None:
    """Raise the error a person should see for a handover that cannot take input."""
    description = await _describe(handle)
    if description.status != Status.RUNNING:
        state = description.status.name.lower() if description.status else "closed"
        if description.status == Status.COMPLETED:  # completed, cancelled, or failed after step 0
            report = await client.get_workflow_handle(handle.id, result_type=HandoverReport).result()
            state = report.phase.value
        raise AlreadyDone(f"handover {handle.id} has ended ({state}); it takes no more input")


async def _taken_within(
    asking: Awaitable[WorkflowUpdateHandle[InputAccepted]], within: timedelta
) -> WorkflowUpdateHandle[InputAccepted]:
    """The Update once a worker has taken it, or WorkflowUpdateRPCTimeoutOrCancelledError once
    `within` has passed in all. The SDK asks again, with the whole `rpc_timeout` each time, while
    the server answers that the Update is only admitted (no worker has taken it): a wait of 1.7 s
    took 3.5, past Slack's 3 seconds (tests/endpoint/test_slack_inputs.py). One taken as the wait
    ends is still taken."""
    task = asyncio.ensure_future(asking)
    try:
        await asyncio.wait({task}, timeout=within.total_seconds())
    finally:
        task.cancel()  # (nothing once it is done; and not left asking if this wait is cancelled)
    await asyncio.wait({task})
    if task.cancelled():
        raise WorkflowUpdateRPCTimeoutOrCancelledError()
    return task.result()


async def send(
    client: Client,
    workflow_id: str,
    declared: Declared[Any] | InputKind,
    given: HumanInput,
    answer_within: timedelta = ANSWER_WITHIN,
    before_signal: Callable[[], Awaitable[None]] | None = None,
) -> InputAccepted | None:
    """A declared human input (handover/inputs.py; a kind stands for its declaration) as its
    Update; if no worker answers in time, as its Signal twin (None), once `before_signal()` has
    not raised."""
    if isinstance(declared, InputKind):
        declared = inputs.BY_KIND[declared]
    if not isinstance(given, declared.model):
        raise InvalidInput(f"{declared.name} takes a {declared.model.__name__}, not a {type(given).__name__}")
    handle = client.get_workflow_handle(workflow_id)
    try:
        # Taken (accepted or refused by the handover) within the wait; then its answer, which the
        # same workflow task gives (the inputs' handlers do not wait).
        asking = handle.start_update(
            declared.name,
            given,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=InputAccepted,
            rpc_timeout=answer_within,
        )
        taken = await _taken_within(asking, answer_within)
        return await taken.result(rpc_timeout=answer_within)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        pass  # no worker answered: fall through to the signal
    except WorkflowUpdateFailedError as error:
        raise (from_failure(error) or HandoverError(f"the input was refused: {error.cause}")) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND or error.status == RPCStatusCode.FAILED_PRECONDITION:
            await _ensure_running(client, handle)
        if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise
    # No worker answered: the signal is stored by the server and validated when one is back.
    if before_signal is not None:
        await before_signal()
    await handle.signal(declared.name, given)
    return None
