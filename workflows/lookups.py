"""Read-only steps both workflows take: resolve the admins (step 0) and list what outgoing owns.

Deterministic workflow code: activity calls only. Used by `HandoverWorkflow` and `PlanWorkflow`,
so that a plan shows exactly what a handover would find.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import PagerDutyActivities
    from activities.platform import PinnedTickets, PlatformActivities
    from activities.slack import SlackActivities
    from handover.errors import NotAllowed, NotSetUp, UnknownAdmin, UnknownItem
    from handover.models import ITEM_KINDS, Admin, Incident, ItemKind

LOOKUP = dict(
    start_to_close_timeout=timedelta(minutes=2),
    # Activities heartbeat before every request (each at most HANDOVER_HTTP_TIMEOUT): a worker
    # killed mid-call is noticed in 20 s and the call runs again on another.
    heartbeat_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
SLACK_CHECKS_PATCH = "slack-checks-at-step-0"
"""`workflow.patched` id: handovers and plans started before step 0 checked the bot's Slack access
and refused an admin Slack does not know replay without either."""


class Inventory:
    """What the listings returned, by kind (ITEM_KINDS' fields): for pinned tickets, the tickets
    with outgoing's open impersonation sessions; for the rest, a list of what was listed. (A plain
    class, as HandoverState is: a dataclass's methods would be written again for each handover.)"""

    def __init__(self, listed: dict[str, Any]) -> None:
        self.listed = listed

    @property
    def pinned(self) -> PinnedTickets:
        return self.listed["tickets"]


LISTED_BY = (PagerDutyActivities, PlatformActivities)
"""Where the kinds' listing activities are (`ItemKind.listing` names a method of one of them)."""


def listing(kind: ItemKind) -> Any:
    """The activity method that lists outgoing's items of this kind."""
    for activities in LISTED_BY:
        method = getattr(activities, kind.listing, None)
        if hasattr(method, "__temporal_activity_definition"):
            return method
    names = " or ".join(activities.__name__ for activities in LISTED_BY)
    raise LookupError(f"ITEM_KINDS: {kind.field} are listed by {kind.listing!r}, not an activity of {names}")


async def resolve_admin(email: str) -> Admin:
    """Step 0: the admin in PagerDuty, the platform and Slack; an active platform admin."""
    pagerduty_user, platform_admin, slack_id = await asyncio.gather(
        workflow.execute_activity_method(PagerDutyActivities.find_pagerduty_user, email, **LOOKUP),
        workflow.execute_activity_method(PlatformActivities.get_platform_admin, email, **LOOKUP),
        workflow.execute_activity_method(SlackActivities.find_slack_user, email, **LOOKUP),
    )
    if pagerduty_user is None:
        raise UnknownAdmin(f"{email} is not a PagerDuty user; check the address")
    if platform_admin is None or not platform_admin.platform_admin or not platform_admin.active:
        raise NotAllowed(f"{email} is not an active platform admin; only platform admins hand over on-call")
    if slack_id is None and workflow.patched(SLACK_CHECKS_PATCH):
        # A plain-text name in the summary notifies nobody, and their :+1: could not be told apart.
        raise UnknownAdmin(
            f"{email} has no Slack account in this workspace (Slack's users.lookupByEmail found "
            "nobody): check the address, or add them to Slack"
        )
    return Admin(email=email, name=pagerduty_user.name, pagerduty_id=pagerduty_user.id, slack_id=slack_id)


async def resolve_admins(outgoing: str, incoming: str) -> tuple[Admin, Admin, str | None]:
    """Step 0: both admins; and, before anything is written, that the Slack bot can do its part
    (token, scopes, a member of the live channel), or why not (NotSetUp). With the channel's name
    (`#kestrel-oncall`), when the Slack check ran."""
    lookups = [resolve_admin(outgoing), resolve_admin(incoming)]
    if workflow.patched(SLACK_CHECKS_PATCH):
        lookups.insert(0, workflow.execute_activity_method(SlackActivities.check_slack_access, **LOOKUP))
    try:
        *access, outgoing_admin, incoming_admin = await asyncio.gather(*lookups)
    except ActivityError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == NotSetUp.__name__:
            raise NotSetUp(cause.message) from None  # the handover's failure, as UnknownAdmin is
        raise
    channel = f"#{access[0].channel_name}" if access else None
    return outgoing_admin, incoming_admin, channel


async def service_identity() -> str:
    """The email the service writes as when the outgoing admin is compromised."""
    user = await workflow.execute_activity_method(PagerDutyActivities.find_service_identity, **LOOKUP)
    return user.email


async def major_incident(incident_id: str) -> Incident:
    incident = await workflow.execute_activity_method(PagerDutyActivities.get_incident, incident_id, **LOOKUP)
    if incident is None:
        raise UnknownItem(f"major incident {incident_id} is not in PagerDuty; check the id")
    return incident


async def take_inventory(outgoing: Admin) -> Inventory:
    """Steps 2-4, the listing part: what outgoing owns of every kind (ITEM_KINDS), listed side by
    side: open incidents, pinned tickets with sessions, rollouts in flight. A kind added while
    handovers run is listed only by those that reach its patch."""
    kinds = [kind for kind in ITEM_KINDS if kind.patch is None or workflow.patched(kind.patch)]
    found = await asyncio.gather(
        *(
            workflow.execute_activity_method(listing(kind), getattr(outgoing, kind.listed_by), **LOOKUP)
            for kind in kinds
        )
    )
    return Inventory(dict(zip((kind.field for kind in kinds), found, strict=True)))
