"""The workflow sandbox, asked for a payload's serialization context without a trip into it.

Around every workflow task the SDK visits each payload of the activation and of the completion,
three times each way (references, external storage, the codec), and for each payload sequence it
asks the run which context it belongs to: the handover's own, or an activity's. Its sandboxed
runner answers by `exec`-ing a two-line snippet inside the run's sandbox: the snippet is compiled
again each time, and the sandbox's importer is swapped in and out around it. Under `make bench`'s
acknowledgements that was a third of the workflows' worker's CPU (py-spy, docs/bench.md), ahead of
the procedure itself.

The answer needs no sandbox: the run's instance reads its own info and its pending activities,
imports nothing and calls nothing restricted. `WorkflowRunner` asks that instance directly; the
activation itself still runs in the sandbox, with all its checks. If a later SDK stops keeping the
instance where this looks, the SDK's own way is used (slower, never different).
"""

from __future__ import annotations

from typing import Any

from temporalio.converter import SerializationContext, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

_IN_SANDBOX = "__temporal_in_sandbox"
"""Where the SDK's sandboxed instance keeps the run's own instance (temporalio 1.35)."""


class _Run(_Instance):
    def _inside(self) -> Any:
        inside = self.globals_and_locals.get(_IN_SANDBOX)
        return inside if hasattr(inside, "get_serialization_context") else None

    def get_serialization_context(self, command_info: CommandInfo | None) -> SerializationContext | None:
        inside = self._inside()
        if inside is None:
            return super().get_serialization_context(command_info)
        return inside.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> StorageDriverStoreContext:
        inside = self._inside()
        if inside is None:
            return super().get_external_store_context(command_info)
        return inside.get_external_store_context(command_info)


class WorkflowRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner (same restrictions), whose runs answer for their payloads'
    contexts without entering the sandbox."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Run(det, self.runner_class, self.restrictions)
