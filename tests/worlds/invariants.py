"""The runbook's invariants, checked on a world that was run (tests/worlds/run.py).

Each invariant is a named function of the `WorldRun` that returns what broke, in sentences naming
the items and people (empty: it holds). `check_world` runs them all and raises the first broken
one's own `AssertionError` subclass (`Invariant7Broken`, …), so that Hypothesis tells broken
invariants apart and reports a world for each; the message lists every broken invariant of the
world and the world itself.

Scope, by the runbook: a handover takes, from its outgoing admin, the incidents triggered or
acknowledged on the platform-ops services assigned to them; their pinned tickets that are not
solved; their open impersonation sessions on those tickets (every open session of theirs when
they are compromised); their rollouts ramping or paused. Plus its own messages: Slack posts with
its metadata, the override for the incoming admin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from handover.models import EmergencyReason, Outcome, Variant
from tests.worlds.generate import PLATFORM_OPS, SERVICE_EMAIL, describe
from tests.worlds.people import OBSERVED_ERROR_RATE, RESOLUTION_MARK
from tests.worlds.run import HandoverRun, WorldRun
from tests.writes import _logical_keys, message_part

OPEN = ("triggered", "acknowledged")
ITEMS = ("incident", "ticket", "session", "rollout")
IN_FLIGHT = ("ramping", "paused")
COUNTS = re.compile(r"(\d+) incidents? reassigned, (\d+) tickets? reassigned, (\d+) rollouts? in flight")


class InvariantBroken(AssertionError):
    """A runbook invariant does not hold in a generated world."""


Check = Callable[[WorldRun], list[str]]
INVARIANTS: list[tuple[str, Check, type[InvariantBroken]]] = []


def invariant(number: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        broken = type(f"Invariant{number}Broken", (InvariantBroken,), {"__doc__": check.__doc__})
        broken.__module__ = __name__
        INVARIANTS.append((number, check, broken))
        return check

    return register


def check_world(run: WorldRun) -> None:
    """Raise the first broken invariant (in the order below), naming every broken one."""
    broken = [(number, check, kind, check(run)) for number, check, kind in INVARIANTS]
    broken = [entry for entry in broken if entry[3]]
    if not broken:
        return
    lines = []
    for number, check, _, problems in broken:
        lines.append(f"invariant {number} `{check.__name__}` broken:")
        lines += [f"  - {problem}" for problem in problems]
    lines += ["in the world:", describe(run.world)]
    raise broken[0][2]("\n".join(lines))


# --- scope -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    incidents: frozenset[str]
    tickets: frozenset[str]
    sessions: frozenset[str]
    rollouts: frozenset[str]
    may_list: frozenset[str]
    """Tickets a listing may show though they are out of scope (pinned, outgoing's, solved):
    reported `skipped` with a reason if at all, never written."""

    def has(self, kind: str, ident: str) -> bool:
        return ident in {
            "incident": self.incidents,
            "ticket": self.tickets,
            "session": self.sessions,
            "rollout": self.rollouts,
        }.get(kind, frozenset())


def scope_of(handover: HandoverRun, before: dict) -> Scope:
    """What the handover must take, from the state the sandbox was loaded with."""
    outgoing = handover.outgoing
    incidents = {
        i["id"]
        for i in before["pagerduty"]["incidents"].values()
        if i["status"] in OPEN
        and i["service"] in PLATFORM_OPS
        and outgoing.pagerduty_id in {a["user"] for a in i["assignments"]}
    }
    pinned = [
        t
        for t in before["platform"]["tickets"].values()
        if t["pinned"] and t["assignee"].lower() == outgoing.email
    ]
    tickets = {t["id"] for t in pinned if t["state"] != "solved"}
    open_sessions = [
        s
        for s in before["platform"]["sessions"].values()
        if s["state"] == "open" and s["admin"].lower() == outgoing.email
    ]
    if handover.request.emergency_reason is EmergencyReason.COMPROMISED:
        sessions = {s["id"] for s in open_sessions}
    else:
        sessions = {s["id"] for s in open_sessions if s["ticket_id"] in tickets}
    rollouts = {
        r["id"]
        for r in before["platform"]["rollouts"].values()
        if r["state"] in IN_FLIGHT and r["owner"].lower() == outgoing.email
    }
    return Scope(
        incidents=frozenset(incidents),
        tickets=frozenset(tickets),
        sessions=frozenset(sessions),
        rollouts=frozenset(rollouts),
        may_list=frozenset(t["id"] for t in pinned if t["state"] == "solved"),
    )


def valid_handovers(run: WorldRun) -> list[HandoverRun]:
    return [h for h in run.handovers if not h.defects]


def acting_as(handover: HandoverRun) -> str:
    compromised = handover.request.emergency_reason is EmergencyReason.COMPROMISED
    return SERVICE_EMAIL if compromised else handover.outgoing.email


# --- reading the write log -------------------------------------------------------------------


def _body(write: dict) -> dict:
    return write["body"] if isinstance(write["body"], dict) else {}


def is_peoples(write: dict) -> bool:
    """A write the world's people made on purpose (not the handover's)."""
    incident = _body(write).get("incident") or {}
    return write["api"] == "pagerduty" and str(incident.get("resolution", "")).startswith(RESOLUTION_MARK)


def handovers_writes(run: WorldRun) -> list[dict]:
    return [w for w in run.writes if not is_peoples(w)]


def slack_key(write: dict) -> str | None:
    metadata = _body(write).get("metadata") or {}
    return (metadata.get("event_payload") or {}).get("handover_id")


def targets(write: dict) -> list[tuple[str, str]]:
    """What a write touches: (kind, id) with kind incident, ticket, session, rollout, override
    (the id is the user it is for), message (the id is its handover key) or unknown."""
    api, method, path, body = write["api"], write["method"], write["path"], _body(write)
    if api == "pagerduty":
        if method == "POST" and re.fullmatch(r"/schedules/[^/]+/overrides", path):
            users = [(o.get("user") or {}).get("id", "?") for o in body.get("overrides", [])]
            return [("override", user) for user in users] or [("override", "?")]
        if found := re.fullmatch(r"/incidents/([^/]+)/notes", path):
            return [("incident", found[1])]
        if method == "PUT" and path == "/incidents":
            return [("incident", str(i.get("id"))) for i in body.get("incidents", [])]
        if method == "PUT" and (found := re.fullmatch(r"/incidents/([^/]+)", path)):
            return [("incident", found[1])]
    if api == "slack" and path.strip("/") in ("chat.postMessage", "chat.update"):
        return [("message", slack_key(write) or "no metadata")]
    if api == "platform":
        if method == "POST" and (found := re.fullmatch(r"/impersonation-sessions/([^/]+)/end", path)):
            return [("session", found[1])]
        found = re.fullmatch(r"/tickets/([^/]+)/(assignee|labels/.+|engineering-issue)", path)
        if method == "PUT" and found:
            return [("ticket", found[1])]
        found = re.fullmatch(r"/rollouts/([^/]+)/(annotations|owner)", path)
        if found and (method, found[2]) in {("POST", "annotations"), ("PUT", "owner")}:
            return [("rollout", found[1])]
    return [("unknown", f"{api} {method} {path}")]


def made_by(write: dict, handover: HandoverRun) -> bool:
    """Whether this handover could have made the write: its key or id in the write, or its actors."""
    body, key = _body(write), handover.key
    if write["api"] == "slack":
        return key is not None and slack_key(write) == key
    if write["path"].endswith("/notes"):
        return key is not None and f"[{key}]" in str((body.get("note") or {}).get("content", ""))
    if write["path"].endswith("/annotations"):
        return key is not None and body.get("handover_id") == key
    if write["path"].endswith("/end"):
        named = re.compile(rf"{re.escape(handover.workflow_id)}(?![.\w-])")
        return named.search(str(body.get("reason", ""))) is not None
    return (write["actor"] or "").lower() in {acting_as(handover), handover.incoming.email}


def _write_text(write: dict) -> str:
    return f"write #{write['seq']} {write['api']} {write['method']} {write['path']} (as {write['actor']})"


# --- naming things in messages ----------------------------------------------------------------


def _who(run: WorldRun, ref: str) -> str:
    for person in run.world.people:
        if ref.lower() in (person.pagerduty_id.lower(), person.email):
            return f"p{person.number}"
    return "service" if ref in (SERVICE_EMAIL, "PHANDOV") else ref


def _item(run: WorldRun, kind: str, ident: str) -> str:
    """An item as the world had it: `rollout RO-W1 (paused, owned by p2)`."""
    state = run.before
    if kind == "incident" and ident in state["pagerduty"]["incidents"]:
        i = state["pagerduty"]["incidents"][ident]
        who = ",".join(_who(run, a["user"]) for a in i["assignments"]) or "nobody"
        return f"incident {ident} ({i['status']} on {i['service']}, assigned to {who})"
    if kind == "ticket" and ident in state["platform"]["tickets"]:
        t = state["platform"]["tickets"][ident]
        pinned = "pinned" if t["pinned"] else "not pinned"
        return f"ticket {ident} ({t['state']}, {pinned}, assigned to {_who(run, t['assignee'])})"
    if kind == "session" and ident in state["platform"]["sessions"]:
        s = state["platform"]["sessions"][ident]
        where = s["ticket_id"] or "no ticket"
        return f"session {ident} ({s['state']}, of {_who(run, s['admin'])} on {where})"
    if kind == "rollout" and ident in state["platform"]["rollouts"]:
        r = state["platform"]["rollouts"][ident]
        return f"rollout {ident} ({r['state']}, owned by {_who(run, r['owner'])})"
    if kind == "override":
        return f"an override for {_who(run, ident)}"
    if kind == "message":
        return f"a Slack message of handover {ident!r}"
    return f"{kind} {ident}"


def _assignees(incident: dict) -> set[str]:
    return {a["user"] for a in incident["assignments"]}


def _names(run: WorldRun, ids: set[str]) -> str:
    return ", ".join(sorted(_who(run, i) for i in ids)) or "nobody"


# --- the invariants, in the order a failure names them ----------------------------------------


@invariant("8")
def an_invalid_pair_is_refused_at_step_0(run: WorldRun) -> list[str]:
    """An admin missing from PagerDuty, Slack or the platform, inactive or not a platform admin:
    the plan and the handover are refused at step 0, and nothing at all is written."""
    problems = []
    invalid = [h for h in run.handovers if h.defects]
    for h in invalid:
        why = "; ".join(h.defects)
        if h.plan is not None:
            problems.append(f"the plan of {h.short()} was made although {why}")
        if h.refusal is None:
            phase = h.progress.phase.value if h.progress else "?"
            problems.append(f"{h.short()} was not refused at step 0 although {why}: it went on to {phase!r}")
        elif not h.refusal.startswith(("UnknownAdmin", "NotAllowed")):
            problems.append(
                f"{h.short()} was refused, but not as an unknown or not allowed admin: {h.refusal}"
            )
    if invalid and run.writes:
        shown = "; ".join(_write_text(w) for w in run.writes[:3])
        problems.append(f"the write log has {len(run.writes)} writes, not none: {shown}")
    return problems


@invariant("10")
def every_handover_ends_and_takes_every_input_it_asks_for(run: WorldRun) -> list[str]:
    """A valid handover, its people answering everything, completes with a report; every input
    it asks for is taken."""
    problems = []
    for h in valid_handovers(run):
        if h.stalled:
            problems.append(f"{h.short()} did not end: {h.stalled}")
        elif h.report is None:
            problems.append(f"{h.short()} has no report")
        elif h.report.phase.value != "completed":
            problems.append(f"{h.short()} ended {h.report.phase.value!r}: {h.report.error}")
        problems += [
            f"{h.short()} asked for an input, then refused it: {refused}" for refused in h.refused_inputs
        ]
    return problems


@invariant("9")
def the_plan_lists_what_the_handover_takes_and_writes_nothing(run: WorldRun) -> list[str]:
    """`starter.py plan` changes nothing, and shows exactly the items in scope."""
    problems = [f"the plans wrote: {_write_text(w)}" for w in run.plan_writes]
    for h in valid_handovers(run):
        if h.plan is None:
            problems.append(f"the plan of {h.short()} was refused: {h.plan_refusal}")
            continue
        scope = scope_of(h, run.before)
        listed = {
            "incident": ({i.id for i in h.plan.incidents}, scope.incidents, frozenset()),
            "ticket": ({t.ticket.id for t in h.plan.tickets}, scope.tickets, scope.may_list),
            "rollout": ({r.id for r in h.plan.rollouts}, scope.rollouts, frozenset()),
        }
        for kind, (shown, wanted, allowed) in listed.items():
            for ident in sorted(wanted - shown):
                problems.append(f"the plan of {h.short()} leaves out {_item(run, kind, ident)}")
            for ident in sorted(shown - wanted - allowed):
                problems.append(f"the plan of {h.short()} lists {_item(run, kind, ident)}, out of its scope")
    return problems


@invariant("1")
def only_in_scope_items_are_touched(run: WorldRun) -> list[str]:
    """Every write belongs to an in-scope item of a handover, or to a handover's own messages."""
    handovers = valid_handovers(run)
    scopes = [scope_of(h, run.before) for h in handovers]
    override_for = {h.incoming.pagerduty_id for h in handovers if h.request.variant is not Variant.ROUTINE}
    keys = {h.key for h in handovers if h.key}
    problems = []
    for write in handovers_writes(run):
        for kind, ident in targets(write):
            if kind == "override":
                ok = ident in override_for
            elif kind == "message":
                ok = ident in keys
            else:
                ok = any(scope.has(kind, ident) for scope in scopes)
            if not ok:
                what = _item(run, kind, ident)
                problems.append(f"{_write_text(write)} touches {what}, in no handover's scope")
    return problems


def _differences(before: dict, after: dict | None) -> str:
    if after is None:
        return "it is gone"
    changed = [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    return "; ".join(f"{key}: {before.get(key)!r} → {after.get(key)!r}" for key in changed[:4])


@invariant("2")
def nothing_out_of_scope_changes(run: WorldRun) -> list[str]:
    """The sandbox's state before and after is equal on every out-of-scope object (except what
    the world's people changed on purpose while the handovers ran)."""
    before, after = run.before, run.after
    scopes = [scope_of(h, before) for h in valid_handovers(run)]

    def mine(kind: str, ident: str) -> bool:
        return any(scope.has(kind, ident) for scope in scopes)

    problems = []

    def compare(kind: str, old: dict, new: dict, skip: Callable[[str], bool] = lambda ident: False) -> None:
        for ident, item in old.items():
            if not skip(ident) and new.get(ident) != item:
                label = _item(run, kind, ident) if kind in ITEMS else f"{kind} {ident}"
                problems.append(f"{label} changed: {_differences(item, new.get(ident))}")

    pd_before, pd_after = before["pagerduty"], after["pagerduty"]
    compare("PagerDuty user", pd_before["users"], pd_after["users"])
    compare("service", pd_before["services"], pd_after["services"])
    people_changed = set(run.mischief.resolved)
    compare(
        "incident",
        pd_before["incidents"],
        pd_after["incidents"],
        skip=lambda i: mine("incident", i) or i in people_changed,
    )
    for schedule_id, schedule in pd_before["schedules"].items():
        now = pd_after["schedules"].get(schedule_id) or {}
        kept = {o["id"]: o for o in now.get("overrides", [])}
        compare("override", {o["id"]: o for o in schedule["overrides"]}, kept)
        rest = {k: v for k, v in schedule.items() if k != "overrides"}
        if rest != {k: v for k, v in now.items() if k != "overrides"}:
            problems.append(f"schedule {schedule_id} changed beyond its overrides")
    compare("Slack user", before["slack"]["users"], after["slack"]["users"])
    for channel_id, channel in before["slack"]["channels"].items():
        now = {m["ts"]: m for m in (after["slack"]["channels"].get(channel_id) or {}).get("messages", [])}
        compare(f"message in {channel_id}", {m["ts"]: m for m in channel["messages"]}, now)
    pl_before, pl_after = before["platform"], after["platform"]
    compare("platform admin", pl_before["admins"], pl_after["admins"])
    compare("ticket", pl_before["tickets"], pl_after["tickets"], skip=lambda t: mine("ticket", t))
    compare("session", pl_before["sessions"], pl_after["sessions"], skip=lambda s: mine("session", s))
    compare("rollout", pl_before["rollouts"], pl_after["rollouts"], skip=lambda r: mine("rollout", r))
    compare("annotation", pl_before["annotations"], pl_after["annotations"])
    if pl_after["audit_events"][: len(pl_before["audit_events"])] != pl_before["audit_events"]:
        problems.append("the audit log's earlier events changed")
    return problems


@invariant("3")
def every_in_scope_item_has_an_explicit_outcome(run: WorldRun) -> list[str]:
    """Each in-scope item is in the report as handed_over, or skipped or failed with a reason; the
    report has exactly the in-scope items (one out of scope, if listed, is skipped with a reason)."""
    problems = []
    for h in valid_handovers(run):
        report = h.report
        if report is None:
            continue
        scope = scope_of(h, run.before)
        listed = {
            "incident": ({i.incident.id: i for i in report.incidents}, scope.incidents),
            "ticket": ({t.ticket.id: t for t in report.tickets}, scope.tickets),
            "rollout": ({r.rollout.id: r for r in report.rollouts}, scope.rollouts),
        }
        for kind, (items, wanted) in listed.items():
            for ident in sorted(wanted - set(items)):
                problems.append(f"the report of {h.short()} leaves out {_item(run, kind, ident)}")
            for ident, item in sorted(items.items()):
                outcome, detail = item.outcome, (item.detail or "").strip()
                if ident not in wanted:
                    if outcome is not Outcome.SKIPPED or not detail:
                        problems.append(
                            f"the report of {h.short()} has {_item(run, kind, ident)}, out of its scope, "
                            f"as {outcome.value}{f' ({detail})' if detail else ''}, not skipped with a reason"
                        )
                elif outcome in (Outcome.PENDING, Outcome.NOT_HANDED_OVER):
                    problems.append(f"{_item(run, kind, ident)} ends {outcome.value} in {h.short()}'s report")
                elif outcome in (Outcome.SKIPPED, Outcome.FAILED) and not detail:
                    problems.append(
                        f"{_item(run, kind, ident)} is {outcome.value} with no reason ({h.short()})"
                    )
    return problems


@invariant("4")
def the_summary_counts_are_the_reports(run: WorldRun) -> list[str]:
    """ "N incidents reassigned, M tickets reassigned, K rollouts in flight" says the report's counts,
    in the report and in the message posted to Slack."""
    problems = []
    for h in valid_handovers(run):
        report = h.report
        if report is None or report.phase.value != "completed":
            continue
        if report.summary is None:
            problems.append(f"{h.short()} completed without a summary")
            continue
        posted = [
            w["body"]["text"]
            for w in handovers_writes(run)
            if w["api"] == "slack"
            and w["status"] < 300
            and slack_key(w) == h.key
            and message_part(w) == "summary"
        ]
        if not posted:
            problems.append(f"{h.short()}: no summary was posted to Slack")
        counts = report.counts
        wanted = (counts["incidents"], counts["tickets"], counts["rollouts"])
        for where, text in [("report", report.summary.text)] + [("Slack", t) for t in posted]:
            found = COUNTS.search(text)
            if found is None:
                problems.append(f"{h.short()}: the summary in the {where} has no counts: {text!r}")
            elif tuple(int(n) for n in found.groups()) != wanted:
                problems.append(
                    f"{h.short()}: the summary in the {where} says {found[0]!r}; the report counts "
                    f"{wanted[0]} incidents, {wanted[1]} tickets, {wanted[2]} rollouts handed over"
                )
    return problems


@invariant("5")
def no_write_happens_twice(run: WorldRun) -> list[str]:
    """The same change is never made twice (tests/writes.py's logical keys). An incident's
    reassignment or acknowledgement (by the same person) counts again once something else changed
    the incident; each handover to an incoming admin makes its own override.

    One exception, and only one: an incident in the scope of two handovers to the same incoming
    admin may be acknowledged by them once per handover. Each handover mirrors its incoming's
    acknowledgement; when both do it at the same moment, each has looked and found it still to
    do, and PagerDuty has no compare-and-set to let the second one know. A repeat within one
    handover is still caught."""
    problems, counts = [], {}
    in_effect: dict[str, list[tuple]] = {}
    handovers = valid_handovers(run)
    scopes = {id(h): scope_of(h, run.before) for h in handovers}

    def owners(incident_id: str, actor: str | None) -> int:
        return sum(
            1 for h in handovers if h.incoming.email == actor and incident_id in scopes[id(h)].incidents
        )

    overrides_for = [
        h.incoming.pagerduty_id for h in valid_handovers(run) if h.request.variant is not Variant.ROUTINE
    ]
    for write in sorted(run.writes, key=lambda w: w["seq"]):
        if not 200 <= write["status"] < 300:
            continue
        if is_peoples(write):
            for _, ident in targets(write):
                in_effect.pop(ident, None)  # someone changed the incident: its next change is new
            continue
        for key in _logical_keys(write):
            if key[0] == "status":
                key = (*key, write["actor"])  # (two people acknowledging are two acknowledgements)
            if key[0] in ("reassign", "status"):
                effective = in_effect.setdefault(key[1], [])
                allowed = max(1, owners(key[1], write["actor"])) if key[0] == "status" else 1
                if effective.count(key) >= allowed:
                    problems.append(f"{_write_text(write)} repeats {key[0]} {key[2]} on incident {key[1]}")
                if key[0] == "reassign":
                    effective.clear()  # (a reassignment unacknowledges the incident)
                else:
                    effective[:] = [k for k in effective if k[0] != "status" or k == key]
                effective.append(key)
            else:
                counts.setdefault(key, []).append(write)
    for key, writes in counts.items():
        allowed = overrides_for.count(key[1]) if key[0] == "override" else 1
        if len(writes) > max(allowed, 1):
            seqs = ", ".join(f"#{w['seq']}" for w in writes)
            problems.append(f"{len(writes)} writes make the same change {key}: {seqs}")
    return problems


@invariant("6")
def two_handovers_never_touch_each_others_items(run: WorldRun) -> list[str]:
    """With two handovers at once, neither writes to an item in the other's scope only, and each
    has an override of its own."""
    handovers = valid_handovers(run)
    if len(handovers) < 2:
        return []
    scopes = {id(h): scope_of(h, run.before) for h in handovers}
    problems = []
    for write in handovers_writes(run):
        makers = [h for h in handovers if made_by(write, h)]
        if len(makers) != 1:
            continue
        maker = makers[0]
        for kind, ident in targets(write):
            if scopes[id(maker)].has(kind, ident):
                continue
            for other in handovers:
                if other is not maker and scopes[id(other)].has(kind, ident):
                    problems.append(
                        f"{_write_text(write)} of {maker.short()} touches {_item(run, kind, ident)}, "
                        f"which is {other.short()}'s"
                    )
    claimed: dict[str, list[HandoverRun]] = {}
    for h in handovers:
        if h.report is not None and h.report.override is not None:
            claimed.setdefault(h.report.override.id, []).append(h)
    for override_id, owners in claimed.items():
        if len(owners) > 1:
            problems.append(
                f"override {override_id} is claimed by {' and '.join(h.short() for h in owners)}: "
                "one handover adopted the other's override window"
            )
    return problems


@invariant("7")
def co_assignees_are_kept(run: WorldRun) -> list[str]:
    """An incident assigned to outgoing and others ends assigned to incoming and those others."""
    handovers = [h for h in valid_handovers(run) if h.report is not None]
    problems = []
    for incident_id, incident in sorted(run.before["pagerduty"]["incidents"].items()):
        handed = [
            h
            for h in handovers
            for i in h.report.incidents
            if i.incident.id == incident_id and i.outcome is Outcome.HANDED_OVER
        ]
        if not handed:
            continue
        now = run.after["pagerduty"]["incidents"][incident_id]
        if len(_assignees(incident)) < 2 or now["status"] not in OPEN:
            continue  # (no co-assignee to keep, or resolved since)
        outgoing = {h.outgoing.pagerduty_id for h in handed}
        expected = _assignees(incident) - outgoing | {h.incoming.pagerduty_id for h in handed}
        if _assignees(now) != expected:
            problems.append(
                f"{_item(run, 'incident', incident_id)}, handed over by "
                f"{' and '.join(h.short() for h in handed)}, ends assigned to "
                f"{_names(run, _assignees(now))}; expected {_names(run, expected)}"
            )
    return problems


@invariant("11")
def handed_over_means_moved_in_the_systems(run: WorldRun) -> list[str]:
    """What the report says was handed over is so in PagerDuty and the platform: the incident is
    incoming's (unless resolved since), the ticket assigned to incoming with its sessions ended,
    the rollout owned by incoming."""
    problems = []
    after = run.after
    for h in valid_handovers(run):
        if h.report is None:
            continue
        mine = h.incoming.pagerduty_id
        for item in h.report.incidents:
            now = after["pagerduty"]["incidents"].get(item.incident.id)
            moved = now is None or now["status"] not in OPEN or mine in _assignees(now)
            if item.outcome is Outcome.HANDED_OVER and not moved:
                problems.append(
                    f"{_item(run, 'incident', item.incident.id)} is handed_over in {h.short()}, "
                    f"but PagerDuty has it assigned to {_names(run, _assignees(now))}"
                )
        for item in h.report.tickets:
            now = after["platform"]["tickets"].get(item.ticket.id)
            if item.outcome is Outcome.HANDED_OVER and now and now["assignee"].lower() != h.incoming.email:
                problems.append(
                    f"{_item(run, 'ticket', item.ticket.id)} is handed_over in {h.short()}, "
                    f"but is assigned to {_who(run, now['assignee'])}"
                )
        for item in h.report.rollouts:
            now = after["platform"]["rollouts"].get(item.rollout.id)
            if item.outcome is Outcome.HANDED_OVER and now and now["owner"].lower() != h.incoming.email:
                problems.append(
                    f"{_item(run, 'rollout', item.rollout.id)} is handed_over in {h.short()}, "
                    f"but is owned by {_who(run, now['owner'])}"
                )
        scope = scope_of(h, run.before)
        handed_tickets = {t.ticket.id for t in h.report.tickets if t.outcome is Outcome.HANDED_OVER}
        compromised = acting_as(h) == SERVICE_EMAIL
        for session_id in sorted(scope.sessions):
            session = run.before["platform"]["sessions"][session_id]
            if (compromised or session["ticket_id"] in handed_tickets) and (
                after["platform"]["sessions"][session_id]["state"] != "ended"
            ):
                problems.append(f"{_item(run, 'session', session_id)} is still open after {h.short()}")
    return problems


@invariant("12")
def an_unknown_error_rate_stays_unknown(run: WorldRun) -> list[str]:
    """An annotation carries the error rate someone knows: the person's, or in an emergency the
    console's; a rate the console does not know is never written as a number nobody observed."""
    problems = []
    rollouts = run.before["platform"]["rollouts"]
    for h in valid_handovers(run):
        emergency = h.request.variant is Variant.EMERGENCY
        for write in handovers_writes(run):
            if not (write["path"].endswith("/annotations") and made_by(write, h) and write["status"] < 300):
                continue
            rollout_id = write["path"].split("/")[2]
            console = (rollouts.get(rollout_id) or {}).get("error_rate")
            wanted = console if console is not None else (None if emergency else OBSERVED_ERROR_RATE)
            said = _body(write).get("error_rate")
            if said != wanted:
                source = "unknown on the console" if console is None else f"{console:g}% on the console"
                problems.append(
                    f"{_write_text(write)} of {h.short()} annotates {rollout_id} with error rate {said!r} "
                    f"(it is {source}; expected {wanted!r})"
                )
    return problems


@invariant("13")
def the_override_is_the_handovers_own(run: WorldRun) -> list[str]:
    """The override a handover reports is one it created for incoming, not one someone set by hand."""
    created = {
        override_id
        for w in run.writes
        if w["api"] == "pagerduty" and w["method"] == "POST" and w["path"].endswith("/overrides")
        for override_id in (w.get("result") or {}).get("override_ids", [])
    }
    problems = []
    for h in valid_handovers(run):
        report = h.report
        if report is None or h.request.variant is Variant.ROUTINE:
            continue
        if report.override is None:
            problems.append(f"{h.short()} reports no override")
            continue
        if report.override.user_id != h.incoming.pagerduty_id:
            whose = _who(run, report.override.user_id)
            problems.append(f"{h.short()} reports override {report.override.id}, for {whose}")
        if report.override.id not in created:
            problems.append(
                f"{h.short()} reports override {report.override.id} "
                f"({report.override.start:%H:%M}–{report.override.end:%H:%M}), which it did not create"
            )
    return problems


@invariant("14")
def a_skip_says_what_really_happened(run: WorldRun) -> list[str]:
    """An in-scope item is skipped only when someone changed it meanwhile: here, the incidents the
    world's people resolved mid-handover (they touch no ticket and no rollout)."""
    problems = []
    for h in valid_handovers(run):
        if h.report is None:
            continue
        scope = scope_of(h, run.before)
        items = (
            [("incident", i.incident.id, i) for i in h.report.incidents]
            + [("ticket", t.ticket.id, t) for t in h.report.tickets]
            + [("rollout", r.rollout.id, r) for r in h.report.rollouts]
        )
        for kind, ident, item in items:
            if item.outcome is not Outcome.SKIPPED or not scope.has(kind, ident):
                continue
            if kind == "incident" and ident in run.mischief.resolved:
                continue
            problems.append(
                f"{_item(run, kind, ident)} is skipped in {h.short()} ({item.detail}), "
                "but nobody changed it during the handover"
            )
    return problems


@invariant("15")
def the_audit_accounts_for_every_session_ended(run: WorldRun) -> list[str]:
    """Offboarding: the audit check covers every session the handover ended, and (the sandbox's
    audit log has no lag here) finds `platform.impersonation_ended` for each."""
    problems = []
    for h in valid_handovers(run):
        report = h.report
        if report is None or not h.spec.offboarding or report.phase.value != "completed":
            continue
        ended = {
            target
            for w in handovers_writes(run)
            if w["status"] < 300 and made_by(w, h)
            for kind, target in targets(w)
            if kind == "session"
        }
        if report.audit is None:
            problems.append(f"{h.short()} is an offboarding but reports no audit check")
            continue
        for session_id in sorted(ended - set(report.audit.checked_sessions)):
            problems.append(
                f"{h.short()} ended {_item(run, 'session', session_id)} but its audit left it out"
            )
        if report.audit.missing_sessions:
            problems.append(
                f"{h.short()}'s audit misses {', '.join(report.audit.missing_sessions)} though the "
                "audit log has every platform.impersonation_ended"
            )
    return problems


ORDER = ["8", "10", "9", "1", "2", "3", "4", "5", "6", "7", "11", "12", "13", "14", "15"]
INVARIANTS.sort(key=lambda entry: ORDER.index(entry[0]))
