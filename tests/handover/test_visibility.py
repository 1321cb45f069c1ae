"""The worker's start-up check: the namespace has every search attribute a handover sets."""

from __future__ import annotations

import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from handover import visibility


async def test_missing_names_what_a_namespace_lacks(dev_server_env):
    client = dev_server_env.client
    assert await visibility.missing(client) == []

    bare = f"bare-{uuid.uuid4().hex[:8]}"
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=bare, workflow_execution_retention_period=retention)
    )
    other = await Client.connect(client.service_client.config.target_host, namespace=bare)
    assert await visibility.missing(other) == visibility.names()
    assert "--name HandoverSummaryTs" in visibility.register_commands(visibility.names())
