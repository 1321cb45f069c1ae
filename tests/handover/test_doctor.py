"""`starter.py doctor`'s checks, each against the session sandbox and real Temporal servers.

Every failure a team can meet on its first real run is set up for real (a wrong key, a user's own
PagerDuty key, an id PagerDuty does not know, a Temporal without the search attributes, ...), and
the check must name it with what to do. No check may write anything.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from handover import doctor, visibility
from handover.doctor import Status
from handover.settings import Settings
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from sandbox.testing import SandboxHandle
from tests.conftest import binary

ALICE, BOB = "alice@novalien.com", "bob@novalien.com"


@pytest.fixture
def ready(settings: Settings, dev_server_env: WorkflowEnvironment, fresh_sandbox: SandboxHandle) -> Settings:
    """Everything in place: the demo's sandbox, and the dev server with every search attribute."""
    return settings.model_copy(
        update={"temporal_address": dev_server_env.client.service_client.config.target_host}
    )


def with_(settings: Settings, **changes: object) -> Settings:
    secrets = {"pagerduty_api_token", "slack_bot_token", "platform_api_token"}
    return settings.model_copy(
        update={name: SecretStr(value) if name in secrets else value for name, value in changes.items()}
    )


async def run(settings: Settings, *admins: str) -> dict[str, doctor.CheckResult]:
    return {
        result.check: result for result in await doctor.run(doctor.checks(settings, list(admins)), settings)
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- all in place ---------------------------------------------------------------------------------


async def test_everything_in_place_passes_and_nothing_is_written(
    ready: Settings, fresh_sandbox: SandboxHandle
):
    results = await run(ready, ALICE, BOB)
    assert {name: result.status for name, result in results.items()} == {
        name: Status.OK for name in results
    }, results
    assert list(results) == [
        doctor.TEMPORAL,
        doctor.CA_FILE,
        doctor.PAGERDUTY_KEY,
        doctor.SCHEDULE,
        doctor.SERVICES,
        doctor.PAGERDUTY_IDENTITY,
        doctor.SLACK,
        doctor.PLATFORM,
        doctor.PLATFORM_IDENTITY,
        f"Admin {ALICE}",
        f"Admin {BOB}",
    ]
    assert "its 7 search attributes are registered with their types" in results[doctor.TEMPORAL].detail
    assert results[doctor.PAGERDUTY_KEY].detail.startswith("an account-level REST API key")
    assert results[doctor.SCHEDULE].detail == "PPRIMARY “Platform primary”"
    assert (
        results[f"Admin {ALICE}"].detail
        == "PagerDuty user PALICEM, Slack user U0ALICE, active platform admin"
    )
    assert doctor.exit_code(list(results.values())) == 0
    assert fresh_sandbox.writes() == []


async def test_failing_checks_write_nothing_either(ready: Settings, fresh_sandbox: SandboxHandle):
    broken = with_(
        ready, pagerduty_api_token="sandbox-pagerduty-alice-token", service_email="ghost@novalien.com"
    )
    results = await run(broken, ALICE, "zoe@novalien.com")
    assert doctor.exit_code(list(results.values())) == doctor.EXIT_FAILED
    assert fresh_sandbox.writes() == []


# --- PagerDuty --------------------------------------------------------------------------------------


async def test_a_wrong_pagerduty_key_is_named_and_what_needs_it_is_not_checked(ready: Settings):
    results = await run(with_(ready, pagerduty_api_token="sandbox-not-the-key"), ALICE)
    key = results[doctor.PAGERDUTY_KEY]
    assert key.status is Status.FAILED
    assert "(401): set PAGERDUTY_API_TOKEN to a valid key" in key.detail
    for needing in (doctor.SCHEDULE, doctor.SERVICES, doctor.PAGERDUTY_IDENTITY, f"Admin {ALICE}"):
        assert results[needing].status is Status.SKIPPED
        assert results[needing].detail == f"not checked: {doctor.PAGERDUTY_KEY} did not pass"
    assert results[doctor.SLACK].status is Status.OK  # the other systems are still checked


async def test_a_users_own_pagerduty_key_is_refused_naming_its_user(ready: Settings):
    """With a user's key PagerDuty credits every write to that user, whatever `From` says."""
    results = await run(with_(ready, pagerduty_api_token="sandbox-pagerduty-alice-token"), BOB)
    key = results[doctor.PAGERDUTY_KEY]
    assert key.status is Status.FAILED
    assert key.detail == (
        "PAGERDUTY_API_TOKEN is a user's own token (GET /users/me answered as Alice Moreau): PagerDuty "
        "credits every write to that user; create an account-level REST API key under Integrations → "
        "API Access Keys"
    )
    # The key reads fine, so everything else is still checked with it.
    assert results[doctor.SCHEDULE].status is Status.OK and results[f"Admin {BOB}"].status is Status.OK


async def test_an_unknown_schedule_is_named(ready: Settings):
    result = doctor.pagerduty_schedule(with_(ready, pagerduty_schedule_id="PNOSUCH"))
    assert result.status is Status.FAILED
    assert result.detail.startswith("PagerDuty has no schedule PNOSUCH: set PAGERDUTY_SCHEDULE_ID")


async def test_an_unknown_service_is_named_among_known_ones(ready: Settings):
    result = doctor.pagerduty_services(
        with_(ready, pagerduty_service_ids=["PPLATOPS", "PNOSUCH", "PPLATAPI"])
    )
    assert result.status is Status.FAILED
    assert result.detail.startswith("PagerDuty has no service PNOSUCH: set PAGERDUTY_SERVICE_IDS")
    assert doctor.pagerduty_services(ready).detail == (
        "PPLATOPS “NovaVMS Platform Ops”, PPLATAPI “NovaVMS Platform API”"
    )


async def test_a_service_identity_nobody_knows_is_named_in_pagerduty_and_the_platform(ready: Settings):
    results = await run(with_(ready, service_email="ghost@novalien.com"))
    pagerduty = results[doctor.PAGERDUTY_IDENTITY]
    assert pagerduty.status is Status.FAILED
    assert pagerduty.detail.startswith(
        "no PagerDuty user has the login email ghost@novalien.com (HANDOVER_SERVICE_EMAIL)"
    )
    platform = results[doctor.PLATFORM_IDENTITY]
    assert platform.status is Status.FAILED
    assert platform.detail.startswith(
        "ghost@novalien.com (HANDOVER_SERVICE_EMAIL) is not in the platform API"
    )
    assert results[doctor.PLATFORM].status is Status.OK  # a 404 for the admin still proves the token


# --- Slack and the platform API ---------------------------------------------------------------------


async def test_a_wrong_slack_token_is_named(ready: Settings):
    result = doctor.slack_access(with_(ready, slack_bot_token="xoxb-sandbox-not-the-token"))
    assert result.status is Status.FAILED
    assert "Slack rejected the bot token: set SLACK_BOT_TOKEN" in result.detail


def slack_world(change) -> dict:
    data = copy.deepcopy(read_scenario_file(DEMO_SCENARIO))
    change(data["slack"])
    return data


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda slack: slack["channels"][0].update(members=["U0ALICE"]),
            "the Slack bot is not a member of #",
        ),
        (lambda slack: slack["bot"].update(scopes=["chat:write", "users:read.email"]), "lacks the scope"),
        (lambda slack: slack["channels"][0].update(is_archived=True), "is archived"),
    ],
    ids=["bot not in the channel", "a scope missing", "channel archived"],
)
async def test_the_slack_set_up_a_handover_needs_is_checked(ready: Settings, fresh_sandbox, change, says):
    assert doctor.slack_access(ready).status is Status.OK
    fresh_sandbox.reset(slack_world(change))
    result = doctor.slack_access(ready)
    assert result.status is Status.FAILED and says in result.detail, result.detail
    assert fresh_sandbox.writes() == []


async def test_a_wrong_platform_token_is_named(ready: Settings):
    results = await run(with_(ready, platform_api_token="sandbox-not-the-token"), ALICE)
    assert results[doctor.PLATFORM].status is Status.FAILED
    assert "(401): set PLATFORM_API_TOKEN to a valid key" in results[doctor.PLATFORM].detail
    assert results[doctor.PLATFORM_IDENTITY].status is Status.SKIPPED
    assert results[f"Admin {ALICE}"].status is Status.SKIPPED


@pytest.mark.parametrize(
    ("email", "problems"),
    [
        (
            "zoe@novalien.com",
            [
                "no PagerDuty user has this login email",
                "no Slack user has this email",
                "is not in the platform API",
            ],
        ),
        ("erin@novalien.com", ["is a platform admin but not active"]),
        ("dave@novalien.com", ["is in the platform API but not a platform admin"]),
    ],
)
async def test_an_admin_who_cannot_hand_over_is_named_with_each_problem(ready: Settings, email, problems):
    result = doctor.admin(ready, email)
    assert result.status is Status.FAILED
    for problem in problems:
        assert problem in result.detail
    assert doctor.admin(ready, BOB).status is Status.OK


# --- Temporal ---------------------------------------------------------------------------------------


async def test_temporal_unreachable_is_named(ready: Settings):
    port = closed_port()
    result = await doctor.temporal(with_(ready, temporal_address=f"127.0.0.1:{port}"))
    assert result.status is Status.FAILED
    assert result.detail.startswith(
        f"cannot connect to 127.0.0.1:{port} (Connection refused): check TEMPORAL_ADDRESS"
    )


async def test_an_unknown_namespace_is_named(ready: Settings):
    result = await doctor.temporal(with_(ready, temporal_namespace="oncall-nowhere"))
    assert result.status is Status.FAILED
    assert "has no namespace oncall-nowhere: set TEMPORAL_NAMESPACE" in result.detail


@pytest.fixture(scope="module")
async def half_registered() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server where HandoverSummaryTs was never registered and HandoverWaitingOn is a Keyword."""
    keys = [key for key in visibility.ALL if key.name not in ("HandoverSummaryTs", "HandoverWaitingOn")]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=[*keys, SearchAttributeKey.for_keyword("HandoverWaitingOn")],
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def test_a_missing_search_attribute_and_one_of_the_wrong_type_are_named(
    ready: Settings, half_registered: WorkflowEnvironment
):
    address = half_registered.client.service_client.config.target_host
    result = await doctor.temporal(with_(ready, temporal_address=address))
    assert result.status is Status.FAILED
    assert (
        "namespace default lacks the search attributes HandoverSummaryTs: register them (temporal "
        "operator search-attribute create --namespace default --name HandoverSummaryTs --type Keyword)"
    ) in result.detail
    assert "HandoverWaitingOn is Keyword, not KeywordList" in result.detail


async def test_a_missing_ca_file_is_named_and_no_api_is_asked(ready: Settings, tmp_path):
    results = await run(with_(ready, ca_file=tmp_path / "ca.pem"))
    assert results[doctor.CA_FILE].status is Status.FAILED
    assert results[doctor.CA_FILE].detail == (
        f"no file at {tmp_path / 'ca.pem'}: the sandbox writes it at its first start (`make run`, or "
        "`python -m sandbox`)"
    )
    for api in (doctor.PAGERDUTY_KEY, doctor.SLACK, doctor.PLATFORM):
        assert results[api].status is Status.SKIPPED
    (tmp_path / "ca.pem").write_text("not a certificate")
    assert (
        "is not a PEM bundle of CA certificates"
        in doctor.ca_file(with_(ready, ca_file=tmp_path / "ca.pem")).detail
    )


# --- the runner ---------------------------------------------------------------------------------------


async def test_a_check_that_breaks_is_a_failure_and_never_shows_a_secret(ready: Settings):
    token = "sandbox-pagerduty-canary-4f9a1c"
    leaky = with_(ready, pagerduty_api_token=token)

    def breaks(settings: Settings) -> doctor.CheckResult:
        raise ValueError(f"cannot use {settings.pagerduty_api_token.get_secret_value()}")

    [result] = await doctor.run([doctor.Check("leaky", breaks, (leaky,))], leaky)
    assert result.status is Status.FAILED
    assert result.detail == "could not check: ValueError: cannot use [secret]"


def test_lines_mark_each_result_for_a_terminal_and_for_a_log():
    result = doctor.CheckResult(check="Slack", status=Status.FAILED, detail="no")
    assert doctor.line(result, terminal=True) == "✗ Slack: no"
    assert doctor.line(result, terminal=False) == "FAIL Slack: no"
    passed = result.model_copy(update={"status": Status.OK})
    assert [doctor.line(passed, terminal) for terminal in (True, False)] == ["✓ Slack: no", "ok Slack: no"]
