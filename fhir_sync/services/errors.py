"""What a use case raises when it refuses or cannot do what was asked.

The classes say what went wrong in the use case's own terms; none of them knows HTTP. The API
turns each into an OperationOutcome and a status in one table (api/errors.py), the worker
decides from the class whether a queued job is settled or worth a retry, and the CLI prints
the message. Messages are built from fixed vocabulary and ids the caller gave: no patient
data from a record's content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """`code`: the FHIR issue type when it is more precise than the class's; `expression`:
    where in the request the problem is; `issues`: several OperationOutcome issues (rejected
    input resources), replacing the one built from the message."""

    def __init__(
        self,
        diagnostics: str,
        *,
        code: str | None = None,
        expression: str | Sequence[str] | None = None,
        issues: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.code = code
        self.expression = expression
        self.issues = issues


class NotEnrolledError(DomainError):
    """The patient has no enrollment."""


class StateConflictError(DomainError):
    """The enrollment's state does not allow the operation (unenrolled, not on hold)."""


class VersionMismatchError(DomainError):
    """The caller named an older version of the plan than the current one."""


class InputsRejectedError(DomainError):
    """The given inputs (resources, terms) cannot be used; nothing was changed."""


class NotAvailableError(DomainError):
    """This deployment cannot do it (no live FHIR endpoints configured)."""


class UpstreamFailedError(DomainError):
    """A FHIR endpoint the use case reads from or writes to answered with a failure."""


class UpstreamTimeoutError(UpstreamFailedError):
    """A FHIR endpoint did not answer in time."""
