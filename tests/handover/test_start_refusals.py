"""A start is refused while another handover of the same admin runs, and only then: Temporal's
visibility lists a handover as running for a moment after it ended, and a person who cancels and
starts again at once must not be told it is still running (handover/service.py, `crossed`)."""

from __future__ import annotations

import pytest

from handover import service
from handover.errors import AlreadyRunning
from handover.models import CancelInput, HandoverRequest, InputKind
from tests.humans import INCOMING, OUTGOING, inventory

CAROL = "carol@novalien.com"


async def test_a_handover_ended_a_moment_ago_is_not_in_the_way_of_the_next(
    dev_server, fresh_sandbox, monkeypatch
):
    client, task_queue = dev_server
    first = HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by="tests")
    handle = await service.start(client, task_queue, first)
    await inventory(client, handle.id)
    listed_while_running = await service.running(client)
    assert [h["id"] for h in listed_while_running] == [handle.id]
    with pytest.raises(AlreadyRunning, match="running already"):
        await service.start(client, task_queue, first.model_copy(update={"incoming": CAROL}))

    await service.send(
        client, handle.id, InputKind.CANCEL, CancelInput(actor=OUTGOING, reason="wrong incoming")
    )
    await handle.result()

    async def lagging(*args, **kwargs) -> list[dict]:  # visibility, a moment behind
        return listed_while_running

    monkeypatch.setattr(service, "running", lagging)
    again = await service.start(client, task_queue, first.model_copy(update={"incoming": CAROL}))
    assert again.id == handle.id and again.result_run_id != handle.result_run_id
    await service.send(client, again.id, InputKind.CANCEL, CancelInput(actor=OUTGOING, reason="tests: done"))
    await again.result()
