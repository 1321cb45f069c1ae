"""Temporal's tracing interceptor, with a person's input in the caller's trace (handover/tracing.py).
Imported only when tracing is on: temporalio.contrib.opentelemetry loads OpenTelemetry's SDK."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import HandleSignalInput, HandleUpdateInput, WorkflowInterceptorClassInput


class CallersTrace(TracingWorkflowInboundInterceptor):
    """An Update or a Signal is handled in the trace of whoever sent it, linked to the workflow's
    (Temporal's own interceptor does the reverse: the workflow's trace, linked to the caller's)."""

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        with self._callers_trace(input.headers, f"HandleUpdate:{input.update}"):
            return await self.next.handle_update_handler(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with self._callers_trace(input.headers, f"HandleSignal:{input.signal}"):
            await self.next.handle_signal(input)

    @contextlib.contextmanager
    def _callers_trace(self, headers: Mapping[str, Payload], name: str) -> Iterator[None]:
        header = headers.get(self.header_key)
        carrier = self.payload_converter.from_payloads([header])[0] if header else None
        if not carrier:  # (no caller's trace: as Temporal's interceptor does it)
            with self._top_level_workflow_context(success_is_complete=False):
                yield
            return
        context = self._set_on_context(self.text_map_propagator.extract(carrier))
        token = opentelemetry.context.attach(context)
        try:
            self._completed_span(
                name,
                link_context_carrier=self._load_workflow_context_carrier(),
                kind=opentelemetry.trace.SpanKind.SERVER,
            )
            yield
        finally:
            opentelemetry.context.detach(token)


class HandoverTracing(TracingInterceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[CallersTrace]:
        super().workflow_interceptor_class(input)  # (registers the extern function that makes spans)
        return CallersTrace
