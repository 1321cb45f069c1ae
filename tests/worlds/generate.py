"""Generated worlds: a team's PagerDuty, Slack and platform data, and the handovers run in it.

`worlds()` is the Hypothesis strategy; `scenario(world)` turns a world into the sandbox scenario
dict `SandboxHandle.reset(...)` loads (schema: sandbox/state.py `Scenario`); `describe(world)` is
the compact summary a failure prints. A world refers to its people by index, so that Hypothesis
shrinks it towards fewer people, items and differences.

What varies, on purpose (see the brief, issue 13): people with non-ASCII names, some missing from
one system, inactive or not platform admins; pairs that are valid mostly and invalid sometimes;
incidents on the platform-ops services and others, in every status, assigned to outgoing alone,
to outgoing and others, or to others only, some resolved by someone else mid-handover; tickets of
every state, pinned or not, linked or not, with impersonation sessions of outgoing or others, open
or ended; rollouts of every state and owner, with an unknown error rate sometimes; nullable fields
null; and sometimes two handovers at once, possibly to the same incoming admin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from handover.models import Variant

PLATFORM_OPS = ("PPLATOPS", "PPLATAPI")
"""The platform-ops services the worker lists incidents on (tests/conftest.py `settings`)."""
OTHER_SERVICES = ("PBILLING", "PSTORAGE")
SERVICE_EMAIL = "oncall-handover@novalien.com"
SERVICE_PAGERDUTY_ID = "PHANDOV"
CHANNEL = "C0PLATOPS"
SCHEDULE = "PPRIMARY"
NOBODY = -1
"""A person index meaning someone in no system at all (a ticket assignee who left, say)."""
NOBODY_EMAIL = "former-colleague@novalien.com"

NAMES = (
    "Zoë Ångström",
    "Bjørn Løvås",
    "李小龙",
    "王芳",
    "José Núñez",
    "Ægir Þórsson",
    "Ольга Иванова",
    "Nguyễn Thị Minh",
    "Renée O'Brien-Smith",
    "🚀 Rocket Raccoon",
    "محمد علي",
    'Chloé "<ops>" & co',
    "Åsa Öberg",
    "Fatma Yılmaz",
)
NAME_LETTERS = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"))
TEXTS = ("Disk pressure on vms-db-03 💾", "Latenz über 2 s", "证书即将过期", "Ça ne marche plus", "ok")


class Defect:
    """Why an admin cannot hand over (step 0 must refuse the pair)."""

    NO_PAGERDUTY = "no PagerDuty user"
    NO_SLACK = "no Slack user"
    NO_PLATFORM = "no platform admin entry"
    INACTIVE = "inactive platform admin"
    NOT_ADMIN = "not a platform admin"
    ALL = (NO_PAGERDUTY, NO_SLACK, NO_PLATFORM, INACTIVE, NOT_ADMIN)


@dataclass(frozen=True)
class Person:
    number: int
    name: str
    pagerduty: bool = True
    slack: bool = True
    platform: str = "admin"
    """admin, inactive, not_admin or missing."""

    @property
    def email(self) -> str:
        return f"p{self.number}@novalien.com"

    @property
    def pagerduty_id(self) -> str:
        return f"PWORLD{self.number}"

    @property
    def slack_id(self) -> str:
        return f"U0WORLD{self.number}"

    @property
    def defects(self) -> list[str]:
        found = []
        if not self.pagerduty:
            found.append(Defect.NO_PAGERDUTY)
        if not self.slack:
            found.append(Defect.NO_SLACK)
        found += {
            "missing": [Defect.NO_PLATFORM],
            "inactive": [Defect.INACTIVE],
            "not_admin": [Defect.NOT_ADMIN],
        }.get(self.platform, [])
        return found

    def short(self) -> str:
        systems = [s for s, on in (("pd", self.pagerduty), ("slack", self.slack)) if on]
        return f"p{self.number} {self.name!r} [{','.join(systems)},{self.platform}]"


@dataclass(frozen=True)
class HandoverSpec:
    outgoing: int
    incoming: int
    variant: str = Variant.PLANNED.value
    """A `Variant` value (a plain string, so that the world's repr is Python to paste back)."""
    reason: str | None = None
    offboarding: bool = False

    def short(self) -> str:
        how = self.variant + (f" ({self.reason})" if self.reason else "")
        return f"p{self.outgoing} → p{self.incoming} {how}{' +offboarding' if self.offboarding else ''}"


@dataclass(frozen=True)
class WorldIncident:
    id: str
    number: int
    service: str
    status: str
    assignees: tuple[int, ...] = ()
    urgency: str = "high"
    resolved_mid_handover: bool = False
    """Someone else resolves it through PagerDuty while the handover waits on people."""

    def short(self) -> str:
        who = ",".join(f"p{a}" for a in self.assignees) or "-"
        mid = " resolved-mid-run" if self.resolved_mid_handover else ""
        return f"{self.id} {self.service} {self.status} [{who}]{mid}"


@dataclass(frozen=True)
class WorldTicket:
    id: str
    state: str
    pinned: bool
    assignee: int
    engineering_issue: str | None = None
    labels: tuple[str, ...] = ()

    def short(self) -> str:
        link = f" {self.engineering_issue}" if self.engineering_issue else ""
        labels = f" labels={list(self.labels)}" if self.labels else ""
        return f"{self.id} {self.state}{' pinned' if self.pinned else ''} p{self.assignee}{link}{labels}"


@dataclass(frozen=True)
class WorldSession:
    id: str
    admin: int
    ticket_id: str | None
    state: str = "open"

    def short(self) -> str:
        return f"{self.id} p{self.admin} on {self.ticket_id or 'no ticket'} {self.state}"


@dataclass(frozen=True)
class WorldRollout:
    id: str
    state: str
    owner: int
    ramp_percent: float = 25.0
    error_rate: float | None = None

    def short(self) -> str:
        rate = "?" if self.error_rate is None else f"{self.error_rate:g}"
        return f"{self.id} {self.state} p{self.owner} ramp={self.ramp_percent:g} err={rate}"


@dataclass(frozen=True)
class WorldOverride:
    """An override someone set by hand before the handover (not the handover's)."""

    person: int
    start: str
    end: str


@dataclass(frozen=True)
class World:
    people: tuple[Person, ...]
    handovers: tuple[HandoverSpec, ...]
    incidents: tuple[WorldIncident, ...] = ()
    tickets: tuple[WorldTicket, ...] = ()
    sessions: tuple[WorldSession, ...] = ()
    rollouts: tuple[WorldRollout, ...] = ()
    overrides: tuple[WorldOverride, ...] = ()
    annotated: tuple[str, ...] = ()
    """Rollouts that carry an annotation from an earlier handover (nullable handover_id)."""
    bulk_inputs: bool = False
    """Incoming acknowledges with `ack-all` / `own-all` instead of one input per item."""
    resolver: int = NOBODY
    """Who resolves incidents mid-handover: a person, or (NOBODY) the service account."""
    capitalized: bool = False
    """The platform's records write people's emails capitalized (`P3@Novalien.com`), as systems
    fed by hand do; the platform matches emails case-insensitively."""

    def person(self, number: int) -> Person | None:
        return self.people[number] if 0 <= number < len(self.people) else None

    def email(self, number: int) -> str:
        person = self.person(number)
        return person.email if person else NOBODY_EMAIL

    def platform_email(self, number: int) -> str:
        """How the platform's tickets, sessions and rollouts write the person's email."""
        email = self.email(number)
        if not self.capitalized:
            return email
        local, _, domain = email.partition("@")
        return f"{local.capitalize()}@{domain.capitalize()}"

    def pair_defects(self, spec: HandoverSpec) -> list[str]:
        """Why step 0 must refuse this pair (empty for a valid pair)."""
        return [
            f"{role} p{number}: {defect}"
            for role, number in (("outgoing", spec.outgoing), ("incoming", spec.incoming))
            for defect in self.people[number].defects
        ]

    @property
    def resolver_email(self) -> str:
        person = self.person(self.resolver)
        return person.email if person and person.pagerduty else SERVICE_EMAIL


def describe(world: World) -> str:
    """The world in a few lines: what a failure prints next to Hypothesis's falsifying example."""
    lines = ["people:    " + "; ".join(p.short() for p in world.people)]
    for spec in world.handovers:
        defects = world.pair_defects(spec)
        lines.append(f"handover:  {spec.short()}" + (f"  INVALID: {', '.join(defects)}" if defects else ""))
    for label, items in (
        ("incidents", world.incidents),
        ("tickets", world.tickets),
        ("sessions", world.sessions),
        ("rollouts", world.rollouts),
    ):
        lines.append(f"{label + ':':<11}" + ("; ".join(i.short() for i in items) or "-"))
    if world.overrides:
        lines.append("overrides: " + "; ".join(f"p{o.person} {o.start}..{o.end}" for o in world.overrides))
    if world.annotated:
        lines.append("annotated: " + ", ".join(world.annotated))
    extras = [f"resolver=p{world.resolver}" if world.resolver != NOBODY else "resolver=service"]
    if world.bulk_inputs:
        extras.append("bulk inputs")
    if world.capitalized:
        extras.append("platform emails capitalized")
    lines.append("people do: " + ", ".join(extras))
    return "\n".join(lines)


# --- the strategy ----------------------------------------------------------------------------


def _percent(draw) -> int:
    """0..99, shrinking to 0 (`_percent(draw) < 92`: mostly true, and true once shrunk)."""
    return draw(st.integers(0, 99))


def _sometimes(draw, rarely: int = 1) -> bool:
    """True about one time in 2**rarely or less, false once shrunk: a departure from the plain
    world. (Coin flips, not `_percent(draw) >= 80` or `sampled_from` over many values: inside a
    large example Hypothesis draws the ends of a range far more often than its middle.)"""
    return all(draw(st.booleans()) for _ in range(rarely))


def _pick(draw, choices: tuple):
    """One of the choices, by coin flips (see `_sometimes`); the first once shrunk."""
    while len(choices) > 1:
        half = (len(choices) + 1) // 2
        choices = choices[half:] if draw(st.booleans()) else choices[:half]
    return choices[0]


@st.composite
def people(draw, count: int) -> list[Person]:
    made = []
    for number in range(count):
        name = draw(st.sampled_from(NAMES) | st.text(NAME_LETTERS, min_size=1, max_size=16))
        made.append(
            Person(
                number=number,
                name=name if name.strip() else f"Person {number}",
                pagerduty=_percent(draw) < 92,
                slack=_percent(draw) < 92,
                platform=draw(st.sampled_from(PLATFORM_ENTRIES)),
            )
        )
    return made


def _valid(person: Person) -> Person:
    return replace(person, pagerduty=True, slack=True, platform="admin")


def _with_defect(person: Person, defect: str) -> Person:
    changes = {
        Defect.NO_PAGERDUTY: {"pagerduty": False},
        Defect.NO_SLACK: {"slack": False},
        Defect.NO_PLATFORM: {"platform": "missing"},
        Defect.INACTIVE: {"platform": "inactive"},
        Defect.NOT_ADMIN: {"platform": "not_admin"},
    }[defect]
    return replace(_valid(person), **changes)


PLATFORM_ENTRIES = ("admin", "admin", "admin", "inactive", "not_admin", "missing")
TICKET_STATES = ("waiting_on_customer", "waiting_on_engineering", "active", "open", "solved")
ROLLOUT_STATES = ("ramping", "paused", "draft", "complete", "rolled_back")
LABELS = ("waiting_on_customer", "vip", "sev:2")

VARIANTS = (
    (Variant.PLANNED.value, None),
    (Variant.ROUTINE.value, None),
    (Variant.EMERGENCY.value, "incapacitated: no answer on the phone"),
    (Variant.EMERGENCY.value, "compromised: laptop stolen at the airport"),
)


@st.composite
def handover_spec(draw, outgoing: int, incoming: int) -> HandoverSpec:
    # Planned mostly (where shrinking goes), then the others alike.
    variant, reason = _pick(draw, VARIANTS[1:]) if _sometimes(draw) else VARIANTS[0]
    return HandoverSpec(
        outgoing=outgoing,
        incoming=incoming,
        variant=variant,
        reason=reason,
        offboarding=_sometimes(draw),
    )


@st.composite
def worlds(draw) -> World:
    count = draw(st.integers(2, 6))
    team = draw(people(count))

    # The handovers: one mostly; two at once sometimes (two outgoing admins, possibly to the
    # same incoming admin). Valid pairs mostly: their people are made valid; an invalid pair
    # (alone in its world) gets a defect on one of its admins.
    two = count >= 3 and _sometimes(draw, 2)
    order = draw(st.permutations(range(count)))
    first = HandoverSpec(order[0], order[1])
    if two:
        same_incoming = count == 3 or draw(st.booleans())
        second = HandoverSpec(order[2], order[1] if same_incoming else order[3])
        pairs = [first, second]
        for number in {p for spec in pairs for p in (spec.outgoing, spec.incoming)}:
            team[number] = _valid(team[number])
    else:
        pairs = [first]
        if _percent(draw) < 80:
            for number in (first.outgoing, first.incoming):
                team[number] = _valid(team[number])
        else:
            defect = _pick(draw, Defect.ALL)
            target = draw(st.sampled_from([first.outgoing, first.incoming]))
            other = first.incoming if target == first.outgoing else first.outgoing
            team[target], team[other] = _with_defect(team[target], defect), _valid(team[other])
    specs = tuple(draw(handover_spec(spec.outgoing, spec.incoming)) for spec in pairs)
    outgoing = [spec.outgoing for spec in specs]
    on_pagerduty = [p.number for p in team if p.pagerduty]

    def someone(include_nobody: bool = False) -> st.SearchStrategy[int]:
        """An owner or assignee: an outgoing admin most often, else anyone."""
        choices = st.sampled_from(outgoing) | st.integers(0, count - 1)
        return choices | st.just(NOBODY) if include_nobody else choices

    incidents = []
    for n in range(draw(st.integers(0, 6))):
        status = draw(st.sampled_from(["triggered", "acknowledged", "resolved"]))
        assignees: tuple[int, ...] = ()
        if status != "resolved" and on_pagerduty:
            # outgoing alone, outgoing and others, others only (or, with two, both outgoing admins)
            pattern = draw(st.sampled_from(["outgoing", "outgoing+others", "others", "all outgoing"]))
            others = draw(st.sets(st.sampled_from(on_pagerduty), min_size=1, max_size=3))
            mine = {draw(st.sampled_from(outgoing))} if pattern != "all outgoing" else set(outgoing)
            chosen = {
                "outgoing": mine,
                "outgoing+others": mine | others,
                "others": others - set(outgoing) or others,
                "all outgoing": mine,
            }[pattern]
            assignees = tuple(sorted(a for a in chosen if team[a].pagerduty))
        incidents.append(
            WorldIncident(
                id=f"QW{n}",
                number=7000 + n,
                service=draw(st.sampled_from(PLATFORM_OPS * 2 + OTHER_SERVICES)),
                status=status,
                assignees=assignees,
                urgency=draw(st.sampled_from(["high", "low"])),
                resolved_mid_handover=status != "resolved" and _sometimes(draw, 2),
            )
        )

    tickets = []
    for n in range(draw(st.integers(0, 6))):
        state = _pick(draw, TICKET_STATES)
        tickets.append(
            WorldTicket(
                id=f"SUP-W{n}",
                state=state,
                pinned=_percent(draw) < 70,
                assignee=draw(someone(include_nobody=True)),
                engineering_issue=draw(st.none() | st.just(f"ENG-{900 + n}")),
                labels=tuple(draw(st.sets(st.sampled_from(LABELS), max_size=2))),
            )
        )

    sessions = []
    ticket_ids = [t.id for t in tickets]
    for n in range(draw(st.integers(0, 5))):
        sessions.append(
            WorldSession(
                id=f"IMP-W{n}",
                admin=draw(someone()),
                ticket_id=draw(st.none() | st.sampled_from(ticket_ids)) if ticket_ids else None,
                state=draw(st.sampled_from(["open", "ended"])),
            )
        )

    rollouts = []
    for n in range(draw(st.integers(0, 5))):
        rollouts.append(
            WorldRollout(
                id=f"RO-W{n}",
                state=_pick(draw, ROLLOUT_STATES),
                owner=draw(someone() | st.sampled_from([spec.incoming for spec in specs])),
                ramp_percent=draw(st.sampled_from([0.0, 5.0, 25.0, 50.0, 100.0, 12.5])),
                error_rate=draw(st.none() | st.sampled_from([0.0, 0.4, 3.1, 100.0])),
            )
        )

    overrides = []
    if on_pagerduty and _sometimes(draw, 2):
        start, end = draw(st.sampled_from([("-1h", "+3h"), ("now", "+2h"), ("+1d", "+2d"), ("-3h", "-1h")]))
        overrides.append(WorldOverride(person=draw(st.sampled_from(on_pagerduty)), start=start, end=end))
    annotated = tuple(r.id for r in rollouts if _sometimes(draw, 2))
    return World(
        people=tuple(team),
        handovers=specs,
        incidents=tuple(incidents),
        tickets=tuple(tickets),
        sessions=tuple(sessions),
        rollouts=tuple(rollouts),
        overrides=tuple(overrides),
        annotated=annotated,
        bulk_inputs=_sometimes(draw),
        resolver=draw(st.sampled_from([NOBODY, *on_pagerduty])),
        capitalized=_sometimes(draw, 3),
    )


# --- the scenario ----------------------------------------------------------------------------


def scenario(world: World) -> dict:
    """The sandbox scenario for the world, with the ids the worker uses (handover/settings.py)."""
    people = world.people
    pagerduty_users = [
        {"id": p.pagerduty_id, "name": p.name, "email": p.email, "role": "admin"}
        for p in people
        if p.pagerduty
    ] + [{"id": SERVICE_PAGERDUTY_ID, "name": "On-call handover service", "email": SERVICE_EMAIL}]
    rotation = [p.pagerduty_id for p in people if p.pagerduty] or [SERVICE_PAGERDUTY_ID]
    incidents = []
    for item in world.incidents:
        incidents.append(
            {
                "id": item.id,
                "number": item.number,
                "title": f"{TEXTS[item.number % len(TEXTS)]} (#{item.number})",
                "service": item.service,
                "status": item.status,
                "urgency": item.urgency,
                "created_at": f"-{1 + item.number % 5}h",
                "assignees": [people[a].pagerduty_id for a in item.assignees],
                "notes": [
                    {"user": people[a].pagerduty_id, "at": "-30m", "content": f"Notiz von {people[a].name} ✍️"}
                    for a in item.assignees[:1]
                ],
            }
        )
    slack_users = [
        {"id": p.slack_id, "name": f"p{p.number}", "real_name": p.name, "email": p.email}
        for p in people
        if p.slack
    ]
    messages = [
        {
            "at": f"-{10 + 5 * number}m",
            "user": user["id"],
            "text": f"{user['real_name']}: {TEXTS[number % len(TEXTS)]}",
            "replies": [{"at": "-5m", "user": user["id"], "text": "👀 on it"}] if number == 0 else [],
        }
        for number, user in enumerate(slack_users[:3])
    ]
    admins = [
        {
            "email": p.email,
            "name": p.name,
            "platform_admin": p.platform != "not_admin",
            "active": p.platform != "inactive",
        }
        for p in people
        if p.platform != "missing"
    ] + [{"email": SERVICE_EMAIL, "name": "On-call handover service"}]
    tickets = [
        {
            "id": t.id,
            "subject": f"Kunde meldet: {TEXTS[n % len(TEXTS)]}",
            "customer": "Société Générale des Nuages",
            "state": t.state,
            "assignee": world.platform_email(t.assignee),
            "pinned": t.pinned,
            "labels": list(t.labels),
            "engineering_issue": t.engineering_issue,
            "updated_at": f"-{n + 1}h",
            "comments": [{"author": "customer", "at": "-2h", "body": "¿Alguna novedad? 🙏"}],
        }
        for n, t in enumerate(world.tickets)
    ]
    sessions = [
        {
            "id": s.id,
            "admin": world.platform_email(s.admin),
            "ticket_id": s.ticket_id,
            "state": s.state,
            "started_at": "-50m",
            **({"ended_at": "-20m", "ended_by": world.platform_email(s.admin)} if s.state == "ended" else {}),
        }
        for s in world.sessions
    ]
    rollouts = [
        {
            "id": r.id,
            "flag": f"vms.flag-{r.id.lower()}",
            "state": r.state,
            "ramp_percent": r.ramp_percent,
            "error_rate": r.error_rate,
            "owner": world.platform_email(r.owner),
            "updated_at": "-3h",
        }
        for r in world.rollouts
    ]
    annotations = [
        {
            "id": f"ANN-OLD-{rollout_id}",
            "rollout_id": rollout_id,
            "author": world.platform_email(0),
            "owner": world.platform_email(0),
            "ramp_percent": 10,
            "error_rate": 0.5,
            "next_step": "Von der letzten Übergabe: +10% morgen",
            "handover_id": None,
            "created_at": "-7d",
        }
        for rollout_id in world.annotated
    ]
    return {
        "name": "generated world",
        "description": describe(world),
        "tokens": {
            "pagerduty_token": "sandbox-pagerduty-token",
            "slack_bot_token": "xoxb-sandbox-bot-token",
            "platform_token": "sandbox-platform-token",
        },
        "pagerduty": {
            "users": pagerduty_users,
            "services": [{"id": s, "name": f"Service {s}"} for s in PLATFORM_OPS + OTHER_SERVICES],
            "schedules": [
                {
                    "id": SCHEDULE,
                    "name": "Platform primary",
                    "rotation_users": rotation,
                    "rotation_start": "-2d",
                    "overrides": [
                        {"user": people[o.person].pagerduty_id, "start": o.start, "end": o.end}
                        for o in world.overrides
                    ],
                }
            ],
            "incidents": incidents,
        },
        "slack": {
            "team": {"id": "T0NOVALIEN", "name": "Novalien", "domain": "novalien"},
            "bot": {
                "user_id": "U0HANDOVER",
                "bot_id": "B0HANDOVER",
                "app_id": "A0HANDOVER",
                "name": "oncall-handover",
            },
            "users": slack_users,
            "channels": [{"id": CHANNEL, "name": "novavms-platform-ops", "messages": messages}],
        },
        "platform": {
            "admins": admins,
            "tickets": tickets,
            "impersonation_sessions": sessions,
            "rollouts": rollouts,
            "annotations": annotations,
        },
    }
