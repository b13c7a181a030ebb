"""Which failures are worth another attempt, and how long to wait before it.

Pure functions, so the policy can be tested without a network or a clock.

A request that is not idempotent (a plain POST create) is only retried when the server cannot
have acted on it: the connection was never established, or the server said 429 (rejected before
processing). After a read timeout or a dropped connection the first attempt may have succeeded,
and repeating it could create a duplicate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

#: Server errors that are usually transient. 501/505/511 describe permanent conditions.
RETRYABLE_5XX = frozenset({500, 502, 503, 504})

#: Raised before any byte of the request reached the server.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
#: The request may have been (partly) processed: timeouts and dropped connections mid-exchange.
_MAYBE_SENT: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_base: float
    backoff_max: float
    max_retry_after: float


def exception_is_retryable(exc: Exception, *, idempotent: bool) -> bool:
    if isinstance(exc, _NOT_SENT):
        return True
    return idempotent and isinstance(exc, _MAYBE_SENT)


def status_is_retryable(status: int, *, idempotent: bool) -> bool:
    if status == 429:
        return True
    if status == 408 or status in RETRYABLE_5XX:
        return idempotent
    return False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random, retry_after: float | None = None
) -> float:
    """Delay before attempt ``attempt + 1``.

    Full jitter spreads a thundering herd of clients over the whole window instead of
    synchronising them on the same exponential steps. A server's Retry-After is honoured as
    given (it knows its load better than we do), but capped.
    """
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after)
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
    return rng.uniform(0.0, ceiling)
