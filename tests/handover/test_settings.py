"""Settings from the environment: sandbox by default, real APIs and any Temporal when configured,
and a clear error, naming variables and never values, for what is missing or wrong."""

import base64
import os
from datetime import timedelta

import pytest
from temporalio.service import TLSConfig

from handover.settings import PAGERDUTY_URL, SLACK_URL, Settings, SettingsError
from handover.temporal import tls_config

REAL = {
    "PAGERDUTY_API_TOKEN": "u+real-pagerduty-token",
    "SLACK_BOT_TOKEN": "xoxb-real-slack-token",
    "PLATFORM_API_TOKEN": "real-platform-token",
    "PLATFORM_BASE_URL": "https://platform.example/api/v1",
    "PAGERDUTY_SCHEDULE_ID": "PSCHED1",
    "PAGERDUTY_SERVICE_IDS": " PA, PB ,",
    "SLACK_CHANNEL_ID": "C0REAL",
    "HANDOVER_SERVICE_EMAIL": "handover-bot@example.com",
}


SECRETS = {field.alias for field in Settings.model_fields.values() if "SecretStr" in str(field.annotation)}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for field in Settings.model_fields.values():
        monkeypatch.delenv(field.alias, raising=False)


def configure(monkeypatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def refused(monkeypatch, **variables: str) -> str:
    configure(monkeypatch, **variables)
    with pytest.raises(SettingsError) as error:
        Settings.load()
    message = str(error.value)
    for name, value in variables.items():
        if name in SECRETS:
            assert value not in message, name
    return message


def test_nothing_configured_means_the_sandbox():
    settings = Settings.load()
    assert settings.uses_sandbox
    assert settings.pagerduty_base_url == "https://localhost:8099/pagerduty"
    assert settings.slack_base_url == "https://localhost:8099/slack/api/"
    assert settings.platform_base_url == "https://localhost:8099/platform/v1"
    assert str(settings.ca_file).endswith("sandbox/ca.pem")
    assert tls_config(settings) is False and settings.payload_keyring() == {}


def test_real_tokens_switch_to_the_real_apis(monkeypatch):
    configure(monkeypatch, **REAL)
    settings = Settings.load()
    assert (settings.pagerduty_base_url, settings.slack_base_url) == (PAGERDUTY_URL, SLACK_URL)
    assert settings.pagerduty_service_ids == ["PA", "PB"]
    assert not settings.uses_sandbox and settings.ca_file is None


def test_a_real_platform_token_needs_its_url(monkeypatch):
    real = {name: value for name, value in REAL.items() if name != "PLATFORM_BASE_URL"}
    assert "PLATFORM_BASE_URL" in refused(monkeypatch, **real)


def test_half_real_half_sandbox_is_refused(monkeypatch):
    message = refused(monkeypatch, PAGERDUTY_API_TOKEN="u+real-pagerduty-token")
    assert "PagerDuty (PAGERDUTY_API_TOKEN) is configured for real" in message
    assert "Slack (SLACK_BOT_TOKEN)" in message and "or none" in message


def test_real_apis_need_the_teams_own_ids(monkeypatch):
    real = {
        name: value
        for name, value in REAL.items()
        if name not in ("PAGERDUTY_SCHEDULE_ID", "SLACK_CHANNEL_ID", "HANDOVER_SERVICE_EMAIL")
    }
    message = refused(monkeypatch, **real)
    assert "PAGERDUTY_SCHEDULE_ID, SLACK_CHANNEL_ID, HANDOVER_SERVICE_EMAIL" in message
    # docker-compose passes the demo's values through when none is given: refused just the same
    message = refused(
        monkeypatch, PAGERDUTY_SCHEDULE_ID="PPRIMARY", PAGERDUTY_SERVICE_IDS="PPLATOPS,PPLATAPI"
    )
    assert "set PAGERDUTY_SCHEDULE_ID, PAGERDUTY_SERVICE_IDS, SLACK_CHANNEL_ID" in message


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"TEMPORAL_ADDRESS": "temporal.example.com"}, "TEMPORAL_ADDRESS must be host:port"),
        ({"HANDOVER_API_CONCURRENCY": "0"}, "HANDOVER_API_CONCURRENCY: Input should be greater than"),
        ({"HANDOVER_POLL_SECONDS": "often"}, "HANDOVER_POLL_SECONDS: Input should be a valid number"),
        ({"PAGERDUTY_SERVICE_IDS": " , "}, "PAGERDUTY_SERVICE_IDS names no service"),
        ({"TEMPORAL_TLS_CERT": "/nowhere/client.pem"}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"),
        (
            {"TEMPORAL_TLS_CERT": "/nowhere/client.pem", "TEMPORAL_TLS_KEY": "/nowhere/client.key"},
            "TEMPORAL_TLS_CERT: no readable file at /nowhere/client.pem",
        ),
        ({"TEMPORAL_TLS_CA": "/nowhere/ca.pem", "TEMPORAL_TLS": "false"}, "TEMPORAL_TLS is false"),
        ({"HANDOVER_PAYLOAD_KEYS": "k1=c2hvcnQ="}, "HANDOVER_PAYLOAD_KEYS entry 1 must be"),
        ({"HANDOVER_PAYLOAD_KEYS": "no-equals-sign-at-all"}, "HANDOVER_PAYLOAD_KEYS entry 1 must be"),
    ],
)
def test_bad_configuration_is_a_clear_error(monkeypatch, variables, says):
    assert says in refused(monkeypatch, **variables)


def test_every_problem_is_named_at_once(monkeypatch):
    message = refused(monkeypatch, HANDOVER_API_CONCURRENCY="0", HANDOVER_HTTP_TIMEOUT="-1")
    assert "HANDOVER_API_CONCURRENCY" in message and "HANDOVER_HTTP_TIMEOUT" in message


def test_temporal_cloud_by_api_key(monkeypatch):
    configure(
        monkeypatch,
        TEMPORAL_ADDRESS="us-east-1.aws.api.temporal.io:7233",
        TEMPORAL_NAMESPACE="handover.a1b2c",
        TEMPORAL_API_KEY="cloud-api-key-value",
    )
    settings = Settings.load()
    assert settings.temporal_uses_tls
    assert tls_config(settings) == TLSConfig()  # the system's trust store
    assert "cloud-api-key-value" not in repr(settings)


def test_api_key_and_client_certificate_exclude_each_other(monkeypatch, tmp_path):
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "c.key").write_text("key")
    message = refused(
        monkeypatch,
        TEMPORAL_API_KEY="cloud-api-key-value",
        TEMPORAL_TLS_CERT=str(tmp_path / "c.pem"),
        TEMPORAL_TLS_KEY=str(tmp_path / "c.key"),
    )
    assert "not both" in message


def test_mutual_tls_reads_the_files(monkeypatch, tmp_path):
    for name, text in (("c.pem", "client cert"), ("c.key", "client key"), ("ca.pem", "server ca")):
        (tmp_path / name).write_text(text)
    configure(
        monkeypatch,
        TEMPORAL_TLS_CERT=str(tmp_path / "c.pem"),
        TEMPORAL_TLS_KEY=str(tmp_path / "c.key"),
        TEMPORAL_TLS_CA=str(tmp_path / "ca.pem"),
        TEMPORAL_TLS_SERVER_NAME="temporal.internal",
    )
    assert tls_config(Settings.load()) == TLSConfig(
        server_root_ca_cert=b"server ca",
        client_cert=b"client cert",
        client_private_key=b"client key",
        domain="temporal.internal",
    )


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_payload_keys_first_encrypts_all_decrypt(monkeypatch):
    new, old = os.urandom(32), os.urandom(32)
    configure(
        monkeypatch,
        HANDOVER_PAYLOAD_KEYS=f"2026-11={b64(new)}, 2026-05={b64(old)}",
    )
    assert Settings.load().payload_keyring() == {"2026-11": new, "2026-05": old}


def test_secrets_are_known_by_their_type():
    expected = {"PAGERDUTY_API_TOKEN", "TEMPORAL_API_KEY", "HANDOVER_PAYLOAD_KEYS", "SLACK_SIGNING_SECRET"}
    assert expected <= SECRETS


def test_tokens_do_not_show_in_the_settings_repr(monkeypatch):
    configure(
        monkeypatch, SLACK_BOT_TOKEN="xoxb-very-secret", SLACK_BASE_URL="https://localhost:8099/slack/api/"
    )
    assert "very-secret" not in repr(Settings.load())


def test_a_demo_overlap_is_refused_against_real_apis():
    from handover.errors import InvalidInput
    from handover.models import HandoverRequest
    from handover.service import check_demo

    short = HandoverRequest(
        outgoing="a@x.com", incoming="b@x.com", requested_by="t", overlap=timedelta(minutes=5), demo=True
    )
    check_demo(short, uses_sandbox=True)
    with pytest.raises(InvalidInput, match="for the demo scenario on the sandbox"):
        check_demo(short, uses_sandbox=False)
