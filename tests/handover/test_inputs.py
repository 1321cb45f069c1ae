"""Every human input is declared once (handover/inputs.py), and everything people give it through
is made from that declaration or checked against it here: the workflow's Update (with its
validator) and Signal twin, the endpoint's route, the CLI's subcommand, the console's form."""

import re
from pathlib import Path

import pytest
from temporalio.workflow import _Definition

import starter
from devstack import people
from devstack.people import Role
from endpoint.console import DECLARATIONS
from endpoint.handovers import router
from handover import decisions, inputs
from handover.errors import AlreadyDone, NotAllowed, NotReady, UnknownItem
from handover.inputs import INPUTS, Declared
from handover.models import (
    ITEM_KINDS,
    HandoverProgress,
    IncidentAckInput,
    IncidentHandover,
    IncidentsStatusInput,
    IncidentStatusInput,
    InputKind,
)
from tests.handover.examples import ALICE, BOB, INCIDENT, NOW, request
from workflows.handover import HandoverWorkflow

CONSOLE = Path(__file__).resolve().parents[2] / "endpoint" / "static" / "console.js"
ids = [declared.name for declared in INPUTS]


def test_every_kind_is_declared_once():
    assert sorted(d.kind for d in INPUTS) == sorted(InputKind)
    assert len({d.command for d in INPUTS}) == len({d.path for d in INPUTS}) == len(INPUTS)


@pytest.mark.parametrize("declared", INPUTS, ids=ids)
def test_the_workflow_takes_it_as_an_update_with_a_validator_and_as_a_signal(declared: Declared):
    definition = _Definition.from_class(HandoverWorkflow)
    assert definition is not None
    update, signal = definition.updates.get(declared.name), definition.signals.get(declared.name)
    assert update is not None and signal is not None, f"HandoverWorkflow lacks {declared.name}"
    assert update.validator is not None
    assert update.arg_types == signal.arg_types == [declared.model]


@pytest.mark.parametrize("declared", INPUTS, ids=ids)
def test_the_endpoint_has_its_route_and_sends_it(declared: Declared):
    posts = {route.path: route for route in router.routes if "POST" in getattr(route, "methods", ())}
    assert declared.path in posts, f"no POST {declared.path}"
    assert posts[declared.path].endpoint.declared is declared
    if declared.item and "{item}" in declared.route:
        assert "{" + declared.item + "}" in declared.path


def closed_over(function) -> dict:
    """What a CLI subcommand's `run` closes over: its declaration and its payload's builder."""
    cells = [cell.cell_contents for cell in function.__closure__]
    return dict(zip(function.__code__.co_freevars, cells, strict=True))


@pytest.mark.parametrize("declared", INPUTS, ids=ids)
def test_the_cli_has_its_subcommand_and_sends_it(declared: Declared):
    commands = next(a for a in starter.parser()._actions if a.dest == "command").choices
    assert declared.command in commands, f"no `starter.py {declared.command}`"
    assert closed_over(commands[declared.command].get_default("run"))["declared"] is declared


@pytest.mark.parametrize("declared", INPUTS, ids=ids)
def test_the_console_offers_it_where_declared(declared: Declared):
    """A hand-made card, or the plain form console.js makes from the declaration (every field a
    text or a number: GET /console/declarations); neither where the declaration says not."""
    tail = re.escape("/" + declared.route).replace(re.escape("{item}"), r"\$\{encodeURIComponent\(id\)\}")
    hand_made = re.search(tail + "`", CONSOLE.read_text()) is not None
    served = next(each for each in DECLARATIONS["inputs"] if each["name"] == declared.name)
    assert served["in_console"] is declared.in_console
    if not declared.in_console:
        assert not hand_made, f"console.js offers {declared.route}, declared not in the console"
        return
    schema = declared.body.model_json_schema() if declared.body else {"properties": {}}
    for name, field in schema["properties"].items():
        types = {field.get("type")} | {choice.get("type") for choice in field.get("anyOf", [])}
        plain = types - {None} <= {"string", "number", "integer", "null"}
        assert hand_made or plain, f"{declared.name}.{name} needs a hand-made card in console.js"


# --- the checks and applies are plain functions --------------------------------------------------

OUT, IN = ALICE.email, BOB.email


def progress() -> HandoverProgress:
    return HandoverProgress(
        handover_id="h",
        request=request(),
        started_at=NOW,
        outgoing=ALICE,
        incoming=BOB,
        inventory_at=NOW,
        incidents=[IncidentHandover(incident=INCIDENT.model_copy(update={"id": "P1"}))],
    )


def status(actor: str = OUT, incident: str = "P1") -> IncidentStatusInput:
    return IncidentStatusInput(
        actor=actor,
        incident_id=incident,
        hypothesis="the disk filled up with logs",
        last_action="rotated the logs by hand",
        next_action="cap the log volume",
    )


def test_a_status_is_recorded_once_and_only_from_the_outgoing_admin():
    known = progress()
    with pytest.raises(NotAllowed, match="status paragraphs come from the outgoing admin"):
        inputs.check_status(known, status(actor=IN))
    with pytest.raises(UnknownItem, match="incident P9 is not part of handover h"):
        inputs.check_status(known, status(incident="P9"))
    accepted = inputs.STATUS.accepted(status(), inputs.apply_status(known, status(), NOW))
    assert accepted.item_id == "P1" and known.incidents[0].status_given.at == NOW
    assert accepted.message == "status paragraph received; the note is posted and the incident reassigned"
    with pytest.raises(AlreadyDone, match="was given by alice@novalien.com at 15:04 UTC"):
        inputs.check_status(known, status())


def test_an_acknowledgement_waits_for_the_status_paragraph():
    known = progress()
    ack = IncidentAckInput(actor=IN, incident_id="P1")
    with pytest.raises(NotReady, match="has no status paragraph yet"):
        inputs.check_incident_ack(known, ack)
    inputs.apply_status(known, status(), NOW)
    assert inputs.apply_incident_ack(known, ack, NOW) == "acknowledged; PagerDuty is updated"


def test_an_input_without_hand_written_help_gets_its_subcommand_from_the_declaration(monkeypatch):
    """A new input needs no CLI code: its item is the first argument and each body field an option."""
    monkeypatch.delitem(starter.INPUT_COMMANDS, InputKind.ROLLOUT_ANNOTATION)
    args = starter.parser().parse_args(
        ["annotate", "h", "RO-1", "--ramp-percent", "25", "--error-rate", "0.4"]
        + ["--next-step", "to 50% on Monday if errors stay low", "--as", ALICE.email]
    )
    given = closed_over(args.run)["build"](args)
    assert given == inputs.ROLLOUT_ANNOTATION.model(
        actor=ALICE.email,
        rollout_id="RO-1",
        ramp_percent=25,
        error_rate=0.4,
        next_step="to 50% on Monday if errors stay low",
    )


def test_the_input_that_posts_before_it_records_gets_no_generated_handlers():
    from handover.handlers import handlers

    with pytest.raises(ValueError, match="writes before it records"):
        handlers(inputs.UNCLEAR_THREAD)


def test_the_people_give_every_input_an_item_owes_even_one_they_have_no_words_for():
    """The one people driver (devstack/people.py) answers each input a kind's items owe, by the
    giver its declaration names; an input added later gets its text fields filled, naming the item."""
    owed = {input_kind for kind in ITEM_KINDS for input_kind in kind.owes}
    assert owed | {InputKind.SUMMARY_ACK} == set(people.KINDS[Role.OUTGOING] + people.KINDS[Role.INCOMING])
    given = people.plain_answer(inputs.STATUS, INCIDENT.id, progress())
    assert given == IncidentStatusInput(
        actor=OUT,
        incident_id=INCIDENT.id,
        hypothesis=f"hypothesis for {INCIDENT.id}",
        last_action=f"last action for {INCIDENT.id}",
        next_action=f"next action for {INCIDENT.id}",
    )
    assert people.plain_answer(inputs.ROLLOUT_OWNERSHIP, "RO-1", progress()).actor == IN


# --- one status for incidents that share a cause -------------------------------------------------


def storm(*titles: tuple[str, str]) -> HandoverProgress:
    """Alice's handover with one incident per (id, title), on service P unless the title says `@S`."""
    items = []
    for incident_id, title in titles:
        text, _, service = title.partition("@")
        changes = {"id": incident_id, "title": text.strip(), "service_id": service or "P"}
        items.append(IncidentHandover(incident=INCIDENT.model_copy(update=changes)))
    return progress().model_copy(update={"incidents": items})


def group_status(ids: list[str], actor: str = OUT) -> IncidentsStatusInput:
    return IncidentsStatusInput(
        actor=actor,
        incident_ids=ids,
        hypothesis="the shared NFS mount is full",
        last_action="paused the log shipper",
        next_action="grow the volume by 200 GB",
    )


def test_one_status_for_several_incidents_is_recorded_for_each():
    known = storm(("P1", "Disk full on db-1"), ("P2", "Disk full on db-22"), ("P3", "Latency"))
    message = inputs.apply_group_status(known, group_status(["P1", "P2", "P1"]), NOW)
    assert message == "status paragraph received for 2 incidents; each gets its note and is reassigned"
    p1, p2, p3 = known.incidents
    assert p1.status == p2.status and p1.status.hypothesis == "the shared NFS mount is full"
    assert p1.status_given.via == "one status for 2 incidents" and p2.status_given.by == OUT
    assert p3.status is None and p3.status_given is None


def test_one_status_for_several_is_refused_whole_with_the_incidents_named():
    known = storm(*[(f"P{n}", "Disk full") for n in range(1, 9)])
    inputs.apply_status(known, status(incident="P1"), NOW)
    with pytest.raises(AlreadyDone, match=r"incident P1 has a status already .*alice@novalien.com"):
        inputs.check_group_status(known, group_status(["P2", "P1"]))
    with pytest.raises(UnknownItem, match="incidents P9, P10 are not part of handover h"):
        inputs.check_group_status(known, group_status(["P2", "P9", "P10"]))
    many = [f"X{n}" for n in range(7)]
    with pytest.raises(UnknownItem, match=r"incidents X0, X1, X2, X3, X4 and 2 more are not"):
        inputs.check_group_status(known, group_status(many))
    with pytest.raises(NotAllowed, match="status paragraphs come from the outgoing admin"):
        inputs.check_group_status(known, group_status(["P2"], actor=IN))
    assert [item.status_given is None for item in known.incidents] == [False] + [True] * 7, "none changed"
    unlisted = known.model_copy(update={"inventory_at": None})
    with pytest.raises(NotReady, match="not listed yet"):
        inputs.check_group_status(unlisted, group_status(["P2"]))


def test_the_groups_suggested_are_one_service_and_one_title_apart_from_numbers():
    known = storm(
        ("P1", "Disk full on db-1"),
        ("P2", "Disk  full on db-22"),
        ("P3", "disk full on DB-3"),
        ("P4", "Disk full on db-4 @Q"),
        ("P5", "Latency over 500ms"),
        ("P6", "Latency over 900ms"),
        ("P7", "Certificate expires"),
    )
    groups = decisions.status_groups(known)
    assert [(g.label, g.incident_ids) for g in groups] == [
        ("Disk full on db-# (s)", ["P1", "P2", "P3"]),
        ("Latency over #ms (s)", ["P5", "P6"]),
    ]
    inputs.apply_group_status(known, group_status(["P5", "P6"]), NOW)
    assert [g.incident_ids for g in decisions.status_groups(known)] == [["P1", "P2", "P3"]]
    emergency = known.model_copy(
        update={"request": request(variant="emergency", reason="incapacitated: sick")}
    )
    assert decisions.status_groups(emergency) == []
