"""The Temporal client, configured from the environment: any cluster, TLS or Temporal Cloud's API
key, the pydantic data converter, and the payload codec when payloads are encrypted."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import Coroutine
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from handover import tracing
from handover.codec import EncryptionCodec, PayloadConverter
from handover.settings import Settings

log = structlog.get_logger("temporal")


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic's, and the encryption codec when keys are set."""
    keyring = settings.payload_keyring()
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(keyring) if keyring else None,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.temporal_uses_tls:
        return False
    read = lambda path: path.read_bytes() if path is not None else None  # noqa: E731
    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
        domain=settings.temporal_tls_server_name,
    )


TLS_SETTINGS = (
    "temporal_tls",
    "temporal_tls_cert",
    "temporal_tls_key",
    "temporal_tls_ca",
    "temporal_tls_server_name",
)


def connect_options(settings: Settings) -> dict[str, Any]:
    """Where and how to reach Temporal. With TEMPORAL_PROFILE or TEMPORAL_CONFIG_FILE, a profile of
    Temporal's own temporal.toml (temporalio.envconfig) first; then each of this project's
    variables that is set wins over it (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS*); what neither says is the default (localhost:7233, `default`, no TLS)."""
    options: dict[str, Any] = settings.temporal_profile_options()
    given = settings.model_fields_set
    if "temporal_address" in given or "target_host" not in options:
        options["target_host"] = settings.temporal_address
    if "temporal_namespace" in given or "namespace" not in options:
        options["namespace"] = settings.temporal_namespace
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    if given & set(TLS_SETTINGS) or "tls" not in options:
        options["tls"] = tls_config(settings)  # (an API key implies TLS)
    return options


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    options = connect_options(settings)
    return await Client.connect(
        options.pop("target_host"),
        **options,
        data_converter=data_converter(settings),
        runtime=runtime,
        interceptors=tracing.interceptors(),  # (none while tracing is off)
    )


async def connect_or_exit(settings: Settings, runtime: Runtime | None = None) -> Client:
    """`connect`, for a process's start (the worker, the endpoint): Temporal out of reach is one
    log line that says where it looked, and exit 1 (a supervisor starts it again), not a trace."""
    try:
        return await connect(settings, runtime)
    except (ConnectionError, RuntimeError) as error:
        said = re.search(r'message: "([^"]+)"', str(error))  # the OS's words, e.g. Connection refused
        reason = said.group(1) if said else str(error).split("Server connection error:")[-1].strip()
        log.error(
            "cannot start",
            reason=f"cannot reach Temporal at {settings.temporal_address} ({reason}); start it (make run), "
            "or set TEMPORAL_ADDRESS",
        )
        raise SystemExit(1) from None


def run_or_leave(start: Coroutine[Any, Any, Any]) -> None:
    """`asyncio.run(start)` for a process's start (the worker, the endpoint). One that stops early
    (Temporal out of reach, bad settings: SystemExit) leaves at once with its code: the
    interpreter's shutdown with the Temporal runtime's threads still up can abort
    ("PyGILState_Release", SIGABRT) instead of giving the exit code a supervisor reads."""
    try:
        asyncio.run(start)
    except SystemExit as stopped:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stopped.code if isinstance(stopped.code, int) else 1)
