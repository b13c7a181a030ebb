"""Running a write transaction again when PostgreSQL aborted it to resolve a conflict.

PostgreSQL may end a transaction with a serialization failure (SQLSTATE 40001) or pick it as
the victim of a deadlock (40P01) although nothing is wrong with it: run again, it succeeds. The
locks the enrollment writes take are ordered so that deadlocks should not happen at all; this
is the safety net that turns a rare one into a short delay instead of a 500. Only a function
that opens its own transaction and has no effect outside it may be retried.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger("fhir_sync.store")

RETRIED_STATES: Final = frozenset({"40001", "40P01"})
ATTEMPTS: Final = 5
_BASE_DELAY: Final = 0.02  # seconds; doubled per attempt, with jitter

P = ParamSpec("P")
R = TypeVar("R")


def conflict_state(error: DBAPIError) -> str | None:
    """The SQLSTATE of a conflict worth retrying, None for any other error."""
    state = getattr(error.orig, "sqlstate", None)
    return state if state in RETRIED_STATES else None


def retry_conflicts(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run again (up to ATTEMPTS times in all) after a serialization failure or a
    deadlock."""

    @functools.wraps(function)
    def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except DBAPIError as error:
                state = conflict_state(error)
                if state is None or attempt == ATTEMPTS:
                    raise
                log.warning(
                    "transaction aborted (SQLSTATE %s), attempt %d: retrying", state, attempt
                )
                time.sleep(random.uniform(0.5, 1.5) * _BASE_DELAY * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    return retrying
