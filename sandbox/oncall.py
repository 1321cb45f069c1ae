"""Who is on call when, as PagerDuty computes it: each layer's turns, within the layer's start,
end and restrictions (in the schedule's time zone); a later layer wins where it has someone on
call ("the lowest layer always takes precedence", layer 2 over layer 1); overrides on top, the
one created last winning, whatever the restrictions; and nobody where nothing covers.

Pure functions of a scenario's schedule and a window; `sandbox/pagerduty.py` renders them as
`GET /schedules/{id}` (each layer, the overrides, the final schedule) and `GET /oncalls`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.state import PdLayer, PdRestriction, PdSchedule


@dataclass
class Span:
    user: str
    start: datetime
    end: datetime


def longest_turn(schedule: PdSchedule) -> timedelta:
    return timedelta(seconds=max(layer.rotation_turn_length_seconds for layer in schedule.all_layers))


def _turns(layer: PdLayer, since: datetime, until: datetime) -> list[Span]:
    """The layer's turns within [since, until), cut at the window's and the layer's edges."""
    turn = timedelta(seconds=layer.rotation_turn_length_seconds)
    begin = max(since, layer.start or layer.rotation_virtual_start)
    finish = min(until, layer.end) if layer.end is not None else until
    spans = []
    moment = begin
    while moment < finish:
        index = math.floor((moment - layer.rotation_virtual_start) / turn)
        end = min(layer.rotation_virtual_start + (index + 1) * turn, finish)
        spans.append(Span(layer.users[index % len(layer.users)], moment, end))
        moment = end
    return spans


def _allowed(restrictions: list[PdRestriction], zone: ZoneInfo, since: datetime, until: datetime):
    """The windows the restrictions allow within [since, until), in order, merged."""
    if not restrictions:
        return [(since, until)]
    windows = []
    first = since.astimezone(zone).date() - timedelta(days=8)
    for restriction in restrictions:
        hour, minute, *second = (int(part) for part in restriction.start_time_of_day.split(":"))
        at = time(hour, minute, second[0] if second else 0)
        day = first
        while True:
            if restriction.type == "weekly_restriction" and day.isoweekday() != restriction.start_day_of_week:
                day += timedelta(days=1)
                continue
            # In UTC: adding the duration to a local time would count wall-clock hours, and a start
            # in the spring-forward gap (02:30 on the last Sunday of March) would end where it began.
            start = datetime.combine(day, at, zone).astimezone(UTC)
            if start >= until:
                break
            end = start + timedelta(seconds=restriction.duration_seconds)
            if end > since:
                windows.append((max(start, since), min(end, until)))
            day += timedelta(days=1 if restriction.type == "daily_restriction" else 7)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def layer_spans(schedule: PdSchedule, layer: PdLayer, since: datetime, until: datetime) -> list[Span]:
    """Who the layer has on call within [since, until): its turns, within its restrictions."""
    zone = ZoneInfo(schedule.time_zone)
    spans = []
    for turn in _turns(layer, since, until):
        for start, end in _allowed(layer.restrictions, zone, turn.start, turn.end):
            spans.append(Span(turn.user, start, end))
    return spans


def override_spans(schedule: PdSchedule, since: datetime, until: datetime) -> list[Span]:
    return [
        Span(o.user, max(o.start, since), min(o.end, until))
        for o in sorted(schedule.overrides, key=lambda o: o.start)
        if o.start < until and o.end > since
    ]


def final_spans(schedule: PdSchedule, since: datetime, until: datetime) -> list[Span]:
    """Who is on call within [since, until): overrides (the last created wins), else the latest
    layer with someone on call, else nobody; adjacent spans of one user merged."""
    layers = [layer_spans(schedule, layer, since, until) for layer in schedule.all_layers]
    edges = {since, until}
    for spans in layers:
        edges |= {t for span in spans for t in (span.start, span.end)}
    edges |= {t for o in schedule.overrides for t in (o.start, o.end) if since < t < until}
    ordered = sorted(edges)
    final: list[Span] = []
    for start, end in zip(ordered, ordered[1:], strict=False):
        user = _on_call(schedule, layers, start, end)
        if user is None:
            continue
        if final and final[-1].user == user and final[-1].end == start:
            final[-1].end = end
        else:
            final.append(Span(user, start, end))
    return final


def _on_call(schedule: PdSchedule, layers: list[list[Span]], start: datetime, end: datetime) -> str | None:
    covering = [o for o in schedule.overrides if o.start <= start and o.end >= end]
    if covering:
        return covering[-1].user
    for spans in reversed(layers):  # the latest layer first
        # A layer's spans are in order and never overlap: the one that could cover [start, end)
        # is the last to begin at or before `start` (a rotation of short turns has thousands).
        index = bisect.bisect_right(spans, start, key=lambda span: span.start) - 1
        if index >= 0 and end <= spans[index].end:
            return spans[index].user
    return None
