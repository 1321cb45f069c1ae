"""Configuration, from the environment only. Tokens never leave this process's memory.

With nothing configured, every client points at the local sandbox (`make run`). Setting a real
token for an API switches that API to its real base URL unless one is given explicitly.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from handover import TASK_QUEUE

SANDBOX_URL = "https://localhost:8099"
PAGERDUTY_URL = "https://api.pagerduty.com"
SLACK_URL = "https://slack.com/api/"

CommaList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """The environment's configuration is wrong; the message names the variables, not values."""


class Settings(BaseSettings):
    # hide_input_in_errors: a bad setting must never print the environment, tokens included.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    # Temporal
    temporal_address: str = Field("localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(TASK_QUEUE, alias="HANDOVER_TASK_QUEUE")
    answer_within_seconds: float = Field(10.0, gt=0, alias="HANDOVER_ANSWER_WITHIN")
    """How long the CLI waits for a worker to accept an input before sending it as a signal."""
    service_email: str = Field("oncall-handover@novalien.com", alias="HANDOVER_SERVICE_EMAIL")
    """The service's own identity (a PagerDuty user and platform admin): the handover writes as
    it instead of as the outgoing admin when that admin is compromised."""
    poll_seconds: float = Field(20.0, gt=0, le=60, alias="HANDOVER_POLL_SECONDS")
    """Mid-shift outage: how often the watch reads the major incident's status."""
    watch_reactions: bool = Field(True, alias="HANDOVER_WATCH_REACTIONS")
    """Also watch the summary's reactions for incoming's :+1: (for when Slack cannot reach the
    endpoint); off leaves it to the endpoint's Slack events and the console."""
    watch_seconds: float = Field(300.0, ge=0, le=600, alias="HANDOVER_WATCH_SECONDS")
    """Mid-shift outage: how long one watch attempt lasts before it hands back to Temporal, which
    starts the next attempt after the handover's `mitigation_poll` interval."""

    http_timeout_seconds: float = Field(10.0, gt=0, le=60, alias="HANDOVER_HTTP_TIMEOUT")
    """Timeout of every call to PagerDuty, Slack and the platform API (then Temporal retries)."""
    api_concurrency: int = Field(8, ge=1, le=32, alias="HANDOVER_API_CONCURRENCY")
    """Requests one batch sends to an API side by side (notes, tickets, rollouts, pages)."""

    # Local state and the sandbox
    data_dir: Path = Field(Path(".data"), alias="HANDOVER_DATA_DIR")
    sandbox_url: str = Field(SANDBOX_URL, alias="SANDBOX_URL")
    ca_file: Path | None = Field(None, alias="HANDOVER_CA_FILE")
    """Extra CA bundle for outbound HTTPS (the sandbox's CA when any API is the sandbox)."""

    # PagerDuty
    pagerduty_api_token: SecretStr = Field(SecretStr("sandbox-pagerduty-token"), alias="PAGERDUTY_API_TOKEN")
    pagerduty_base_url: str | None = Field(None, alias="PAGERDUTY_BASE_URL")
    pagerduty_schedule_id: str = Field("PPRIMARY", alias="PAGERDUTY_SCHEDULE_ID")
    pagerduty_service_ids: CommaList = Field(["PPLATOPS", "PPLATAPI"], alias="PAGERDUTY_SERVICE_IDS")

    # The endpoint (HTTP)
    endpoint_tokens_file: Path | None = Field(None, alias="HANDOVER_TOKENS_FILE")
    """Hashed tokens (see endpoint/auth.py); default <HANDOVER_DATA_DIR>/endpoint/tokens.json."""
    endpoint_answer_within_seconds: float = Field(3.0, gt=0, alias="HANDOVER_ENDPOINT_ANSWER_WITHIN")
    """How long the endpoint waits for a worker to accept an input before it relays it as a
    signal and answers 202."""
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    pagerduty_webhook_secrets: SecretStr | None = Field(None, alias="PAGERDUTY_WEBHOOK_SECRETS")
    """Comma-separated: every subscription's secret (a signature matching any is accepted)."""

    # Slack
    slack_bot_token: SecretStr = Field(SecretStr("xoxb-sandbox-bot-token"), alias="SLACK_BOT_TOKEN")
    slack_base_url: str | None = Field(None, alias="SLACK_BASE_URL")
    slack_channel_id: str = Field("C0PLATOPS", alias="SLACK_CHANNEL_ID")

    # Platform API (support tracker, impersonation, feature flags, audit log)
    platform_api_token: SecretStr = Field(SecretStr("sandbox-platform-token"), alias="PLATFORM_API_TOKEN")
    platform_base_url: str | None = Field(None, alias="PLATFORM_BASE_URL")

    @field_validator("pagerduty_service_ids", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _resolve_urls(self) -> Settings:
        sandbox = self.sandbox_url.rstrip("/")
        if self.pagerduty_base_url is None:
            real = not self.pagerduty_api_token.get_secret_value().startswith("sandbox-")
            self.pagerduty_base_url = PAGERDUTY_URL if real else f"{sandbox}/pagerduty"
        if self.slack_base_url is None:
            real = self.slack_bot_token.get_secret_value() != "xoxb-sandbox-bot-token"
            self.slack_base_url = SLACK_URL if real else f"{sandbox}/slack/api/"
        if self.platform_base_url is None:
            if not self.platform_api_token.get_secret_value().startswith("sandbox-"):
                raise ValueError("PLATFORM_API_TOKEN is set but PLATFORM_BASE_URL is not")
            self.platform_base_url = f"{sandbox}/platform/v1"
        if not self.pagerduty_service_ids:
            raise ValueError("PAGERDUTY_SERVICE_IDS names no service")
        if self.ca_file is None and self.uses_sandbox:
            self.ca_file = self.data_dir / "sandbox" / "ca.pem"
        if self.endpoint_tokens_file is None:
            self.endpoint_tokens_file = self.data_dir / "endpoint" / "tokens.json"
        return self

    @property
    def uses_sandbox(self) -> bool:
        sandbox = self.sandbox_url.rstrip("/")
        return any(
            url.startswith(sandbox)
            for url in (self.pagerduty_base_url, self.slack_base_url, self.platform_base_url)
            if url
        )

    @classmethod
    def load(cls) -> Settings:
        """The settings, or a `SettingsError` naming each bad variable (never its value)."""
        try:
            return cls()
        except ValidationError as error:
            problems = []
            for problem in error.errors():
                where = ".".join(str(part) for part in problem["loc"])
                problems.append(
                    f"{where}: {problem['msg'].removeprefix('Value error, ')}"
                    if where
                    else problem["msg"].removeprefix("Value error, ")
                )
            raise SettingsError("bad configuration: " + "; ".join(problems)) from None

    def ssl_context(self) -> ssl.SSLContext:
        """The system's trust store, plus the extra CA (the sandbox's) when one is configured."""
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=str(self.ca_file))
        return context
