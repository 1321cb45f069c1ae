"""Settings from the environment: sandbox by default, real APIs when their tokens are set."""

import pytest
from pydantic import ValidationError

from handover.settings import PAGERDUTY_URL, SLACK_URL, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for field in Settings.model_fields.values():
        monkeypatch.delenv(field.alias, raising=False)


def test_nothing_configured_means_the_sandbox():
    settings = Settings()
    assert settings.uses_sandbox
    assert settings.pagerduty_base_url == "https://localhost:8099/pagerduty"
    assert settings.slack_base_url == "https://localhost:8099/slack/api/"
    assert settings.platform_base_url == "https://localhost:8099/platform/v1"
    assert str(settings.ca_file).endswith("sandbox/ca.pem")


def test_real_tokens_switch_to_the_real_apis(monkeypatch):
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "u+real")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    monkeypatch.setenv("PLATFORM_API_TOKEN", "real")
    monkeypatch.setenv("PLATFORM_BASE_URL", "https://platform.example/api/v1")
    monkeypatch.setenv("PAGERDUTY_SERVICE_IDS", " PA, PB ,")
    settings = Settings()
    assert (settings.pagerduty_base_url, settings.slack_base_url) == (PAGERDUTY_URL, SLACK_URL)
    assert settings.pagerduty_service_ids == ["PA", "PB"]
    assert not settings.uses_sandbox and settings.ca_file is None


def test_a_real_platform_token_needs_its_url(monkeypatch):
    monkeypatch.setenv("PLATFORM_API_TOKEN", "real")
    with pytest.raises(ValidationError, match="PLATFORM_BASE_URL"):
        Settings()


def test_tokens_do_not_show_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    assert "very-secret" not in repr(Settings())
