"""The handover the tests ask for: alice hands over to bob (tests/humans.py's OUTGOING and INCOMING)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handover.models import HandoverRequest, Variant
from tests.humans import INCOMING, OUTGOING


def alice_to_bob(requested_by: str = "tests", **changes: Any) -> HandoverRequest:
    """Alice hands over to Bob; `changes` are the request's other fields."""
    return HandoverRequest(outgoing=OUTGOING, incoming=INCOMING, requested_by=requested_by, **changes)


def emergency(reason: str, requested_by: str = "tests", **changes: Any) -> HandoverRequest:
    """Alice, incapacitated or compromised (`reason`), hands over to Bob at once."""
    return alice_to_bob(requested_by, variant=Variant.EMERGENCY, reason=reason, **changes)


def mid_shift(
    senior: str, major_incident: str, mitigation_poll: timedelta, requested_by: str = "tests"
) -> HandoverRequest:
    """Alice hands over to Bob once `major_incident` is mitigated; `senior` leads the outage."""
    return alice_to_bob(
        requested_by,
        variant=Variant.MID_SHIFT,
        senior=senior,
        major_incident=major_incident,
        mitigation_poll=mitigation_poll,
    )
