"""Who hands over to whom, and when, in the pure tests of tests/handover/: Alice to Bob."""

from datetime import UTC, datetime
from typing import Any

from handover.models import Admin, HandoverRequest, Incident, Ticket, TicketState

NOW = datetime(2026, 11, 28, 15, 4, tzinfo=UTC)
ALICE = Admin(email="alice@novalien.com", name="Alice Moreau", pagerduty_id="PA", slack_id="UA")
BOB = Admin(email="bob@novalien.com", name="Bob Okafor", pagerduty_id="PB", slack_id="UB")
INCIDENT = Incident(
    id="Q1", number=4211, title="Disk pressure", status="triggered", urgency="high",
    service_id="P", service_name="s", html_url="https://pd/Q1", created_at=NOW,
)  # fmt: skip
"""An open incident of Alice's, created NOW."""


def request(**changes: Any) -> HandoverRequest:
    """Alice's handover to Bob; `changes` are the request's other fields."""
    return HandoverRequest(outgoing=ALICE.email, incoming=BOB.email, requested_by="t", **changes)


def ticket(state: TicketState, ticket_id: str = "T-1", **changes: Any) -> Ticket:
    """A pinned ticket of Alice's in this state; `changes` are its other fields."""
    fields = {"subject": "s", "customer": "c", "assignee": ALICE.email, "pinned": True, **changes}
    return Ticket(id=ticket_id, state=state, **fields)
