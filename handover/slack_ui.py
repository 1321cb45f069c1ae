"""What people see and press in Slack: each admin's asks in the announcement's thread (Block Kit
buttons), the modals those buttons open, and a modal's submission read back into a declared input
(handover/inputs.py).

Pure: the workflow posts the asks and keeps them current (workflows/asks.py); the endpoint opens
the modals and sends what people press or submit through the same input path as its routes
(endpoint/slack.py). A button's value says which handover and item it is for; who pressed it is
Slack's signed user, never a value.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handover import decisions, inputs
from handover.errors import InvalidInput, invalid_fields
from handover.inputs import Declared
from handover.messages import mention
from handover.models import (
    Admin,
    Done,
    HandoverProgress,
    IncidentGroup,
    IncidentHandover,
    InputKind,
    Model,
    Outcome,
    RolloutHandover,
    TicketHandover,
)
from handover.text import format_clock

ACTIONS: dict[str, Declared[Any]] = {
    "handover.write_status": inputs.STATUS,
    "handover.write_group_status": inputs.GROUP_STATUS,
    "handover.link_issue": inputs.ENGINEERING_LINK,
    "handover.annotate": inputs.ROLLOUT_ANNOTATION,
    "handover.ack_incident": inputs.INCIDENT_ACK,
    "handover.ack_all": inputs.ALL_INCIDENTS_ACK,
    "handover.own_rollout": inputs.ROLLOUT_OWNERSHIP,
    "handover.own_all": inputs.ALL_ROLLOUTS_OWNERSHIP,
    "handover.ack_summary": inputs.SUMMARY_ACK,
}
"""Each button of the asks, by its action id, and the input it gives. An input with a body (what
a person writes) opens a modal; one without is given by the press."""
FORMS = [declared for declared in ACTIONS.values() if declared.body is not None]
"""The inputs given in a modal (what a person writes)."""
FORM_CALLBACK = "handover.input"
"""The modals' `callback_id`: a submission of one is a handover input."""
SHOWN = 8
"""Items of a kind the asks list with their own button; the rest are counted (an alert storm has
thousands: one status for many, "Acknowledge all", or the console)."""
DONE_SHOWN = 8
"""The latest "who did what and when" lines the asks keep."""
OPTIONS = 100
"""Options a Slack select takes at most."""
TEXT = 2000
"""Characters of a written part (a status paragraph's, an annotation's next step)."""


class SlackAsk(Model):
    """One admin's message in the thread: its text (notifications, screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]]


def esc(text: str) -> str:
    """Text from PagerDuty or the platform, made inert in Slack's mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, at: int = 150) -> str:
    return text if len(text) <= at else text[: at - 1] + "…"


def value(progress: HandoverProgress, item_id: str | None = None) -> str:
    """A button's value: the handover (its run: the id is an admin's, reused every week) and the
    item it is for."""
    return json.dumps({"h": progress.handover_id, "r": progress.run_id, "i": item_id}, separators=(",", ":"))


@dataclass(frozen=True)
class Pressed:
    """What a button or a modal is for: the handover (and its run), the input and the item."""

    handover_id: str
    run_id: str
    declared: Declared[Any]
    item_id: str | None

    @classmethod
    def of_button(cls, action_id: str, button_value: str) -> Pressed:
        declared = ACTIONS.get(action_id)
        if declared is None:
            raise InvalidInput(f"{action_id} is not one of the handover's buttons")
        handover_id, run_id, item_id = _read_value(button_value, "button")
        return cls(handover_id, run_id, declared, item_id)

    @classmethod
    def of_form(cls, private_metadata: str) -> Pressed:
        try:
            declared = inputs.BY_KIND[InputKind(json.loads(private_metadata)["k"])]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("this form is not one of the handover's") from None
        if declared not in FORMS:
            raise InvalidInput("this form is not one of the handover's")
        handover_id, run_id, item_id = _read_value(private_metadata, "form")
        return cls(handover_id, run_id, declared, item_id)

    @property
    def metadata(self) -> str:
        """A form's `private_metadata`: what it is for (Slack gives it back with the submission)."""
        found = {"h": self.handover_id, "r": self.run_id, "k": self.declared.kind.value, "i": self.item_id}
        return json.dumps(found, separators=(",", ":"))


def _read_value(raw: str, what: str) -> tuple[str, str, str | None]:
    wrong = InvalidInput(f"this {what} is not one of the handover's")
    try:
        found = json.loads(raw)
        handover_id, run_id, item_id = found["h"], found.get("r", ""), found.get("i")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise wrong from None
    if not isinstance(handover_id, str) or not handover_id.startswith("handover-"):
        raise wrong
    if not isinstance(run_id, str) or (item_id is not None and not isinstance(item_id, str)):
        raise wrong
    return handover_id, run_id, item_id


# --- the asks: what each admin owes, with a button each ------------------------------------------


def _section(text: str, button: dict | None = None) -> dict:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if button is not None:
        block["accessory"] = button
    return block


def _button(text: str, action_id: str, button_value: str, primary: bool = False) -> dict:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": button_value,
    }
    if primary:
        button["style"] = "primary"
    return button


def _context(lines: Sequence[str]) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": line} for line in lines[:10]]}


def _incident(item: IncidentHandover) -> str:
    incident = item.incident
    title = _cut(esc(incident.title))
    return f"*<{incident.html_url}|#{incident.number}>* {title} · {esc(incident.service_name)}"


def _ticket(item: TicketHandover) -> str:
    return f"*{esc(item.ticket.id)}* {_cut(esc(item.ticket.subject))} · {esc(item.ticket.customer)}"


def _rollout(item: RolloutHandover) -> str:
    rollout = item.rollout
    rate = "unknown" if rollout.error_rate is None else f"{rollout.error_rate:g}%"
    return f"*{esc(rollout.id)}* {esc(rollout.flag)} · ramp {rollout.ramp_percent:g}% · error rate {rate}"


def _listed(
    progress: HandoverProgress, items: Sequence[Any], line, label: str, action_id: str, more: str
) -> list[dict]:
    """A section a waiting item (up to SHOWN) with its button (`label`, for that item), then how
    many more wait, and `more`: how to give them all."""
    blocks = [
        _section(line(item), _button(label, action_id, value(progress, item.listed.id)))
        for item in items[:SHOWN]
    ]
    if len(items) > SHOWN:
        blocks.append(_context([f"…and {len(items) - SHOWN} more: {more}"]))
    return blocks


def _done(progress: HandoverProgress, marks: list[tuple[Done, str]]) -> list[dict]:
    """The latest "who did what and when", newest last."""
    marks = sorted(marks, key=lambda mark: mark[0].at)[-DONE_SHOWN:]
    people = {admin.email: admin for admin in (progress.outgoing, progress.incoming) if admin is not None}

    def who(done: Done) -> str:
        admin = people.get(done.by)
        return mention(admin) if admin is not None else esc(done.by)

    return [
        _context(
            [f":white_check_mark: {what} — {who(done)} at {format_clock(done.at)}" for done, what in marks]
        )
    ]


def _ended(progress: HandoverProgress, admin: Admin) -> SlackAsk:
    state = "cancelled" if progress.cancelled is not None else progress.phase.value
    text = f"{mention(admin)}: the handover has ended ({state}); nothing more is asked of you."
    return SlackAsk(text=text, blocks=[_section(text)])


MARKS = ("status_given", "acknowledged", "engineering_issue_given", "annotated", "owned")
"""Every item's `Done` fields the asks show (each set once, never unset)."""


@functools.cache
def _marks_of(kind: type) -> tuple[str, ...]:
    """The MARKS an item kind has (a pydantic model asked for a field it lacks raises, slowly: a
    fingerprint of 50 incidents took 0.7 ms, and it is taken at every step of a workflow task)."""
    return tuple(name for name in MARKS if name in kind.model_fields)  # type: ignore[attr-defined]


def fingerprint(progress: HandoverProgress) -> tuple:
    """Changes whenever what the asks show may have: an input given, an item finished, the summary,
    the phase. Counts only (each field goes one way once): cheap at every step of a storm."""
    given = finished = listed = 0
    for _, items in progress.items():
        listed += len(items)
        for item in items:
            finished += item.outcome is not Outcome.PENDING
            given += sum(getattr(item, name) is not None for name in _marks_of(type(item)))
    summary = progress.summary
    acknowledged = summary is not None and summary.acknowledged is not None
    return (
        progress.phase,
        progress.cancelled is not None,
        summary is not None,
        acknowledged,
        listed,
        finished,
        given,
    )


def settled(progress: HandoverProgress, role: str) -> SlackAsk:
    """An admin's asks once nothing is left to ask of them (their items finished without them)."""
    admin = progress.outgoing if role == "outgoing" else progress.incoming
    assert admin is not None
    text = f"{mention(admin)}: nothing more is needed from you here."
    return SlackAsk(text=text, blocks=[_section(text)])


def asks(progress: HandoverProgress, role: str) -> SlackAsk | None:
    """`role` ("outgoing" or "incoming")'s message in the thread once the inventory is taken, or
    None when this handover asks nothing of them at all."""
    admin = progress.outgoing if role == "outgoing" else progress.incoming
    if admin is None or progress.inventory_at is None:
        return None
    if progress.phase.ended or progress.cancelled is not None:
        return _ended(progress, admin)
    return _outgoing(progress, admin) if role == "outgoing" else _incoming(progress, admin)


def _pending(items: Sequence[Any]) -> list[Any]:
    return [item for item in items if item.outcome is Outcome.PENDING]


def _owing(progress: HandoverProgress) -> dict[tuple[InputKind, str], list[str]]:
    """(input, owner) → the items it is owed for, as the handover's pending inputs say."""
    found: dict[tuple[InputKind, str], list[str]] = {}
    for kind, owner, item_id, _ in decisions.owed(progress):
        found.setdefault((kind, owner), []).append(item_id or "")
    return found


def _items(items: Sequence[Any], ids: list[str]) -> list[Any]:
    wanted = set(ids)
    return [item for item in items if item.listed.id in wanted]


def _marks(admin: Admin, marks: list[tuple[Done | None, str]]) -> list[tuple[Done, str]]:
    """What this admin did (each `Done`, said as `what`)."""
    return [(done, what) for done, what in marks if done is not None and done.by == admin.email]


def _outgoing(progress: HandoverProgress, admin: Admin) -> SlackAsk | None:
    if not decisions.outgoing_can_answer(progress.request):
        return None  # (an emergency: the outgoing admin is gone, and the service stands in)
    owing = _owing(progress)
    status = _items(progress.incidents, owing.get((InputKind.STATUS, admin.email), []))
    links = _items(progress.tickets, owing.get((InputKind.ENGINEERING_LINK, admin.email), []))
    notes = _items(progress.rollouts, owing.get((InputKind.ROLLOUT_ANNOTATION, admin.email), []))
    marks = _marks(
        admin,
        [(i.status_given, f"status for #{i.incident.number}") for i in progress.incidents]
        + [(t.engineering_issue_given, f"{esc(t.ticket.id)} linked") for t in progress.tickets]
        + [(r.annotated, f"{esc(r.rollout.id)} annotated") for r in progress.rollouts],
    )
    owed = [
        _counted(len(status), "status paragraph", "status paragraphs"),
        _counted(len(links), "engineering issue", "engineering issues"),
        _counted(len(notes), "annotation", "annotations"),
    ]
    owed = [part for part in owed if part]
    if not owed and not marks:
        return None
    head = (
        f"{mention(admin)}, the handover needs from you: {', '.join(owed)}."
        if owed
        else f"{mention(admin)}: nothing more is needed from you. Thank you."
    )
    blocks = [_section(head)]
    blocks += _listed(
        progress,
        status,
        _incident,
        "Write status",
        "handover.write_status",
        "one status for several, or the console.",
    )
    if len(status) > 1:
        groups = decisions.status_groups(progress)
        hint = f" ({len(groups)} suggested by PagerDuty's titles)" if groups else ""
        several = _button(f"One status for several{hint}", "handover.write_group_status", value(progress))
        blocks.append({"type": "actions", "elements": [several]})
    blocks += _listed(
        progress,
        links,
        _ticket,
        "Link issue",
        "handover.link_issue",
        "the console, or `starter.py link-issue`.",
    )
    blocks += _listed(
        progress, notes, _rollout, "Annotate", "handover.annotate", "the console, or `starter.py annotate`."
    )
    if marks:
        blocks += _done(progress, marks)
    return SlackAsk(text=head, blocks=blocks)


def _incoming(progress: HandoverProgress, admin: Admin) -> SlackAsk | None:
    owing = _owing(progress)
    ready = _items(progress.incidents, owing.get((InputKind.INCIDENT_ACK, admin.email), []))
    annotated = _items(progress.rollouts, owing.get((InputKind.ROLLOUT_OWNERSHIP, admin.email), []))
    summary = (InputKind.SUMMARY_ACK, admin.email) in owing
    outgoing = progress.outgoing
    before = [InputKind.STATUS, InputKind.ROLLOUT_ANNOTATION]  # what comes to incoming once written
    later = sum(len(owing.get((kind, outgoing.email), [])) for kind in before) if outgoing else 0
    marks = _marks(
        admin,
        [(i.acknowledged, f"#{i.incident.number} acknowledged") for i in progress.incidents]
        + [(r.owned, f"{esc(r.rollout.id)} taken over") for r in progress.rollouts],
    )
    if not ready and not annotated and not summary and not later and not marks:
        return None
    owed = [
        _counted(len(ready), "incident to acknowledge", "incidents to acknowledge"),
        _counted(len(annotated), "rollout to take over", "rollouts to take over"),
    ]
    owed = [part for part in owed if part]
    who = mention(outgoing) if outgoing is not None else "the outgoing admin"
    if owed:
        head = f"{mention(admin)}, ready for you: {', '.join(owed)}."
    elif summary:
        head = f"{mention(admin)}, the summary is posted: acknowledge it, or give it a :+1:."
    elif later:
        head = f"{mention(admin)}: nothing is ready for you yet."
    else:
        head = f"{mention(admin)}: nothing more is needed from you here. Thank you."
    if later:
        head += f" {later} more once {who} has written them up."
    blocks = [_section(head)]
    if summary:
        button = _button("Acknowledge the summary", "handover.ack_summary", value(progress), primary=True)
        blocks.append({"type": "actions", "elements": [button]})
    if len(ready) > 1 or len(annotated) > 1:
        buttons = []
        if len(ready) > 1:
            buttons.append(
                _button(f"Acknowledge all ({len(ready)})", "handover.ack_all", value(progress), primary=True)
            )
        if len(annotated) > 1:
            buttons.append(
                _button(f"Take ownership of all ({len(annotated)})", "handover.own_all", value(progress))
            )
        blocks.append({"type": "actions", "elements": buttons})
    blocks += _listed(
        progress,
        ready,
        _incident_with_status,
        "Acknowledge",
        "handover.ack_incident",
        "*Acknowledge all* above.",
    )
    blocks += _listed(
        progress,
        annotated,
        _rollout_with_note,
        "Take ownership",
        "handover.own_rollout",
        "*Take ownership of all* above.",
    )
    if marks:
        blocks += _done(progress, marks)
    return SlackAsk(text=head, blocks=blocks)


def _incident_with_status(item: IncidentHandover) -> str:
    line = _incident(item)
    if item.status is not None:
        status = item.status
        parts = (
            ("Hypothesis", status.hypothesis),
            ("Last", status.last_action),
            ("Next", status.next_action),
        )
        line += "".join(f"\n_{name}:_ {_cut(esc(text), 300)}" for name, text in parts)
    return line


def _rollout_with_note(item: RolloutHandover) -> str:
    line = _rollout(item)
    if item.annotation is not None:
        line += f"\n_Next step:_ {_cut(esc(item.annotation.next_step), 300)}"
    return line


def _counted(count: int, one: str, many: str) -> str:
    """`1 status paragraph`, `3 status paragraphs`; empty for none."""
    return "" if not count else f"1 {one}" if count == 1 else f"{count} {many}"


# --- the modals ----------------------------------------------------------------------------------

NO_WORKER = (
    ":hourglass: No worker is answering right now: what you send is kept, and checked when one is back."
)
DRAFT_HINT = "A draft: the incident's latest note in PagerDuty. Confirm it or change it."


class FormErrors(Exception):
    """A submission Slack shows back in its modal: a sentence under each block it is about."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _input(
    block_id: str,
    label: str,
    *,
    multiline: bool = False,
    initial: str | None = None,
    hint: str | None = None,
    max_length: int = TEXT,
) -> dict:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _option(text: str, option_value: str) -> dict:
    return {"text": {"type": "plain_text", "text": _cut(text, 75)}, "value": option_value}


def group_key(group: IncidentGroup) -> str:
    """A suggested group in a select (an option's value is short): its label's digest. Read back
    against the groups as they are at the submission, so it is those still waiting."""
    return hashlib.sha256(group.label.encode()).hexdigest()[:16]


def _status_parts(draft: str | None = None) -> list[dict]:
    return [
        _input("hypothesis", "Current hypothesis", multiline=True),
        _input(
            "last_action", "Last action", multiline=True, initial=draft, hint=DRAFT_HINT if draft else None
        ),
        _input("next_action", "Next action", multiline=True),
    ]


def _find(items: Sequence[Any], item_id: str | None) -> Any | None:
    return next((item for item in items if item.listed.id == item_id), None)


def form(pressed: Pressed, progress: HandoverProgress | None) -> dict:
    """The modal a button opens, pre-filled with what the handover knows (PagerDuty's latest note,
    the console's figures). `progress` is None when no worker answers: a blank form, and a note."""
    declared, item_id = pressed.declared, pressed.item_id
    blocks: list[dict] = [] if progress is not None else [_context([NO_WORKER])]
    if declared is inputs.STATUS:
        title = "Status paragraph"
        incident = _find(progress.incidents, item_id) if progress else None
        blocks.append(_section(_incident(incident) if incident else f"Incident *{esc(item_id or '?')}*"))
        blocks += _status_parts(incident.draft if incident else None)
    elif declared is inputs.GROUP_STATUS:
        title = "One status for several"
        blocks += _group_picker(progress) + _status_parts()
    elif declared is inputs.ENGINEERING_LINK:
        title = "Engineering issue"
        ticket = _find(progress.tickets, item_id) if progress else None
        blocks.append(_section(_ticket(ticket) if ticket else f"Ticket *{esc(item_id or '?')}*"))
        blocks.append(
            _input("issue", "Engineering issue", hint="A URL or an issue key, e.g. ENG-1234.", max_length=500)
        )
    elif declared is inputs.ROLLOUT_ANNOTATION:
        title = "Annotate the rollout"
        rollout = _find(progress.rollouts, item_id) if progress else None
        blocks.append(_section(_rollout(rollout) if rollout else f"Rollout *{esc(item_id or '?')}*"))
        ramp = f"{rollout.rollout.ramp_percent:g}" if rollout else None
        rate = (
            None
            if rollout is None
            else "unknown"
            if rollout.rollout.error_rate is None
            else f"{rollout.rollout.error_rate:g}"
        )
        blocks += [
            _input(
                "ramp_percent",
                "Ramp %",
                initial=ramp,
                max_length=10,
                hint="The console's figure: correct it if you know better.",
            ),
            _input(
                "error_rate", "Error rate %", initial=rate, max_length=10, hint="A percentage, or unknown."
            ),
            _input(
                "next_step",
                "Next planned ramp step",
                multiline=True,
                hint="e.g. 50% on Monday if errors stay under 0.5%",
            ),
        ]
    else:
        raise InvalidInput(f"{declared.name} takes no form: it is given by its button")
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": pressed.metadata,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def waiting_for_status(progress: HandoverProgress) -> list[IncidentHandover]:
    """The incidents that wait for a status paragraph now."""
    return [i for i in _pending(progress.incidents) if i.status_given is None]


def _group_picker(progress: HandoverProgress | None) -> list[dict]:
    """A suggested group, or incidents picked one by one (the first OPTIONS waiting), or both."""
    if progress is None:
        return [
            _input(
                "incident_ids", "Incidents", hint="Their PagerDuty ids, separated by commas.", max_length=3000
            )
        ]
    blocks: list[dict] = []
    groups = decisions.status_groups(progress)
    if groups:
        options = [_option(f"{g.label}: {len(g.incident_ids)}", group_key(g)) for g in groups[:OPTIONS]]
        blocks.append(
            {
                "type": "input",
                "block_id": "group",
                "optional": True,
                "label": {"type": "plain_text", "text": "A group PagerDuty's titles suggest"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
                "hint": {
                    "type": "plain_text",
                    "text": "Every incident of the group still waiting for a status.",
                },
            }
        )
    waiting = waiting_for_status(progress)
    if waiting:
        options = [
            _option(f"#{i.incident.number} {i.incident.title}", i.incident.id) for i in waiting[:OPTIONS]
        ]
        more = (
            f" The first {OPTIONS} of {len(waiting)}: pick a group for the rest, or use the console."
            if len(waiting) > OPTIONS
            else ""
        )
        blocks.append(
            {
                "type": "input",
                "block_id": "incident_ids",
                "optional": True,
                "label": {"type": "plain_text", "text": "Incidents"},
                "element": {"type": "multi_static_select", "action_id": "value", "options": options},
                "hint": {"type": "plain_text", "text": f"Pick them, with or without a group.{more}"},
            }
        )
    return blocks


def _values(state: dict) -> dict[str, Any]:
    """A modal's `view.state.values` as {block id: what was entered}."""
    fields: dict[str, Any] = {}
    for block_id, actions in (state or {}).items():
        element = next(iter(actions.values()), {}) if isinstance(actions, dict) and actions else {}
        kind = element.get("type")
        if kind == "static_select":
            fields[block_id] = (element.get("selected_option") or {}).get("value")
        elif kind in ("multi_static_select", "checkboxes"):
            fields[block_id] = [option.get("value") for option in element.get("selected_options") or []]
        else:
            fields[block_id] = element.get("value")
    return fields


def _figure(text: Any) -> Any:
    """A number as people type it (`25`, `0.4%`); `unknown` or nothing is None; anything else is
    left for the model to refuse with its sentence."""
    if text is None or str(text).strip().lower() in ("", "unknown", "n/a", "-"):
        return None
    try:
        return float(str(text).strip().rstrip("%"))
    except ValueError:
        return text


def written(pressed: Pressed, state: dict, progress: HandoverProgress | None) -> dict[str, Any]:
    """What the modal's submission says, as its input's body (the same checks as the endpoint's
    routes). Raises FormErrors with a sentence under each block that is wrong."""
    declared = pressed.declared
    fields = _values(state)
    if declared is inputs.GROUP_STATUS:
        fields["incident_ids"] = _picked(fields, progress)
        fields.pop("group", None)
    if declared is inputs.ROLLOUT_ANNOTATION:
        fields["ramp_percent"] = _figure(fields.get("ramp_percent"))
        fields["error_rate"] = _figure(fields.get("error_rate"))
    assert declared.body is not None
    try:
        body = declared.body(**{name: fields.get(name) for name in declared.body.model_fields})
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            block = str(problem["loc"][0]) if problem.get("loc") else next(iter(fields), "")
            errors.setdefault(block, invalid_fields([problem], skip=(block,)))
        raise FormErrors(errors) from None
    return body.model_dump()


def _picked(fields: dict[str, Any], progress: HandoverProgress | None) -> list[str]:
    picked = fields.get("incident_ids") or []
    if isinstance(picked, str):  # (the blank form, when no worker answered: ids typed)
        picked = [part for part in picked.replace(",", " ").split() if part]
    ids = list(picked)
    chosen = fields.get("group")
    if chosen:
        if progress is None:
            raise FormErrors(
                {"group": "the handover did not answer in time to read the group: pick the incidents"}
            )
        groups = {group_key(g): g for g in decisions.status_groups(progress)}
        if chosen not in groups:
            raise FormErrors({"group": "no incident of this group waits for a status any more: pick again"})
        ids += groups[chosen].incident_ids
    if not ids:
        where = "group" if "group" in fields and "incident_ids" not in fields else "incident_ids"
        raise FormErrors({where: "pick a group or some incidents"})
    return list(dict.fromkeys(ids))


def first_input(view: dict) -> str:
    """The block a refusal is shown under: the modal's first input."""
    return next((b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "")


def told(title: str, text: str) -> dict:
    """A modal that says how a submission went, with nothing to submit."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(text)],
    }
