"""Temporal's own configuration file (temporal.toml, temporalio.envconfig): a profile names the
address, namespace, TLS or API key; this project's variables, where set, win over it; without a
profile nothing changes. Tested with a profile for a TLS address and one for an API key."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from handover.settings import Settings, SettingsError
from handover.temporal import connect_options

PROFILES = """
[profile.selfhosted]
address = "temporal.internal.example.com:7233"
namespace = "handovers"
[profile.selfhosted.tls]
server_name = "frontend.temporal.internal"

[profile.cloud]
address = "us-east-1.aws.api.temporal.io:7233"
namespace = "oncall.a1b2c"
api_key = "key-from-the-profile"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES)
    return path


def settings(**given: str) -> Settings:
    return Settings(HANDOVER_DATA_DIR="/tmp", **given)


def test_a_profile_with_a_tls_address(config_file):
    options = connect_options(settings(TEMPORAL_PROFILE="selfhosted", TEMPORAL_CONFIG_FILE=str(config_file)))
    assert (options["target_host"], options["namespace"]) == (
        "temporal.internal.example.com:7233",
        "handovers",
    )
    assert isinstance(options["tls"], TLSConfig) and options["tls"].domain == "frontend.temporal.internal"
    assert "api_key" not in options


def test_a_profile_with_an_api_key_implies_tls(config_file):
    options = connect_options(settings(TEMPORAL_PROFILE="cloud", TEMPORAL_CONFIG_FILE=str(config_file)))
    assert options["target_host"] == "us-east-1.aws.api.temporal.io:7233"
    assert options["api_key"] == "key-from-the-profile" and options["tls"] is True
    hidden = settings(TEMPORAL_PROFILE="cloud", TEMPORAL_CONFIG_FILE=str(config_file)).secret_values()
    assert "key-from-the-profile" in hidden, "the profile's API key is hidden from the logs too"


def test_this_projects_variables_win_over_the_profile(config_file):
    options = connect_options(
        settings(
            TEMPORAL_PROFILE="cloud",
            TEMPORAL_CONFIG_FILE=str(config_file),
            TEMPORAL_NAMESPACE="oncall-staging.a1b2c",
            TEMPORAL_API_KEY="key-from-the-environment",
        )
    )
    assert options["namespace"] == "oncall-staging.a1b2c"
    assert options["api_key"] == "key-from-the-environment"
    assert options["target_host"] == "us-east-1.aws.api.temporal.io:7233", "the profile's, not the default"


def test_without_a_profile_nothing_changes():
    options = connect_options(settings())
    assert options == {"target_host": "localhost:7233", "namespace": "default", "tls": False}


def test_a_profile_that_cannot_be_read_is_refused_at_start_naming_the_variable(config_file, tmp_path):
    with pytest.raises(SettingsError, match="TEMPORAL_PROFILE: Profile 'nowhere' not found"):
        load(TEMPORAL_PROFILE="nowhere", TEMPORAL_CONFIG_FILE=str(config_file))
    with pytest.raises(SettingsError, match="TEMPORAL_CONFIG_FILE: there is no file at"):
        load(TEMPORAL_PROFILE="cloud", TEMPORAL_CONFIG_FILE=str(tmp_path / "missing.toml"))


def load(**given: str) -> Settings:
    """Settings.load, as a process starts, with these variables."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HANDOVER_DATA_DIR", "/tmp")
        for name, value in given.items():
            env.setenv(name, value)
        return Settings.load()
