"""The logs: every line from the workflow and its activities says which handover, run, step and
item it is about; no secret and no status paragraph is ever written."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from handover import logs
from handover.models import Phase
from handover.settings import Settings
from tests.humans import planned_handover, status_for

CONTEXT = ("workflow_id", "run_id", "handover_id", "step", "item")


@pytest.fixture
def captured(settings: Settings):
    """The process's log lines, as JSON, configured the way the worker configures them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    logs.configure(level="DEBUG", json=True, stream=stream)  # DEBUG: a line per item too
    logs.hide(settings)
    yield stream
    root.handlers[:], root.level = handlers, level
    logs._secrets.clear()
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_every_workflow_and_activity_line_carries_its_context(
    time_skipping, fresh_sandbox, captured, settings
):
    env, task_queue = time_skipping
    report = await planned_handover(env.client, task_queue)
    assert report.phase is Phase.COMPLETED
    workflow_id = report.handover_id

    ours = [
        line
        for line in lines(captured)
        if line["logger"] in ("temporalio.workflow", "temporalio.activity")
        and line.get("workflow_id") == workflow_id
    ]
    from_workflow = [line for line in ours if line["logger"] == "temporalio.workflow"]
    from_activities = [line for line in ours if line["logger"] == "temporalio.activity"]
    assert from_workflow and from_activities
    for line in ours:
        missing = [key for key in CONTEXT if key not in line]
        assert not missing, f"{line['event']!r} lacks {missing}"
        assert line["run_id"] == report.run_id
        assert line["handover_id"] == f"{workflow_id}#{report.run_id[:8]}"
        assert line["step"], line
    assert {"now handing over", "now completed"} <= {line["event"] for line in from_workflow}
    assert {"handing_over", "completed"} <= {line["step"] for line in from_workflow}
    accepted = [line for line in from_workflow if line["event"] == "accepted submit_status"]
    assert {line["item"] for line in accepted} == {item.incident.id for item in report.incidents}
    batches = [line for line in from_activities if line["event"].startswith("batch done: ")]
    assert {line["step"] for line in batches} >= {"hand_over_incidents", "hand_over_tickets"}
    done = [line for line in from_activities if line["event"].startswith("done")]
    assert {line["step"] for line in done} >= {"hand_over_incidents", "hand_over_tickets"}
    items = {line["item"] for line in done}
    assert {item.incident.id for item in report.incidents} <= items
    assert {item.ticket.id for item in report.tickets} <= items

    text = captured.getvalue()
    for secret in settings.secret_values():
        assert secret not in text
    for incident in report.incidents:  # what people type stays in the handover, not in the logs
        assert status_for(incident.incident.id).hypothesis not in text


def test_a_secret_is_hidden_wherever_it_would_appear(captured, settings):
    token = settings.pagerduty_api_token.get_secret_value()
    log = logging.getLogger("activities.pagerduty")
    log.warning("calling with %s", token)
    try:
        raise RuntimeError(f"401 for token {token}")
    except RuntimeError:
        log.exception("request failed")
    structlog.get_logger("worker").info("started", token=token)
    text = captured.getvalue()
    assert token not in text
    assert text.count("[secret]") >= 3
    assert "RuntimeError: 401 for token [secret]" in text
