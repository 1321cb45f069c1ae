"""The Markdown report (`starter.py report`): how it says the handover ended."""

from datetime import timedelta

import pytest

from handover.models import Cancellation, HandoverReport, Phase
from handover.report import to_markdown
from tests.handover.test_messages import ALICE, NOW, progress


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.CANCELLED, Phase.FAILED])
def test_the_report_says_how_the_handover_ended(phase):
    p = progress()
    p.phase = phase
    if phase is Phase.CANCELLED:
        p.cancelled = Cancellation(by=ALICE.email, at=NOW, reason="wrong incoming")
    if phase is Phase.FAILED:
        p.error = "PagerDuty refused the override"
    report = HandoverReport(**p.model_dump(), completed_at=NOW + timedelta(minutes=5))
    started = next(line for line in to_markdown(report).splitlines() if line.startswith("- Started"))
    assert started == f"- Started 2026-11-28 15:04 UTC, {phase.value} at 2026-11-28 15:09 UTC"
