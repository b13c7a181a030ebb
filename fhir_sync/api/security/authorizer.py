"""The `Authorizer` the routes' `require_scope` seam calls: bearer token -> `Caller`.

The caller's role and payer come from the signed token (issued from the client's registration),
never from anything else in the request, so a payer cannot widen what it sees by asking. The
token's client must also still be registered in the same role and for the same payer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from fastapi import Request

from fhir_sync.api.auth import ANONYMOUS_PHARMACY, Caller
from fhir_sync.api.errors import FhirError
from fhir_sync.api.security.directory import ClientDirectory
from fhir_sync.api.security.tokens import RejectedTokenError, TokenService

log = logging.getLogger("fhir_sync.api.security")
REALM: Final = 'Bearer realm="fhir-sync"'


class TokenAuthorizer:
    """`required`: True enforces tokens always, False never (every caller is the anonymous
    pharmacy); None, the `auto` mode, from the moment any client has been registered."""

    def __init__(
        self, tokens: TokenService, directory: ClientDirectory, *, required: bool | None
    ) -> None:
        self._tokens = tokens
        self.directory = directory
        self._required = required

    def enforcing(self) -> bool:
        if self._required is None:
            return self.directory.any_registered()
        return self._required

    def authenticate(self, request: Request) -> Caller:
        if not self.enforcing():
            return ANONYMOUS_PHARMACY
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise FhirError(
                401, "an access token is required (Authorization: Bearer)", headers=_challenge()
            )
        try:
            caller = self._tokens.verify(token)
        except RejectedTokenError as exc:
            raise FhirError(401, str(exc), headers=_challenge(str(exc))) from None
        registered = self.directory.active(caller.client_id or "")
        if registered is None or (registered.role, registered.payer) != (
            caller.role,
            caller.payer,
        ):
            log.warning("token of a removed or changed client refused: %s", caller.client_id)
            message = "the access token's client is no longer registered"
            raise FhirError(401, message, headers=_challenge(message))
        if (caller.generation or 0) > registered.generation:
            # Issued after a rotation this process's copy has not seen yet.
            registered = self.directory.lookup(caller.client_id or "") or registered
        if not registered.accepts(caller.generation, datetime.now(UTC)):
            log.warning("token of a re-registered or rotated client refused: %s", caller.client_id)
            message = "the access token was issued before the client's keys changed"
            raise FhirError(401, message, headers=_challenge(message))
        return caller


def _challenge(error: str | None = None) -> dict[str, str]:
    """RFC 6750: no error code when no credentials were sent, invalid_token otherwise."""
    if error is None:
        return {"WWW-Authenticate": REALM}
    return {"WWW-Authenticate": f'{REALM}, error="invalid_token", error_description="{error}"'}
