"""The procedure's modules compiled once per process, not once per handover.

The workflow sandbox imports `workflows/` afresh for every workflow run, so that each run's module
bodies are its own and a clock or I/O in a step fails the workflow task (tests/test_layers.py).
Python's importer then compiled each module again (or unmarshalled its .pyc) for every run: about
200 KB of code objects per waiting handover, and the CPU of compiling 2,000 lines at each start
and each replay. Code objects are immutable, so one compilation can serve every run: `keep`
makes the importer reuse it. The bodies still run afresh in each run's sandbox, with the
sandbox's checks; only the compiling is shared.

A module changed on disk while the worker runs is not picked up: every run in the process
executes the procedure it started with (a deployment restarts the worker).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    codes: dict[str, CodeType] = {}

    def get_code(self, fullname: str) -> CodeType:
        code = self.codes.get(self.path)
        if code is None:
            code = self.codes[self.path] = super().get_code(fullname)
        return code


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] != self.package:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _CompiledOnce(spec.loader.name, spec.loader.path)
        return spec


def keep(package: str) -> None:
    """Compile `package`'s modules once for the process (idempotent)."""
    if not any(isinstance(finder, _Finder) and finder.package == package for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder(package))
