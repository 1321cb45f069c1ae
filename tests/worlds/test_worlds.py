"""Generated worlds, not one scenario: every world keeps the runbook's invariants.

Hypothesis makes teams' data (tests/worlds/generate.py: people missing from one system, shared
incidents, rollouts owned by others, nulls, two handovers at once); each world is loaded into the
sandbox, a plan is made per handover, then the handovers run on a time-skipping server of the
world's own with simulated people answering (tests/worlds/people.py); tests/worlds/invariants.py
checks the runbook's invariants on what happened.

Running it:

- `make test` runs 100 worlds, the same ones every run (`derandomize`), without shrinking a
  failure (the budget): a failure prints the falsifying `World(...)`, its summary (people,
  handovers, items), every broken invariant, and a `@reproduce_failure(...)` blob.
- `HANDOVER_WORLDS=5000 .venv/bin/python -m pytest tests/worlds -q` runs that many worlds from a
  random seed and shrinks a failure to a small world; the failure prints
  `reproduce: HANDOVER_WORLDS=5000 HYPOTHESIS_SEED=<seed>`.
- Reproduce: the same `HANDOVER_WORLDS` with `HYPOTHESIS_SEED=<seed>` (or `@seed(<seed>)` above the
  test); or paste the printed `@reproduce_failure(...)` above the test; or keep the printed
  `world = World(...)` as an entry of `SMALL_WORLDS` below, which run on every `make test`.
- `HANDOVER_WORLDS_SHRINK=0|1` turns shrinking off or on whatever the count.
"""

from __future__ import annotations

import os
import random

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, given, note

from sandbox.state import DEMO_SCENARIO
from tests.worlds.generate import (
    HandoverSpec,
    Person,
    World,
    WorldIncident,
    WorldOverride,
    WorldRollout,
    WorldSession,
    WorldTicket,
    describe,
    worlds,
)
from tests.worlds.invariants import check_world
from tests.worlds.run import run_world

COUNT = int(os.environ.get("HANDOVER_WORLDS", "100"))
EXPLORING = "HANDOVER_WORLDS" in os.environ or "HYPOTHESIS_SEED" in os.environ
"""Asked for by hand: random worlds from a seed (printed with a failure), shrunk to a small one."""
SEED = int(os.environ.get("HYPOTHESIS_SEED") or random.randrange(2**32)) if EXPLORING else None
SHRINK = os.environ.get("HANDOVER_WORLDS_SHRINK", "1" if EXPLORING else "0") == "1"


@pytest.fixture(scope="module", autouse=True)
def back_to_the_demo(sandbox):
    """The session's sandbox serves the demo to every other test: put it back afterwards."""
    yield
    sandbox.reset(DEMO_SCENARIO)


def _settings(test):
    test = hypothesis.settings(
        max_examples=COUNT,
        deadline=None,  # a world is a whole handover: seconds
        derandomize=not EXPLORING,
        database=None,  # nothing written into the work tree; reproduce with the printed seed or blob
        phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else []),
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(test)
    return hypothesis.seed(SEED)(test) if SEED is not None else test


@_settings
@given(world=worlds())
async def test_every_world_keeps_the_runbooks_invariants(world, sandbox, settings, activity_executor):
    if SEED is not None:
        note(f"reproduce: HANDOVER_WORLDS={COUNT} HYPOTHESIS_SEED={SEED}")
    note(describe(world))
    note(f"world = {world!r}")  # (Python: paste it into SMALL_WORLDS to keep the world)
    run = await run_world(world, sandbox, settings, activity_executor)
    check_world(run)


# --- small worlds, each the smallest found for one way a handover can go wrong ----------------


def person(number: int, **defects) -> Person:
    return Person(number, ("Zoë Ångström", "李小龙", "José Núñez", "🚀 Rocket")[number], **defects)


TEAM = (person(0), person(1), person(2))
PLANNED = (HandoverSpec(0, 1),)
INCAPACITATED = (HandoverSpec(0, 1, "emergency", "incapacitated: no answer on the phone"),)
COMPROMISED = (HandoverSpec(0, 1, "emergency", "compromised: laptop stolen", offboarding=True),)

SMALL_WORLDS = {
    "a paused rollout owned by someone else is left alone": World(
        TEAM, PLANNED, rollouts=(WorldRollout("RO-W0", "paused", owner=2),)
    ),
    "an incident assigned to outgoing and another keeps the other": World(
        TEAM, PLANNED, incidents=(WorldIncident("QW0", 7000, "PPLATOPS", "triggered", (0, 2)),)
    ),
    "an incident shared by two outgoing admins ends with both incoming admins": World(
        (*TEAM, person(3)),
        (HandoverSpec(0, 1), HandoverSpec(2, 3)),
        incidents=(WorldIncident("QW0", 7000, "PPLATOPS", "triggered", (0, 2)),),
    ),
    "two handovers to the same incoming admin each make their own override": World(
        TEAM, (HandoverSpec(0, 1), HandoverSpec(2, 1))
    ),
    "an override set by hand for the incoming admin is not claimed": World(
        TEAM, PLANNED, overrides=(WorldOverride(1, "now", "+2h"),)
    ),
    "an unknown error rate is not annotated as 0 in an emergency": World(
        TEAM, INCAPACITATED, rollouts=(WorldRollout("RO-W0", "ramping", owner=0, error_rate=None),)
    ),
    "a solved pinned ticket does not stop the inventory": World(
        TEAM, PLANNED, tickets=(WorldTicket("SUP-W0", "solved", pinned=True, assignee=0),)
    ),
    "emails the platform writes capitalized are still outgoing's": World(
        TEAM, PLANNED, tickets=(WorldTicket("SUP-W0", "waiting_on_customer", True, 0),), capitalized=True
    ),
    "an incoming admin with no Slack account is refused at step 0": World(
        (person(0), person(1, slack=False)), PLANNED
    ),
    "an outgoing admin with no Slack account is refused at step 0": World(
        (person(0, slack=False), person(1)), PLANNED
    ),
    "an outgoing admin with no PagerDuty user is refused at step 0": World(
        (person(0, pagerduty=False), person(1)), PLANNED
    ),
    "an outgoing admin with no platform entry is refused at step 0": World(
        (person(0, platform="missing"), person(1)), PLANNED
    ),
    "an inactive incoming admin is refused at step 0": World(
        (person(0), person(1, platform="inactive")), PLANNED
    ),
    "an incoming admin who is no platform admin is refused at step 0": World(
        (person(0), person(1, platform="not_admin")), PLANNED
    ),
    "an incident resolved by someone else mid-handover is skipped": World(
        TEAM,
        PLANNED,
        incidents=(WorldIncident("QW0", 7000, "PPLATOPS", "triggered", (0,), resolved_mid_handover=True),),
        resolver=2,
    ),
    "an emergency handover skips an incident resolved meanwhile": World(
        TEAM,
        INCAPACITATED,
        incidents=(WorldIncident("QW0", 7000, "PPLATAPI", "acknowledged", (0,), resolved_mid_handover=True),),
    ),
    "a pinned ticket another admin impersonates on fails with the reason": World(
        TEAM,
        PLANNED,
        tickets=(WorldTicket("SUP-W0", "active", True, 0),),
        sessions=(WorldSession("IMP-W0", 2, "SUP-W0"),),
    ),
    "a session of outgoing ended before a refused reassignment is still audited": World(
        TEAM,
        (HandoverSpec(0, 1, offboarding=True),),
        tickets=(WorldTicket("SUP-W0", "waiting_on_customer", True, 0),),
        sessions=(WorldSession("IMP-W0", 1, "SUP-W0"), WorldSession("IMP-W1", 0, "SUP-W0")),
    ),
    "compromised: every open session of outgoing is ended, no one else's": World(
        TEAM,
        COMPROMISED,
        tickets=(WorldTicket("SUP-W0", "active", True, 0),),
        sessions=(
            WorldSession("IMP-W0", 0, "SUP-W0"),
            WorldSession("IMP-W1", 0, None),
            WorldSession("IMP-W2", 2, None),
        ),
    ),
    "routine: no override, status paragraphs still": World(
        TEAM,
        (HandoverSpec(0, 1, "routine"),),
        incidents=(WorldIncident("QW0", 7000, "PPLATAPI", "acknowledged", (0,)),),
    ),
}


@pytest.mark.parametrize("world", SMALL_WORLDS.values(), ids=SMALL_WORLDS.keys())
async def test_small_world_keeps_the_runbooks_invariants(world, sandbox, settings, activity_executor):
    run = await run_world(world, sandbox, settings, activity_executor)
    check_world(run)
