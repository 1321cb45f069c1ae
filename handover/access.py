"""Who may read a handover: its people (both admins, the senior, whoever requested it) and the
deployment's observers (HANDOVER_OBSERVERS). Everyone else is told there is no such handover, as
for an unknown id: whether Alice is handing over is not Dave's to know.

Who a handover's people are is read from the request its run started with (the run's first history
event), so no worker is needed and a handover that failed at step 0 is protected like any other. A
run's people never change: they are kept, per run, for the life of the process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection

import structlog
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from handover.decisions import readers
from handover.errors import UnknownHandover
from handover.models import HandoverRequest
from handover.service import workflow_id_clause

log = structlog.get_logger("handover.access")

RUNS_LOOKED_AT = 100
"""The codec: the most runs of one handover id it looks at; with more, only the outgoing admin the
id names (in every run by construction) and observers decode its payloads."""
DECODERS_KEPT_FOR = 10.0
"""Seconds who may decode a handover id's payloads is remembered (the UI decodes in bursts; a new
run under the id counts within seconds)."""


class Access:
    """The readers of handover runs, looked up once per run."""

    def __init__(self, observers: Collection[str], size: int = 10_000) -> None:
        self.observers = frozenset(observers)
        self._readers: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        self._decoders: OrderedDict[str, tuple[frozenset[str], float]] = OrderedDict()
        self._size = size

    def is_observer(self, actor: str) -> bool:
        return actor in self.observers

    async def check_readable(self, client: Client, workflow_id: str, actor: str) -> None:
        """Raise UnknownHandover, with the words an unknown id gets, unless `actor` may read the
        handover's latest run (the one its id names)."""
        try:
            run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise UnknownHandover(f"no handover {workflow_id}") from None
            raise
        if not await self.may_read_run(client, workflow_id, run_id, actor):
            raise UnknownHandover(f"no handover {workflow_id}")

    async def may_read_run(self, client: Client, workflow_id: str, run_id: str, actor: str) -> bool:
        return self.is_observer(actor) or actor in await self._run_readers(client, workflow_id, run_id)

    async def may_decode(self, client: Client, workflow_id: str | None, actor: str) -> bool:
        """The codec: payloads bound to a handover id are decrypted for those who may read every
        run under that id, and for observers; payloads bound to none, for observers only.

        Every run, not any: a payload says its handover id, not its run, and each of an outgoing
        admin's handovers has the same id. Were a reader of any run enough, whoever starts a new
        run (any service token, even one step 0 refuses) could name an incoming who would then
        decode every earlier handover under the id. So Bob, incoming last week, decodes last week's
        payloads only while no other run exists under the id; the console still shows him his."""
        if self.is_observer(actor):
            return True
        if not workflow_id or not workflow_id.startswith("handover-"):
            return False  # bound to no handover, or to an id no handover of ours has
        try:  # the binding is the caller's to write: a quote or a backslash must not change the query
            runs_query = workflow_id_clause(workflow_id)
        except ValueError:
            return False
        return actor in await self._decoders_of(client, workflow_id, runs_query)

    async def _decoders_of(self, client: Client, workflow_id: str, runs_query: str) -> frozenset[str]:
        kept = self._decoders.get(workflow_id)
        if kept is not None and time.monotonic() - kept[1] <= DECODERS_KEPT_FOR:
            return kept[0]
        runs = [
            execution.run_id
            async for execution in client.list_workflows(runs_query, limit=RUNS_LOOKED_AT + 1)
        ]
        if len(runs) > RUNS_LOOKED_AT:
            decoders = frozenset({workflow_id.removeprefix("handover-")})
        else:
            decoders = frozenset()
            for index, run_id in enumerate(runs):
                readers = await self._run_readers(client, workflow_id, run_id)
                decoders = readers if index == 0 else decoders & readers
        self._decoders[workflow_id] = (decoders, time.monotonic())
        self._decoders.move_to_end(workflow_id)
        if len(self._decoders) > self._size:
            self._decoders.popitem(last=False)
        return decoders

    async def _run_readers(self, client: Client, workflow_id: str, run_id: str) -> frozenset[str]:
        key = (workflow_id, run_id)
        if key not in self._readers:
            request = await started_with(client, workflow_id, run_id)
            self._readers[key] = frozenset(readers(request)) if request is not None else frozenset()
            if len(self._readers) > self._size:
                self._readers.popitem(last=False)
        return self._readers[key]


async def started_with(client: Client, workflow_id: str, run_id: str) -> HandoverRequest | None:
    """The request a run started with: its first event's input (None if it has none we can read:
    then nobody but observers reads the run)."""
    try:
        history = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                maximum_page_size=1,
            )
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None  # listed by visibility, its history gone (past retention)
    if not history.history.events:
        return None
    started = history.history.events[0].workflow_execution_started_event_attributes
    if not started.input.payloads:
        return None
    try:
        [request] = await client.data_converter.decode(started.input.payloads, [HandoverRequest])
    except Exception as error:  # noqa: BLE001 — not a handover's input: nobody's to read but observers
        log.warning(
            "a run's request cannot be read: only observers may read it",
            workflow_id=workflow_id,
            run_id=run_id,
            error=str(error)[:300],
        )
        return None
    return request
