"""The handful of errors a person can meet, mapped once to HTTP status and CLI exit code.

Each is a Temporal `ApplicationError` whose `type` is the class name, so the same error raised in
an update validator or an activity reaches the CLI and the endpoint intact and is rebuilt there
with `from_failure`.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


class HandoverError(ApplicationError):
    """What every named error is: its HTTP status and CLI exit code, given where it is declared."""

    http_status = 400
    exit_code = 1

    def __init_subclass__(cls, http_status: int = 400, exit_code: int = 1, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.http_status, cls.exit_code = http_status, exit_code

    def __init__(self, message: str) -> None:
        super().__init__(message, type=type(self).__name__, non_retryable=True)


class InvalidInput(HandoverError, http_status=422, exit_code=2):
    """Malformed or impossible input."""


class UnknownAdmin(HandoverError, http_status=422, exit_code=3):
    """No such person in PagerDuty, Slack or the platform."""


class UnknownHandover(HandoverError, http_status=404, exit_code=3):
    """No handover by that id (or none the caller may read)."""


class UnknownItem(HandoverError, http_status=404, exit_code=3):
    """The incident, ticket or rollout is not part of this handover."""


class NotAllowed(HandoverError, http_status=403, exit_code=4):
    """The wrong person for this input, or someone who is not a platform admin."""


class AlreadyRunning(HandoverError, http_status=409, exit_code=5):
    """A live handover for this outgoing admin exists already."""


class AlreadyDone(HandoverError, http_status=409, exit_code=5):
    """The input was given before (a duplicate), or the handover has ended."""


class NotReady(HandoverError, http_status=409, exit_code=5):
    """The input comes too early, e.g. ownership of a rollout before its annotation."""


class NotSetUp(HandoverError, http_status=424, exit_code=6):
    """The service's own access is not what a handover needs, e.g. the Slack bot is not in the
    channel or its token lacks a scope: an operator fixes the set-up, then starts again."""


class NoWorker(HandoverError, http_status=503, exit_code=1):
    """Temporal is up, but no worker answers for the handover (inputs are still kept, as signals)."""


KNOWN: dict[str, type[HandoverError]] = {
    cls.__name__: cls
    for cls in (
        InvalidInput,
        UnknownAdmin,
        UnknownHandover,
        UnknownItem,
        NotAllowed,
        AlreadyRunning,
        AlreadyDone,
        NotReady,
        NotSetUp,
        NoWorker,
    )
}


def from_failure(error: BaseException) -> HandoverError | None:
    """Find one of ours in a Temporal failure chain (update rejection, workflow failure)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, HandoverError):
            return seen
        if isinstance(seen, ApplicationError) and seen.type in KNOWN:
            return KNOWN[seen.type](seen.message)
        seen = seen.__cause__
    return None


def invalid_fields(problems: list, forms: dict[str, str] | None = None, skip: tuple = ()) -> str:
    """pydantic's errors as one sentence, for the CLI and the endpoint alike: `field: what is
    wrong`, our validators' words as they are; a pattern refused says what the field must be
    (`forms`), never the regular expression."""
    parts = []
    for problem in problems:
        loc = [str(part) for part in problem.get("loc", ()) if part not in skip]
        where = ".".join(loc)
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        if problem.get("type") == "string_pattern_mismatch":
            given = str(problem.get("input", ""))
            given = given if len(given) <= 60 else given[:57] + "..."
            form = (forms or {}).get(loc[-1] if loc else "", "in the form expected here")
            message = f"{given!r} is not {form}"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
