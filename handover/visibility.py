"""Custom search attributes: how handovers are found in the Temporal UI and by `starter.py`.

Registered by `make run` (`temporal server start-dev --search-attribute ...`) and by the test
fixtures; on a real cluster, register them once with `temporal operator search-attribute create`.
"""

from temporalio.common import SearchAttributeKey

PHASE = SearchAttributeKey.for_keyword("HandoverPhase")
OUTGOING = SearchAttributeKey.for_keyword("HandoverOutgoing")
INCOMING = SearchAttributeKey.for_keyword("HandoverIncoming")
VARIANT = SearchAttributeKey.for_keyword("HandoverVariant")

ALL = [PHASE, OUTGOING, INCOMING, VARIANT]
