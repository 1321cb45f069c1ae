"""People in Slack, as the sandbox plays them (sandbox/testing.py): the asks in the handover's
thread as Slack shows them, a button pressed, a form filled and submitted, what only they were told.
Each press and submission is signed by the sandbox as Slack signs it and posted to the endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from sandbox.testing import SandboxHandle

CHANNEL = "C0PLATOPS"


def buttons(message: dict) -> list[dict]:
    """Every button of a message, in order."""
    found = []
    for block in message.get("blocks") or []:
        elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")]
        found += [e for e in elements if e and e.get("type") == "button"]
    return found


def items(message: dict, action_id: str) -> list[str | None]:
    """The items of the message's buttons of this action."""
    return [_item(b["value"]) for b in buttons(message) if b["action_id"] == action_id]


def _item(value: str) -> str | None:
    try:
        return json.loads(value).get("i")
    except ValueError:
        return None  # (the summary's button: its value is the handover id)


def text(message: dict) -> str:
    """What a message (or a block) says, its blocks' text included."""
    own = message.get("text") or ""
    parts = [own if isinstance(own, str) else own.get("text", "")]
    for block in message.get("blocks") or ([message] if "elements" in message else []):
        parts.append((block.get("text") or {}).get("text", ""))
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def asks_now(sandbox: SandboxHandle, role: str) -> dict | None:
    """The `role` admin's asks in the thread, as Slack shows them now (updates included)."""
    channel = sandbox.store.state.slack.channels[CHANNEL]
    for message in reversed(channel.messages):
        payload = (message.metadata or {}).get("event_payload") or {}
        if payload.get("part") == f"asks:{role}":
            return {"ts": message.ts, "text": message.text, "blocks": message.blocks or []}
    return None


async def asks(sandbox: SandboxHandle, role: str, until=lambda message: True, timeout: float = 30) -> dict:
    """The asks once they show what `until` waits for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = asks_now(sandbox, role)
        if message is not None and until(message):
            return message
        if loop.time() > deadline:
            raise AssertionError(f"the {role} asks never showed it; they are: {message}")
        await asyncio.sleep(0.2)


def offers(action_id: str):
    """`asks(..., until=offers(...))`: a button of this action is there."""
    return lambda message: any(b["action_id"] == action_id for b in buttons(message))


@dataclass
class InSlack:
    sandbox: SandboxHandle
    user: str
    """Their Slack user id."""
    _told: int = 0

    async def press(self, message: dict, action_id: str, item_id: str | None = None) -> dict:
        """Presses a button: Slack has the endpoint's answer within its 3 seconds, every time."""
        found = [b for b in buttons(message) if b["action_id"] == action_id and _item(b["value"]) == item_id]
        assert found, f"no {action_id} button for {item_id} in {text(message)}"
        self._told = len(self.told())
        began = time.monotonic()
        answer = await asyncio.to_thread(
            self.sandbox.press, self.user, message["ts"], action_id, found[0]["value"], CHANNEL
        )
        assert answer["status"] == 200 and time.monotonic() - began < 3, answer
        return answer

    async def reply(self, timeout: float = 10) -> str:
        """What only they were told in answer to their last press."""
        deadline = time.monotonic() + timeout
        while len(self.told()) <= self._told:
            assert time.monotonic() < deadline, "no answer to the press"
            await asyncio.sleep(0.05)
        return self.told()[-1]

    async def form(self, message: dict, action_id: str, item_id: str | None = None) -> dict:
        """Presses a button that opens a form: the form it opened."""
        before = {view["id"] for view in self.views()}
        await self.press(message, action_id, item_id)
        deadline = time.monotonic() + 10
        while not (opened := [view for view in self.views() if view["id"] not in before]):
            assert len(self.told()) == self._told, f"no form opened; told {self.told()[-1]}"
            assert time.monotonic() < deadline, "no form opened"
            await asyncio.sleep(0.05)
        return opened[-1]

    async def submit(self, view: dict, **values: Any) -> dict:
        return await asyncio.to_thread(self.sandbox.submit, self.user, view["id"], values)

    def views(self) -> list[dict]:
        return self.sandbox.views(self.user)

    def told(self) -> list[str]:
        """What only they were told (the answers to their presses), oldest first."""
        return [message["text"] for message in self.sandbox.ephemeral(self.user)]


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def initial(view: dict, block_id: str) -> str | None:
    return block(view, block_id)["element"].get("initial_value")
