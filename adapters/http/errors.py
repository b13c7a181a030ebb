"""The one error tree every FHIR HTTP failure surfaces in.

Callers catch `FhirError` whatever failed (transport, auth, server, protocol), or one of its
subclasses when they act on the kind of failure: `PreconditionFailedError` (HTTP 412),
`FhirTransportError` (no HTTP response) and its `FhirTimeoutError`. Nobody needs to read the
message to tell them apart. The message is
built from fixed vocabulary only (method, URL path, status, OperationOutcome issue *codes*):
bodies, query strings and issue diagnostics can carry patient data, so they never reach
``str(error)`` or the logs. The parsed OperationOutcome is kept on the error for callers that
decide themselves what is safe to show.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.http.media import load_json_object


class FhirError(Exception):
    """A FHIR interaction failed; ``status`` is None when no HTTP response was received."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome: dict[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.outcome = outcome
        self.method = method
        self.path = path
        self.attempts = attempts

    @property
    def issue_codes(self) -> list[str]:
        return issue_codes(self.outcome)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class PreconditionFailedError(FhirError):
    """HTTP 412: a version check (If-Match) or a conditional write's criteria did not hold.

    Distinct so callers can catch it alone and re-read before retrying their write.
    """


class FhirTransportError(FhirError):
    """No HTTP response was received (connection refused or reset, invalid URL, timeout)."""


class FhirTimeoutError(FhirTransportError):
    """The endpoint did not answer in time (connect, read, write or pool timeout)."""


def issue_codes(outcome: dict[str, Any] | None) -> list[str]:
    if not outcome:
        return []
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return []
    return [
        str(i["code"]) for i in issues if isinstance(i, dict) and isinstance(i.get("code"), str)
    ]


def parse_outcome(body: bytes) -> dict[str, Any] | None:
    doc = load_json_object(body)
    if doc is not None and doc.get("resourceType") == "OperationOutcome":
        return doc
    return None


def error_from_response(
    method: str, path: str, status: int, body: bytes, *, attempts: int = 1
) -> FhirError:
    outcome = parse_outcome(body)
    codes = issue_codes(outcome)
    message = f"{method} {path} failed with HTTP {status}"
    if codes:
        message += f" ({', '.join(dict.fromkeys(codes))})"
    if attempts > 1:
        message += f" after {attempts} attempts"
    cls = PreconditionFailedError if status == 412 else FhirError
    return cls(message, status=status, outcome=outcome, method=method, path=path, attempts=attempts)


def transport_error(method: str, path: str, exc: Exception, *, attempts: int) -> FhirTransportError:
    # Only the exception class name: httpx messages may echo the URL, query included.
    message = f"{method} {path} failed: {type(exc).__name__}"
    if attempts > 1:
        message += f" after {attempts} attempts"
    cls = FhirTimeoutError if isinstance(exc, httpx.TimeoutException) else FhirTransportError
    return cls(message, method=method, path=path, attempts=attempts)
