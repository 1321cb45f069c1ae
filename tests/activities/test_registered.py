"""The worker registers every activity the workflows call: `all_activities` finds them by their
`@activity.defn`, and each one a workflow names is among them."""

import re
from pathlib import Path

from activities import all_activities
from handover.settings import Settings

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_every_activity_a_workflow_calls_is_registered():
    registered = {fn.__name__ for fn in all_activities(Settings())}
    called = {
        name
        for path in WORKFLOWS.glob("*.py")
        for name in re.findall(r"(?:PagerDuty|Slack|Platform)Activities\.(\w+)", path.read_text())
    }
    assert called, "the workflows name their activities by method reference"
    assert called <= registered, sorted(called - registered)
    assert len(registered) == len(all_activities(Settings())), "no activity twice"
