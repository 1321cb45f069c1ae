"""How an answer from an external API becomes a Temporal retry, or an outcome in the report.

Temporal does the retrying; no client retries on its own and there is no home-made retry loop:
- 429: retry after the server's delay (`ApplicationError(next_retry_delay=...)`).
- 5xx, timeouts, dropped connections: retry with the activity's retry policy.
- 401: our credentials are wrong. Retried too, so that the handover waits (and the worker logs it)
  until an operator fixes the token, instead of marking every item failed.
- Any other 4xx: the request itself is wrong and repeating it cannot help. Inside a batch it is
  that item's `failed` outcome (`Refused`); for a single call it is a non-retryable error.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities import checkpoint


class Refused(Exception):
    """A 4xx contract error for one request: recorded as the item's outcome, not retried."""

    def __init__(self, api: str, status: int, message: str) -> None:
        super().__init__(f"{api} refused the request ({status}): {message}")
        self.status = status


def rate_limited(api: str, retry_after_seconds: float | None) -> ApplicationError:
    delay = max(1.0, float(retry_after_seconds or 1))
    return ApplicationError(
        f"{api} rate limit reached; retrying in {delay:g}s",
        type="RateLimited",
        next_retry_delay=timedelta(seconds=delay),
    )


def unavailable(api: str, what: str) -> ApplicationError:
    return ApplicationError(f"{api} is unavailable: {what}", type="ApiUnavailable")


def classify(api: str, status: int, message: str, retry_after: float | None = None) -> Exception:
    """The exception to raise for a failed HTTP answer."""
    if status == 429:
        return rate_limited(api, retry_after)
    if status >= 500 or status == 408:
        return unavailable(api, f"HTTP {status}: {message}")
    if status == 401:
        return ApplicationError(
            f"{api} rejected the configured API token (401); fix the token and restart the worker",
            type="CredentialsRejected",
        )
    return Refused(api, status, message)


def non_retryable(error: Refused) -> ApplicationError:
    return ApplicationError(str(error), type="Refused", non_retryable=True)


def alive() -> None:
    """Heartbeat before each request of an activity: a worker that dies mid-activity is noticed
    within the heartbeat timeout (seconds), not the activity's whole start-to-close timeout."""
    checkpoint.heartbeat()


def wrote(method: str) -> None:
    """After a successful request: a write counts as progress of the running batch, a read as a
    sign that the API is up (`checkpoint.read_answered`)."""
    if method.upper() != "GET":
        checkpoint.wrote()
    else:
        checkpoint.read_answered()


def seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
