"""Custom search attributes: how handovers are found in the Temporal UI and by `starter.py`.

Registered by `make run` (`temporal server start-dev --search-attribute ...`) and by the test
fixtures; on a real cluster, register them once with `temporal operator search-attribute create`.
"""

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

PHASE = SearchAttributeKey.for_keyword("HandoverPhase")
OUTGOING = SearchAttributeKey.for_keyword("HandoverOutgoing")
INCOMING = SearchAttributeKey.for_keyword("HandoverIncoming")
VARIANT = SearchAttributeKey.for_keyword("HandoverVariant")
INCOMING_PAGERDUTY = SearchAttributeKey.for_keyword("HandoverIncomingPagerDuty")
"""Incoming's PagerDuty user id: the endpoint relays only incoming's acknowledgements."""
SUMMARY_TS = SearchAttributeKey.for_keyword("HandoverSummaryTs")
"""The summary's Slack ts: the endpoint relays a :+1: only to the handover whose summary it is."""

ALL = [PHASE, OUTGOING, INCOMING, VARIANT, INCOMING_PAGERDUTY, SUMMARY_TS]


async def missing(client: Client) -> list[str]:
    """The project's search attributes the namespace does not have. A handover that sets one that is
    not registered fails its workflow task, so the worker refuses to start without them."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    have = set(listed.custom_attributes) | set(listed.system_attributes)
    return [key.name for key in ALL if key.name not in have]


def register_commands(names: list[str]) -> str:
    """The commands that register `names` (for a person to run on their cluster)."""
    create = "temporal operator search-attribute create --type Keyword --name"
    return "; ".join(f"{create} {name}" for name in names)


def names() -> list[str]:
    return [key.name for key in ALL]
