"""Activities: one module per external system, each a class that holds its client.

Tokens come from `Settings` into these classes and never become activity arguments, so they
never reach workflow history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handover.settings import Settings


def all_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to clients built from `settings`."""
    from activities.pagerduty import PagerDutyActivities
    from activities.platform import PlatformActivities
    from activities.slack import SlackActivities

    pagerduty = PagerDutyActivities(settings)
    slack = SlackActivities(settings)
    platform = PlatformActivities(settings)
    return [
        pagerduty.find_pagerduty_user,
        pagerduty.find_service_identity,
        pagerduty.get_incident,
        pagerduty.wait_until_resolved,
        pagerduty.check_on_call,
        pagerduty.freeze_assignments,
        pagerduty.list_open_incidents,
        pagerduty.hand_over_incidents,
        pagerduty.acknowledge_incidents,
        pagerduty.incident_history,
        slack.check_slack_access,
        slack.find_slack_user,
        slack.post_summary,
        slack.post_message,
        slack.wait_for_thumbs_up,
        slack.recent_channel,
        platform.get_platform_admin,
        platform.list_pinned_tickets,
        platform.end_sessions,
        platform.hand_over_tickets,
        platform.ticket_comments,
        platform.list_rollouts_in_flight,
        platform.annotate_rollouts,
        platform.transfer_rollout_ownership,
        platform.audit_impersonation,
    ]
