"""The procedure's modules are compiled once per process, and still run afresh, and checked, in
each workflow run's sandbox (handover/compiled.py)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import (
    RestrictedWorkflowAccessError,
    RestrictionContext,
    SandboxRestrictions,
)

from handover import compiled


def sandboxed(name: str):
    """`name` imported as a workflow run's sandbox imports it."""
    importer = Importer(SandboxRestrictions.default, RestrictionContext())
    with importer.applied():
        __import__(name)
    return importer.new_modules[name]


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package of steps of its own (its name unique to the test), like workflows/."""
    package = f"steps_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "step.py").write_text(
        textwrap.dedent(
            """
            RUNS = []
            RUNS.append("this run")

            def owes(items):
                return [item for item in items if item]
            """
        )
    )
    (tmp_path / package / "clock.py").write_text("import datetime\n\nNOW = datetime.datetime.now()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "package", None) != package]


def test_each_run_shares_the_code_and_keeps_its_own_module(steps: str):
    compiled.keep(steps)
    compiled.keep(steps)  # (once is enough; twice changes nothing)
    assert sum(getattr(finder, "package", None) == steps for finder in sys.meta_path) == 1
    first, second = sandboxed(f"{steps}.step"), sandboxed(f"{steps}.step")
    assert first.owes.__code__ is second.owes.__code__
    assert first is not second and first.owes is not second.owes
    assert first.RUNS == second.RUNS == ["this run"]  # each body ran afresh, in its own sandbox


def test_without_it_each_run_compiles_again(steps: str):
    first, second = sandboxed(f"{steps}.step"), sandboxed(f"{steps}.step")
    assert first.owes.__code__ is not second.owes.__code__


def test_the_sandbox_still_refuses_a_clock_in_a_step(steps: str):
    compiled.keep(steps)
    for _ in range(2):  # compiled, then reused: refused both times
        with pytest.raises(RestrictedWorkflowAccessError, match="datetime"):
            sandboxed(f"{steps}.clock")


def test_the_worker_keeps_the_procedures_modules(settings, monkeypatch: pytest.MonkeyPatch):
    import worker

    others = [finder for finder in sys.meta_path if getattr(finder, "package", None) != "workflows"]
    monkeypatch.setattr(sys, "meta_path", others)
    monkeypatch.setattr(worker, "Worker", lambda client, **options: options)
    assert worker.build_worker(None, settings, None)["task_queue"] == settings.task_queue
    assert sandboxed("workflows.state").reason.__code__ is sandboxed("workflows.state").reason.__code__


def test_a_handovers_run_makes_no_code_or_handlers_of_its_own(monkeypatch: pytest.MonkeyPatch):
    """What each handover holds for itself: its modules, functions and classes, not their code.
    A @dataclass (its methods written with exec) or handlers made per run would be held 100 times
    over with 100 handovers waiting (make bench, P4)."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    compiled.keep("workflows")

    def codes(modules: dict) -> dict[str, object]:
        """Every function of the procedure's modules (a class's methods and properties too), by name."""
        found = {}
        for name, module in modules.items():
            if not name.startswith("workflows"):
                continue
            for key, value in vars(module).items():
                members = vars(value).items() if isinstance(value, type) else []
                for member_name, member in [(key, value), *members]:
                    function = getattr(member, "fget", member)  # (a property: its getter)
                    if getattr(function, "__module__", None) == name and hasattr(function, "__code__"):
                        found[f"{name}.{key}.{member_name}"] = function.__code__
        return found

    runs = []
    for _ in range(2):
        importer = Importer(SandboxRestrictions.default, RestrictionContext())
        with importer.applied():
            __import__("workflows.handover")
        runs.append(importer.new_modules)
    first, second = codes(runs[0]), codes(runs[1])
    assert "workflows.state.HandoverState.__init__" in first
    assert {name for name in first if first[name] is not second.get(name)} == set()
    workflows = [run["workflows.handover"].HandoverWorkflow for run in runs]
    assert workflows[0] is not workflows[1]
    assert vars(workflows[0])["acknowledge_incident"] is vars(workflows[1])["acknowledge_incident"]
