"""`service.progress` when its query times out: a handover that closed meanwhile is told as closed.

Temporal's client is outside the unit: a handle that answers as the server does when a workflow
fails at step 0 while it is being queried (describe says running, the query finds no answer in time,
describe then says failed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from temporalio.client import WorkflowExecutionStatus as Status
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from handover import service
from handover.errors import NotAllowed, NoWorker


@dataclass
class Described:
    status: Status


@dataclass
class ClosingHandle:
    """Running at the first describe; `then` at every later one. The query never answers."""

    then: Status
    id: str = "handover-ana@example.org"
    described: int = 0
    queried: list[str] = field(default_factory=list)

    async def describe(self) -> Described:
        self.described += 1
        return Described(Status.RUNNING if self.described == 1 else self.then)

    async def query(self, name, **_) -> None:
        self.queried.append(name)
        raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")

    async def result(self):
        refusal = ApplicationError("ana@example.org is not an active platform admin", type="NotAllowed")
        raise WorkflowFailureError(cause=refusal)


@dataclass
class Client:
    handle: ClosingHandle

    def get_workflow_handle(self, workflow_id, **_) -> ClosingHandle:
        assert workflow_id == self.handle.id
        return self.handle


async def test_a_handover_that_failed_while_queried_gives_its_refusal_not_no_worker():
    handle = ClosingHandle(then=Status.FAILED)
    with pytest.raises(NotAllowed, match="not an active platform admin"):
        await service.progress(Client(handle), handle.id)
    assert handle.queried == ["progress"]


async def test_a_handover_still_running_without_an_answer_says_no_worker():
    handle = ClosingHandle(then=Status.RUNNING)
    with pytest.raises(NoWorker, match="is the worker running"):
        await service.progress(Client(handle), handle.id)
