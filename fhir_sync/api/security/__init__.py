"""SMART Backend Services for the server: the token endpoint, access tokens, and the
`Authorizer` behind every FHIR route's `require_scope`.

Module map: `scopes` (what each role may be granted), `jwks` (clients' public keys),
`assertions` (checking a client's signed assertion), `tokens` (the server's access tokens),
`token_endpoint` (`POST /auth/token`), `directory` (registered clients, cached), `authorizer`
(bearer token -> Caller).
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from fhir_sync.api.security import token_endpoint
from fhir_sync.api.security.assertions import AssertionVerifier
from fhir_sync.api.security.authorizer import TokenAuthorizer
from fhir_sync.api.security.directory import ClientDirectory
from fhir_sync.api.security.jwks import JwksFetcher
from fhir_sync.api.security.tokens import TokenKeys, TokenService
from fhir_sync.services.server_settings import ServerSettings


def install_security(
    app: FastAPI,
    settings: ServerSettings,
    engine: Engine,
    *,
    fetcher: JwksFetcher | None = None,
) -> None:
    """Serve `/auth/token` and check bearer tokens as `settings.auth_required` says (the
    token endpoint works even while tokens are not enforced, so clients can be set up first)."""
    tokens = TokenService(TokenKeys(engine))
    directory = ClientDirectory(engine)
    app.state.authorizer = TokenAuthorizer(tokens, directory, required=settings.auth_required)
    edge = settings.edge
    fetcher = fetcher or JwksFetcher(timeout=edge.jwks_timeout, failure_ttl=edge.jwks_failure_cache)
    app.state.token_endpoint = token_endpoint.TokenEndpoint(
        AssertionVerifier(engine, fetcher),
        tokens,
        per_client=edge.token_rate_per_client,
        per_address=edge.token_rate_per_address,
    )
    app.include_router(token_endpoint.router)
