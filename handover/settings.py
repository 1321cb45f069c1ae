"""Configuration, from the environment only. Tokens never leave this process's memory.

With nothing configured, every client points at the local sandbox (`make run`). Setting a real
token for an API switches that API to its real base URL unless one is given explicitly.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from temporalio.envconfig import ClientConfigProfile

from handover import TASK_QUEUE

SANDBOX_URL = "https://localhost:8099"
PAGERDUTY_URL = "https://api.pagerduty.com"
SLACK_URL = "https://slack.com/api/"

TEAM_IDS = ("pagerduty_schedule_id", "pagerduty_service_ids", "slack_channel_id", "service_email")
"""Settings whose defaults are the sandbox's demo team: real APIs need them set."""

CommaList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """The environment's configuration is wrong; the message names the variables, not values."""


class Settings(BaseSettings):
    # hide_input_in_errors: a bad setting must never print the environment, tokens included.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    # Temporal
    temporal_address: str = Field("localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    temporal_api_key: SecretStr | None = Field(None, alias="TEMPORAL_API_KEY")
    """Temporal Cloud API key (implies TLS)."""
    temporal_tls: bool | None = Field(None, alias="TEMPORAL_TLS")
    """TLS to the frontend with the system's trust store; implied by a certificate, CA or API key."""
    temporal_tls_cert: Path | None = Field(None, alias="TEMPORAL_TLS_CERT")
    """Client certificate (PEM) for mTLS; with TEMPORAL_TLS_KEY."""
    temporal_tls_key: Path | None = Field(None, alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(None, alias="TEMPORAL_TLS_CA")
    """CA bundle (PEM) that signed the frontend's certificate, when not a public CA."""
    temporal_tls_server_name: str | None = Field(None, alias="TEMPORAL_TLS_SERVER_NAME")
    """The name the frontend's certificate is checked against, when not the address's host."""
    temporal_profile: str | None = Field(None, alias="TEMPORAL_PROFILE")
    """A profile of Temporal's own configuration file (temporal.toml, as the CLI and the SDKs read
    it); the variables above, where set, win over it (handover/temporal.py, `connect_options`)."""
    temporal_config_file: Path | None = Field(None, alias="TEMPORAL_CONFIG_FILE")
    """That file, when not Temporal's default place (~/.config/temporalio/temporal.toml)."""
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

    worker_runs: Literal["all", "workflows", "activities"] = Field("all", alias="HANDOVER_WORKER_RUNS")
    """Worker: what this process runs on the task queue. `all`, the handovers' workflows and their
    activities; `workflows` or `activities`, one of the two, so that two processes (or two
    deployments) share the work and the activities' API calls do not hold up the workflow tasks
    that answer people (docs/operations.md, "Workflows and activities apart")."""

    metrics_address: str | None = Field(None, alias="HANDOVER_METRICS_ADDRESS")
    """Worker: where the Temporal SDK's Prometheus exporter listens (`host:port`); unset, off."""
    payload_keys: SecretStr | None = Field(None, alias="HANDOVER_PAYLOAD_KEYS")
    """Encrypt payloads in Temporal (AES-256-GCM): comma-separated `key-id=base64 of 32 bytes`;
    the first encrypts, every one decrypts (rotation). Unset: payloads are plain JSON."""
    codec_cors_origins: CommaList = Field([], alias="HANDOVER_CODEC_CORS_ORIGINS")
    """Endpoint: the Temporal UI origins allowed to call the codec endpoint from a browser (CORS:
    the browser still sends the person's codec cookie, see endpoint/codec.py)."""
    codec_cookie_cross_site: bool = Field(False, alias="HANDOVER_CODEC_COOKIE_CROSS_SITE")
    """Endpoint: the codec cookie goes with requests from another site (`SameSite=None; Secure`),
    for a Temporal UI on another domain such as Temporal Cloud's; the endpoint must be on HTTPS."""
    observers: CommaList = Field([], alias="HANDOVER_OBSERVERS")
    """Endpoint: who may read every handover besides its own people, comma-separated admin emails
    or `service:<name>` (an SRE lead, an audit pipeline). Empty: nobody."""

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

    @field_validator("pagerduty_service_ids", "codec_cors_origins", "observers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("observers", mode="after")
    @classmethod
    def _actors(cls, value: list[str]) -> list[str]:
        """As the endpoint names callers: emails in lower case, services as `service:<name>`."""
        return [name if name.startswith("service:") else name.lower() for name in value]

    @model_validator(mode="after")
    def _temporal_profile_readable(self) -> Settings:
        """A TEMPORAL_PROFILE that cannot be read is refused at start, not at the first connect."""
        if self.temporal_profile is None and self.temporal_config_file is None:
            return self
        if self.temporal_config_file is not None and not self.temporal_config_file.is_file():
            raise ValueError(f"TEMPORAL_CONFIG_FILE: there is no file at {self.temporal_config_file}")
        try:
            self.temporal_profile_options()
        except RuntimeError as error:  # (the SDK's ConfigError)
            where = self.temporal_config_file or "Temporal's default temporal.toml"
            raise ValueError(f"TEMPORAL_PROFILE: {error} in {where}") from None
        return self

    def temporal_profile_options(self) -> dict:
        """The connect options of the TEMPORAL_PROFILE profile of temporal.toml ({} without one)."""
        if self.temporal_profile is None and self.temporal_config_file is None:
            return {}
        profile = ClientConfigProfile.load(
            profile=self.temporal_profile,
            config_source=self.temporal_config_file,
            disable_env=True,  # (the same variables are read here, as settings)
            config_file_strict=True,
        )
        return dict(profile.to_client_connect_config())

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
        self._check_real_apis(sandbox)
        self._check_temporal()
        self.payload_keyring()  # a bad key fails at start, not at the first handover
        if self.ca_file is None and self.uses_sandbox:
            self.ca_file = self.data_dir / "sandbox" / "ca.pem"
        if self.endpoint_tokens_file is None:
            self.endpoint_tokens_file = self.data_dir / "endpoint" / "tokens.json"
        return self

    def _check_real_apis(self, sandbox: str) -> None:
        """All real or all sandbox: a handover half against the sandbox would report items as
        handed over that nobody real ever saw. Real APIs need the team's own ids, not the demo's."""
        apis = {
            "PagerDuty (PAGERDUTY_API_TOKEN)": self.pagerduty_base_url,
            "Slack (SLACK_BOT_TOKEN)": self.slack_base_url,
            "the platform API (PLATFORM_API_TOKEN, PLATFORM_BASE_URL)": self.platform_base_url,
        }
        real = [name for name, url in apis.items() if not url.startswith(sandbox)]
        if not real:
            return
        if len(real) < len(apis):
            missing = [name for name in apis if name not in real]
            raise ValueError(
                f"{', '.join(real)} is configured for real but {', '.join(missing)} is still the "
                "sandbox; configure every API for real, or none"
            )
        fields = type(self).model_fields
        unset = [fields[name].alias for name in TEAM_IDS if getattr(self, name) == fields[name].default]
        if unset:
            raise ValueError(
                f"with real APIs, set {', '.join(unset)} (the defaults are the sandbox's demo team)"
            )

    def _check_temporal(self) -> None:
        host, _, port = self.temporal_address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"TEMPORAL_ADDRESS must be host:port, e.g. localhost:7233 or "
                f"<namespace>.<account>.tmprl.cloud:7233 (got {self.temporal_address!r})"
            )
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither")
        if self.temporal_tls_cert is not None and self.temporal_api_key is not None:
            raise ValueError("set TEMPORAL_API_KEY or TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY, not both")
        if self.temporal_tls is False and self.temporal_tls_files():
            raise ValueError("TEMPORAL_TLS is false but a TEMPORAL_TLS_* file is set")
        for variable, path in self.temporal_tls_files().items():
            if not path.is_file():
                raise ValueError(f"{variable}: no readable file at {path}")

    def temporal_tls_files(self) -> dict[str, Path]:
        files = {
            "TEMPORAL_TLS_CERT": self.temporal_tls_cert,
            "TEMPORAL_TLS_KEY": self.temporal_tls_key,
            "TEMPORAL_TLS_CA": self.temporal_tls_ca,
        }
        return {variable: path for variable, path in files.items() if path is not None}

    @property
    def temporal_uses_tls(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        return bool(self.temporal_tls_files()) or self.temporal_api_key is not None

    def secret_values(self) -> list[str]:
        """Every secret held (tokens, keys, signing secrets), for the logs to hide."""
        values: list[str] = []
        for name, field in type(self).model_fields.items():
            secret = getattr(self, name)
            if isinstance(secret, SecretStr) and "SecretStr" in str(field.annotation):
                text = secret.get_secret_value()
                values += [text, *(part.strip() for part in text.split(","))]
        values += [base64.b64encode(key).decode() for key in self.payload_keyring().values()]
        values.append(self.temporal_profile_options().get("api_key") or "")  # (temporal.toml's)
        return sorted({value for value in values if len(value) >= 8})

    def payload_keyring(self) -> dict[str, bytes]:
        """HANDOVER_PAYLOAD_KEYS as key id -> 32-byte key, in order (the first encrypts)."""
        if self.payload_keys is None or not self.payload_keys.get_secret_value().strip():
            return {}
        keyring: dict[str, bytes] = {}
        for number, entry in enumerate(self.payload_keys.get_secret_value().split(","), start=1):
            key_id, equals, encoded = entry.strip().partition("=")
            try:
                key = base64.b64decode(encoded.strip(), validate=True) if equals else b""
            except binascii.Error:
                key = b""
            if not key_id.strip() or len(key) != 32:
                raise ValueError(
                    f"HANDOVER_PAYLOAD_KEYS entry {number} must be `key-id=<base64 of 32 random bytes>` "
                    "(make one with: openssl rand -base64 32)"
                )
            if key_id.strip() in keyring:
                raise ValueError(f"HANDOVER_PAYLOAD_KEYS names key id {key_id.strip()!r} twice")
            keyring[key_id.strip()] = key
        return keyring

    @property
    def uses_sandbox(self) -> bool:
        sandbox = self.sandbox_url.rstrip("/")
        return any(
            url.startswith(sandbox)
            for url in (self.pagerduty_base_url, self.slack_base_url, self.platform_base_url)
            if url
        )

    @classmethod
    def load_or_exit(cls) -> Settings:
        """The settings, for a command's start: a bad setting is one line on stderr and exit 2."""
        try:
            return cls.load()
        except SettingsError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

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
