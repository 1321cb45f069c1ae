"""Custom search attributes: how handovers are found in the Temporal UI and by `starter.py`.

Registered by `make run` (`temporal server start-dev --search-attribute ...`) and by the test
fixtures; on a real cluster, register them once with `temporal operator search-attribute create`.
"""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

PHASE = SearchAttributeKey.for_keyword("HandoverPhase")
OUTGOING = SearchAttributeKey.for_keyword("HandoverOutgoing")
INCOMING = SearchAttributeKey.for_keyword("HandoverIncoming")
VARIANT = SearchAttributeKey.for_keyword("HandoverVariant")
INCOMING_PAGERDUTY = SearchAttributeKey.for_keyword("HandoverIncomingPagerDuty")
"""Incoming's PagerDuty user id: the endpoint relays only incoming's acknowledgements."""
SUMMARY_TS = SearchAttributeKey.for_keyword("HandoverSummaryTs")
"""The summary's Slack ts: the endpoint relays a :+1: only to the handover whose summary it is."""

WAITING_ON = SearchAttributeKey.for_keyword_list("HandoverWaitingOn")
"""Who owes an input now (emails): `starter.py list --waiting-on EMAIL`. Set by handovers started
after the `waiting-on` patch (see workflows/handover.py)."""

ALL = [PHASE, OUTGOING, INCOMING, VARIANT, INCOMING_PAGERDUTY, SUMMARY_TS, WAITING_ON]


async def missing(client: Client) -> list[str]:
    """The project's search attributes the namespace does not have. A handover that sets one that is
    not registered fails its workflow task, so the worker refuses to start without them."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    have = set(listed.custom_attributes) | set(listed.system_attributes)
    return [key.name for key in ALL if key.name not in have]


def type_name(key: SearchAttributeKey) -> str:
    """The type as the `temporal` CLI names it."""
    listed = key.indexed_value_type is SearchAttributeIndexedValueType.KEYWORD_LIST
    return "KeywordList" if listed else "Keyword"


def register_commands(names: list[str], namespace: str | None = None) -> str:
    """The commands that register `names` (for a person to run on their cluster)."""
    types = {key.name: type_name(key) for key in ALL}
    create = "temporal operator search-attribute create" + (f" --namespace {namespace}" if namespace else "")
    return "; ".join(f"{create} --name {name} --type {types[name]}" for name in names)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register every attribute."""
    return [flag for key in ALL for flag in ("--search-attribute", f"{key.name}={type_name(key)}")]


async def register(client: Client) -> None:
    """Registers every attribute on the test server (which has no flags for it)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in ALL
            },
        )
    )


def names() -> list[str]:
    return [key.name for key in ALL]
