"""A declared human input (handover/inputs.py) as the workflow's Update, its validator and its
Signal twin: one check and one apply behind all three.

The Update's validator runs the check: a wrong actor, an unknown item, a duplicate or a malformed
input is refused before anything reaches history. The Signal is for channels that must not fail
when no worker is up; a signal that fails its check is held (too early) or recorded in
`progress.rejected`.

Made once per process, not once per handover: the workflow sandbox runs workflows/ afresh for each
handover, and 33 handler functions with their Update and Signal definitions were about a tenth of a
waiting handover's memory (docs/bench.md). They hold no state: each only passes the payload to the
handover's own `HandoverState` (`self._handover`), which runs in the sandbox.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from temporalio import workflow

from handover.inputs import Declared
from handover.models import InputAccepted


@functools.cache
def handlers(declared: Declared[Any]) -> tuple[Callable[..., InputAccepted], Callable[..., None]]:
    """`submit_status, submit_status_signal = handlers(inputs.STATUS)` in the workflow class."""
    if declared.apply is None:
        raise ValueError(f"{declared.name} writes before it records: its handlers are written out")

    def update(self: Any, given: Any) -> InputAccepted:
        return self._handover.accept(declared, given)

    def validate(self: Any, given: Any) -> None:
        declared.check(self._handover.progress, given)

    def signal(self: Any, given: Any) -> None:
        self._handover.take_signal(declared, given)

    for fn, name, returns in (
        (update, declared.name, InputAccepted),
        (validate, f"_validate_{declared.name}", None),
        (signal, f"{declared.name}_signal", None),
    ):
        # The SDK reads the payload's type from the annotations: the declared model.
        fn.__annotations__ = {"given": declared.model, "return": returns}
        fn.__name__ = fn.__qualname__ = name
    update_handler = workflow.update(name=declared.name)(update)
    update_handler.validator(validate)
    return update_handler, workflow.signal(name=declared.name)(signal)
