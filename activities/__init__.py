"""Activities: one module per external system, each a class that holds its client.

Tokens come from `Settings` into these classes and never become activity arguments, so they
never reach workflow history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handover.settings import Settings


def all_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity the worker registers (each `@activity.defn` method of the classes),
    bound to clients built from `settings`."""
    from activities.autopilot import AutopilotActivities
    from activities.pagerduty import PagerDutyActivities
    from activities.platform import PlatformActivities
    from activities.slack import SlackActivities

    activities = []
    systems = (
        PagerDutyActivities(settings),
        SlackActivities(settings),
        PlatformActivities(settings),
        AutopilotActivities(settings),
    )
    for system in systems:
        for name, method in vars(type(system)).items():
            if hasattr(method, "__temporal_activity_definition"):
                activities.append(getattr(system, name))
    return activities
