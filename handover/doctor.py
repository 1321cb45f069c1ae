"""`starter.py doctor`: before the first real handover, is everything a real run needs in place?

Each check reads, with the configured settings and the clients the worker's activities use, and
writes nothing anywhere (no Temporal workflow, no API write). It needs no worker: it runs in the
CLI's own process, calling the activity classes' methods directly (outside an activity their
heartbeats are no-ops). One function per check, each returning a `CheckResult`; `checks` lists
them in the order a reader fixes things, and `run` runs the list.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import Refused
from activities.pagerduty import PagerDutyActivities
from activities.platform import PlatformActivities, PlatformAdmin
from activities.slack import SlackActivities
from handover import visibility
from handover.errors import HandoverError
from handover.models import Model
from handover.settings import Settings
from handover.temporal import connect

EXIT_FAILED = 6
"""`starter.py doctor`'s exit code when a check did not pass (0 when every one passed)."""

ACCOUNT_LEVEL = "account-level access token"
"""What PagerDuty's `GET /users/me` answer says for an account-level key (the official client's
`api_key_access` looks for the same words)."""


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not checked, because a check it needs did not pass."""


class CheckResult(Model):
    check: str
    """What was checked: one of the labels below (`PagerDuty API key`, ...)."""
    status: Status
    detail: str
    """What was found; on failure, what is wrong and what to do, in a sentence."""
    reads_work: bool = False
    """Failed, but the API answers reads with this setup: the checks that need this one still run."""


TEMPORAL = "Temporal"
CA_FILE = "Extra CA (HANDOVER_CA_FILE)"
PAGERDUTY_KEY = "PagerDuty API key"
SCHEDULE = "PagerDuty schedule"
SERVICES = "PagerDuty services"
PAGERDUTY_IDENTITY = "Service identity in PagerDuty"
SLACK = "Slack"
PLATFORM = "Platform API"
PLATFORM_IDENTITY = "Service identity in the platform API"


def admin_label(email: str) -> str:
    return f"Admin {email}"


def ok(check: str, detail: str) -> CheckResult:
    return CheckResult(check=check, status=Status.OK, detail=detail)


def failed(check: str, detail: str) -> CheckResult:
    return CheckResult(check=check, status=Status.FAILED, detail=detail)


def trouble(variable: str, url: str | None, error: ApplicationError | Refused) -> str:
    """A failed call to an API as a sentence with what to do (never the token itself)."""
    kind = getattr(error, "type", None)
    message = str(error) if isinstance(error, Refused) else error.message
    if kind == "CredentialsRejected":
        return f"{message.split(' (401)')[0]} (401): set {variable} to a valid key"
    if kind == "ApiUnavailable":
        return (
            f"{message} (at {url}): check the base URL, the network, and HANDOVER_CA_FILE if the API "
            "uses a private CA"
        )
    if kind == "RateLimited":
        return f"{message}: this key is being rate-limited; run doctor again in a minute"
    return message


# --- 1. Temporal --------------------------------------------------------------------------------

CLI_TYPE_NAMES = {
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}


async def temporal(settings: Settings) -> CheckResult:
    """Temporal answers at TEMPORAL_ADDRESS, the namespace exists, and every search attribute of
    handover/visibility.py is registered with its type (a handover that sets a missing one stalls)."""
    address, namespace = settings.temporal_address, settings.temporal_namespace
    try:
        client = await asyncio.wait_for(connect(settings), timeout=settings.http_timeout_seconds)
    except TimeoutError:
        return failed(
            TEMPORAL,
            f"no answer from {address} (TEMPORAL_ADDRESS) within {settings.http_timeout_seconds:g}s: "
            "check the address and that the frontend is reachable from here",
        )
    except (RuntimeError, ConnectionError, RPCError) as error:
        return failed(
            TEMPORAL,
            f"cannot connect to {address} ({_first_line(error)}): check TEMPORAL_ADDRESS, and TLS "
            "(TEMPORAL_TLS, TEMPORAL_TLS_*) or TEMPORAL_API_KEY for Temporal Cloud",
        )
    try:  # the namespace's answer (NOT_FOUND when there is no such namespace)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return failed(
                TEMPORAL,
                f"{address} has no namespace {namespace}: set TEMPORAL_NAMESPACE, or create it "
                f"(temporal operator namespace create --namespace {namespace})",
            )
        if error.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            return failed(
                TEMPORAL,
                f"{address} refused this client ({error.message}): check TEMPORAL_API_KEY or the "
                "client certificate (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY) and its access to the namespace",
            )
        return failed(TEMPORAL, f"{address} answered {error.status.name}: {error.message}")
    registered = dict(listed.custom_attributes)
    missing = [key.name for key in visibility.ALL if key.name not in registered]
    wrong = [
        f"{key.name} is {CLI_TYPE_NAMES.get(registered[key.name], registered[key.name])}, "
        f"not {visibility.type_name(key)}"
        for key in visibility.ALL
        if key.name in registered and registered[key.name] != int(key.indexed_value_type)
    ]
    problems = []
    if missing:
        problems.append(
            f"namespace {namespace} lacks the search attributes {', '.join(missing)}: register them "
            f"({visibility.register_commands(missing, namespace)})"
        )
    if wrong:
        problems.append(
            f"search attributes of the wrong type in namespace {namespace}: {'; '.join(wrong)} (a type "
            "cannot change: remove each with `temporal operator search-attribute remove` and create it "
            "again)"
        )
    if problems:
        return failed(TEMPORAL, "; ".join(problems))
    return ok(
        TEMPORAL,
        f"{address}, namespace {namespace} answers; its {len(visibility.ALL)} search attributes are "
        "registered with their types",
    )


def _first_line(error: BaseException) -> str:
    """The gist of an error: the innermost `message: "..."` of a Temporal connection error (its
    Rust error chain is long), else the first line."""
    text = str(error).strip()
    inner = re.findall(r'message: "([^"]+)"', text)
    if inner:
        return inner[-1]
    return text.splitlines()[0][:200] if text else type(error).__name__


# --- 2.-4. the APIs: PagerDuty, Slack, the platform -------------------------------------------


def ca_file(settings: Settings) -> CheckResult:
    """The extra CA bundle every API client trusts loads (the sandbox's, or a private CA's)."""
    path = settings.ca_file
    try:
        settings.ssl_context()
    except FileNotFoundError:
        remedy = (
            "the sandbox writes it at its first start (`make run`, or `python -m sandbox`)"
            if settings.uses_sandbox
            else "set HANDOVER_CA_FILE to the PEM bundle of your APIs' private CA, or unset it"
        )
        return failed(CA_FILE, f"no file at {path}: {remedy}")
    except (ssl.SSLError, OSError) as error:
        return failed(CA_FILE, f"{path} is not a PEM bundle of CA certificates ({_first_line(error)})")
    return ok(CA_FILE, f"{path} loads")


# --- 2. PagerDuty -------------------------------------------------------------------------------


def pagerduty_api_key(settings: Settings) -> CheckResult:
    """The key is valid and account-level. PagerDuty's `GET /users/me` answers only a user's own
    key: with one, PagerDuty credits every write to that user, whatever the `From` header says."""
    try:
        me = PagerDutyActivities(settings)._request("GET", "/users/me")["user"]
    except Refused as error:
        if error.status == 400 and ACCOUNT_LEVEL in str(error):
            return ok(PAGERDUTY_KEY, "an account-level REST API key: writes are made From each admin")
        return failed(PAGERDUTY_KEY, f"GET /users/me: {error}")
    except ApplicationError as error:
        return failed(PAGERDUTY_KEY, trouble("PAGERDUTY_API_TOKEN", settings.pagerduty_base_url, error))
    user_token = failed(
        PAGERDUTY_KEY,
        f"PAGERDUTY_API_TOKEN is a user's own token (GET /users/me answered as {me.get('name')}): "
        "PagerDuty credits every write to that user; create an account-level REST API key under "
        "Integrations → API Access Keys",
    )
    return user_token.model_copy(update={"reads_work": True})


def pagerduty_schedule(settings: Settings) -> CheckResult:
    """The schedule the override goes on exists."""
    schedule_id = settings.pagerduty_schedule_id
    try:
        schedule = PagerDutyActivities(settings)._request("GET", f"/schedules/{schedule_id}")["schedule"]
    except Refused as error:
        if error.status == 404:
            return failed(
                SCHEDULE,
                f"PagerDuty has no schedule {schedule_id}: set PAGERDUTY_SCHEDULE_ID to the id of the "
                "primary on-call schedule (the P… at the end of its page's URL)",
            )
        return failed(SCHEDULE, f"{schedule_id}: {error}")
    except ApplicationError as error:
        return failed(SCHEDULE, trouble("PAGERDUTY_API_TOKEN", settings.pagerduty_base_url, error))
    return ok(SCHEDULE, f"{schedule_id} “{schedule['name']}”")


def pagerduty_services(settings: Settings) -> CheckResult:
    """Each platform-ops service whose incidents are handed over exists."""
    pagerduty = PagerDutyActivities(settings)
    found, unknown = [], []
    for service_id in settings.pagerduty_service_ids:
        try:
            service = pagerduty._request("GET", f"/services/{service_id}")["service"]
        except Refused as error:
            if error.status != 404:
                return failed(SERVICES, f"{service_id}: {error}")
            unknown.append(service_id)
            continue
        except ApplicationError as error:
            return failed(SERVICES, trouble("PAGERDUTY_API_TOKEN", settings.pagerduty_base_url, error))
        found.append(f"{service_id} “{service['name']}”")
    if unknown:
        return failed(
            SERVICES,
            f"PagerDuty has no service {', '.join(unknown)}: set PAGERDUTY_SERVICE_IDS to the ids of "
            "the platform-ops services, comma-separated (the P… in each service's URL)",
        )
    return ok(SERVICES, ", ".join(found))


def pagerduty_service_identity(settings: Settings) -> CheckResult:
    """HANDOVER_SERVICE_EMAIL is a PagerDuty user: a compromised admin's handover writes as it."""
    email = settings.service_email
    try:
        user = PagerDutyActivities(settings).find_pagerduty_user(email)
    except ApplicationError as error:
        return failed(PAGERDUTY_IDENTITY, trouble("PAGERDUTY_API_TOKEN", settings.pagerduty_base_url, error))
    if user is None:
        return failed(
            PAGERDUTY_IDENTITY,
            f"no PagerDuty user has the login email {email} (HANDOVER_SERVICE_EMAIL): a compromised "
            "admin's handover writes as it; add that user in PagerDuty, or set HANDOVER_SERVICE_EMAIL "
            "to the service's user",
        )
    return ok(PAGERDUTY_IDENTITY, f"{email} is user {user.id} ({user.name})")


# --- 3. Slack -----------------------------------------------------------------------------------


def slack_access(settings: Settings) -> CheckResult:
    """The bot token is valid, has every scope a handover needs, and the bot is a member of
    SLACK_CHANNEL_ID, which exists and is not archived: the very check step 0 makes."""
    try:
        access = SlackActivities(settings).check_slack_access()
    except HandoverError as error:  # NotSetUp: the sentence says what to fix
        return failed(SLACK, error.message)
    except (ApplicationError, Refused) as error:
        return failed(SLACK, trouble("SLACK_BOT_TOKEN", settings.slack_base_url, error))
    where = "private channel" if access.is_private else "channel"
    return ok(
        SLACK,
        f"@{access.bot_name} on {access.team} is a member of the {where} #{access.channel_name} "
        f"({access.channel_id}) with every scope a handover needs",
    )


# --- 4. Platform API ----------------------------------------------------------------------------


def platform_api(settings: Settings) -> CheckResult:
    """The platform API answers with its token (`GET /admins/{email}` of the service identity)."""
    try:
        PlatformActivities(settings).get_platform_admin(settings.service_email)
    except ApplicationError as error:
        return failed(PLATFORM, trouble("PLATFORM_API_TOKEN", settings.platform_base_url, error))
    return ok(PLATFORM, f"{settings.platform_base_url} answers with PLATFORM_API_TOKEN")


def platform_service_identity(settings: Settings) -> CheckResult:
    """HANDOVER_SERVICE_EMAIL is an active platform admin: a compromised admin's tickets and
    sessions are handed over on its behalf."""
    email = settings.service_email
    try:
        problem = _platform_problem(PlatformActivities(settings).get_platform_admin(email))
    except ApplicationError as error:
        return failed(PLATFORM_IDENTITY, trouble("PLATFORM_API_TOKEN", settings.platform_base_url, error))
    if problem:
        return failed(
            PLATFORM_IDENTITY,
            f"{email} (HANDOVER_SERVICE_EMAIL) {problem}: a compromised admin's handover writes on its "
            "behalf; make it an active platform admin, or set HANDOVER_SERVICE_EMAIL to the service's",
        )
    return ok(PLATFORM_IDENTITY, f"{email} is an active platform admin")


def _platform_problem(admin: PlatformAdmin | None) -> str | None:
    if admin is None:
        return "is not in the platform API"
    if not admin.platform_admin:
        return "is in the platform API but not a platform admin"
    if not admin.active:
        return "is a platform admin but not active"
    return None


# --- the admins given on the command line -------------------------------------------------------


def admin(settings: Settings, email: str) -> CheckResult:
    """An admin who may hand over or take over: a PagerDuty user by login email (notes and
    reassignments are made From it), a Slack user by email (mentions), an active platform admin."""
    label = admin_label(email)
    try:
        user = PagerDutyActivities(settings).find_pagerduty_user(email)
    except ApplicationError as error:
        return failed(label, trouble("PAGERDUTY_API_TOKEN", settings.pagerduty_base_url, error))
    try:
        slack_id = SlackActivities(settings).find_slack_user(email)
    except ApplicationError as error:
        return failed(label, trouble("SLACK_BOT_TOKEN", settings.slack_base_url, error))
    try:
        platform_problem = _platform_problem(PlatformActivities(settings).get_platform_admin(email))
    except ApplicationError as error:
        return failed(label, trouble("PLATFORM_API_TOKEN", settings.platform_base_url, error))
    problems = []
    if user is None:
        problems.append("no PagerDuty user has this login email (invite them, or correct their login)")
    if slack_id is None:
        problems.append("no Slack user has this email (users.lookupByEmail; the bot needs users:read.email)")
    if platform_problem:
        problems.append(f"{platform_problem} (step 0 refuses anyone but an active platform admin)")
    if problems:
        return failed(label, "; ".join(problems))
    return ok(label, f"PagerDuty user {user.id}, Slack user {slack_id}, active platform admin")


# --- the list, and running it -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    """The label its result carries (`TEMPORAL`, `PAGERDUTY_KEY`, ...)."""
    run: Callable[..., CheckResult | Awaitable[CheckResult]]
    args: tuple[Any, ...]
    needs: tuple[str, ...] = ()
    """Checks that must pass first: if one did not, this one is reported as not checked."""


def checks(settings: Settings, admins: list[str]) -> list[Check]:
    """What `starter.py doctor` runs, in order; `admins` are the emails given on the command line."""
    trust = (CA_FILE,) if settings.ca_file is not None else ()
    listed = [
        Check(TEMPORAL, temporal, (settings,)),
        *([Check(CA_FILE, ca_file, (settings,))] if trust else []),
        Check(PAGERDUTY_KEY, pagerduty_api_key, (settings,), needs=trust),
        Check(SCHEDULE, pagerduty_schedule, (settings,), needs=(PAGERDUTY_KEY,)),
        Check(SERVICES, pagerduty_services, (settings,), needs=(PAGERDUTY_KEY,)),
        Check(PAGERDUTY_IDENTITY, pagerduty_service_identity, (settings,), needs=(PAGERDUTY_KEY,)),
        Check(SLACK, slack_access, (settings,), needs=trust),
        Check(PLATFORM, platform_api, (settings,), needs=trust),
        Check(PLATFORM_IDENTITY, platform_service_identity, (settings,), needs=(PLATFORM,)),
    ]
    for email in dict.fromkeys(email.lower() for email in admins):
        listed.append(
            Check(admin_label(email), admin, (settings, email), needs=(PAGERDUTY_KEY, SLACK, PLATFORM))
        )
    return listed


async def run(listed: list[Check], settings: Settings) -> list[CheckResult]:
    """Every check in order (the sync clients on a thread). No secret survives in a result."""
    results: dict[str, CheckResult] = {}
    for check in listed:
        not_passed = [
            name
            for name in check.needs
            if results[name].status is not Status.OK and not results[name].reads_work
        ]
        if not_passed:
            result = CheckResult(
                check=check.name,
                status=Status.SKIPPED,
                detail=f"not checked: {' and '.join(not_passed)} did not pass",
            )
        else:
            result = await _run_one(check)
        results[check.name] = _hidden(result, settings.secret_values())
    return list(results.values())


async def _run_one(check: Check) -> CheckResult:
    try:
        if inspect.iscoroutinefunction(check.run):
            return await check.run(*check.args)
        return await asyncio.to_thread(check.run, *check.args)
    except Exception as error:  # noqa: BLE001 - a check that breaks is a failed check, not a trace
        return failed(check.name, f"could not check: {type(error).__name__}: {_first_line(error)}")


def _hidden(result: CheckResult, secrets: list[str]) -> CheckResult:
    text = result.detail
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return result.model_copy(update={"detail": text})


MARKS = {
    True: {Status.OK: "✓", Status.FAILED: "✗", Status.SKIPPED: "–"},
    False: {Status.OK: "ok", Status.FAILED: "FAIL", Status.SKIPPED: "SKIP"},
}


def line(result: CheckResult, terminal: bool) -> str:
    """One line per check: ✓/✗ on a terminal (ok/FAIL otherwise), what was checked, the detail."""
    return f"{MARKS[terminal][result.status]} {result.check}: {result.detail}"


def exit_code(results: list[CheckResult]) -> int:
    return 0 if all(result.status is Status.OK for result in results) else EXIT_FAILED
