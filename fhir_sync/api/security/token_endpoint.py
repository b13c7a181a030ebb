"""`POST /auth/token`: the client_credentials grant of SMART Backend Services.

The request is an `application/x-www-form-urlencoded` form; the answer a bearer token whose
scopes are those requested that the client's role allows (`scopes.py`), or an RFC 6749 error.
The form is parsed here rather than by a form library so that its size is bounded before it is
read and repeated parameters can be refused, as RFC 6749 requires.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final
from urllib.parse import parse_qsl

import jwt
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.context import root_url, settings_of
from fhir_sync.api.fhirjson import dumps
from fhir_sync.api.security.assertions import AssertionVerifier
from fhir_sync.api.security.oauth_errors import NO_STORE, OAuthError
from fhir_sync.api.security.rate_limit import RateLimiter
from fhir_sync.api.security.scopes import granted_scopes
from fhir_sync.api.security.tokens import TokenService

log = logging.getLogger("fhir_sync.api.security")

TOKEN_PATH: Final = "/auth/token"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_FORM_BYTES: Final = 16 * 1024
_FIELDS: Final = ("grant_type", "scope", "client_assertion_type", "client_assertion", "client_id")

router = APIRouter()


class TokenEndpoint:
    """`per_client` and `per_address`: requests a minute (0: unlimited) before a 429."""

    def __init__(
        self,
        verifier: AssertionVerifier,
        tokens: TokenService,
        *,
        per_client: int = 0,
        per_address: int = 0,
    ) -> None:
        self.verifier = verifier
        self.tokens = tokens
        self.per_client = RateLimiter(per_client)
        self.per_address = RateLimiter(per_address)

    def admit(self, form: dict[str, str], address: str) -> None:
        """429 when the caller's address or the client the request names has used up its
        requests for now; checked before any key is looked at or fetched."""
        wait = self.per_address.wait(address)
        client_id = form.get("client_id") or _claimed_client(form.get("client_assertion", ""))
        if not wait and client_id:
            wait = self.per_client.wait(client_id[:128])
        if wait:
            log.warning("token requests refused for %d s: rate limit", wait)
            raise OAuthError("slow_down", "too many token requests; retry later", retry_after=wait)

    def grant(self, form: dict[str, str], token_urls: Sequence[str]) -> dict[str, object]:
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion", "")
        if not assertion:
            raise OAuthError("invalid_request", "client_assertion is required")
        requested = form.get("scope", "")
        if not requested.strip():
            raise OAuthError("invalid_scope", "scope is required")
        client = self.verifier.verify(assertion, token_urls, form.get("client_id"))
        scopes = granted_scopes(requested, client.role)
        if not scopes:
            log.warning("token request of client %s refused: no allowed scope", client.client_id)
            raise OAuthError("invalid_scope", "none of the requested scopes is allowed")
        issued = self.tokens.issue(client, scopes)
        log.info("issued an access token to client %s (%s)", client.client_id, client.role)
        return {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }


@router.post(TOKEN_PATH, name="token", include_in_schema=True)
async def token(request: Request) -> Response:
    endpoint: TokenEndpoint = request.app.state.token_endpoint
    try:
        form = await _form(request)
        endpoint.admit(form, request.client.host if request.client else "")
        body = await run_in_threadpool(endpoint.grant, form, token_urls(request))
    except OAuthError as error:
        return error.response()
    return Response(
        content=dumps(body), media_type="application/json", headers=NO_STORE, status_code=200
    )


def token_urls(request: Request) -> list[str]:
    """The `aud` values a client assertion may name: this server's token URL (from the public
    URL, else the listening address) and those the deployment declares."""
    return [root_url(request) + TOKEN_PATH, *settings_of(request).edge.token_urls]


def _claimed_client(assertion: str) -> str | None:
    """The `iss` an assertion claims, unverified: only to count its requests."""
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return None
    return issuer if isinstance(issuer, str) else None


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "the request body is too large")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form cannot be parsed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in _FIELDS and name in form:
            raise OAuthError("invalid_request", f"{name} is given more than once")
        form[name] = value
    return form
