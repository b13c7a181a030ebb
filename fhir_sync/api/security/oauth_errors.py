"""Token endpoint errors as RFC 6749 section 5.2 says: JSON `error` codes, never cached.

The token endpoint is OAuth, not FHIR, so its errors are not OperationOutcomes. Descriptions
are fixed texts chosen here; nothing the client sent is echoed back.
"""

from __future__ import annotations

from typing import Final

from fastapi import Response

from fhir_sync.api.fhirjson import dumps

NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """`error` is an RFC 6749 code: invalid_request, invalid_client, unsupported_grant_type,
    invalid_scope...; invalid_client is a 401, the others 400."""

    def __init__(self, error: str, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        if self.retry_after is not None:
            return 429
        return 401 if self.error == "invalid_client" else 400

    def response(self) -> Response:
        headers = dict(NO_STORE)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return Response(
            content=dumps({"error": self.error, "error_description": self.description}),
            status_code=self.status,
            media_type="application/json",
            headers=headers,
        )


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description)
