"""`POST /auth/token`: the client_credentials grant of SMART Backend Services.

The request is an `application/x-www-form-urlencoded` form; the answer a bearer token whose
scopes are those requested that the client's role allows (`scopes.py`), or an RFC 6749 error.
The form is parsed here rather than by a form library so that its size is bounded before it is
read and repeated parameters can be refused, as RFC 6749 requires.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_sync.server.context import root_url
from fhir_sync.server.fhirjson import dumps
from fhir_sync.server.security.assertions import AssertionVerifier
from fhir_sync.server.security.oauth_errors import NO_STORE, OAuthError
from fhir_sync.server.security.scopes import granted_scopes
from fhir_sync.server.security.tokens import TokenService

log = logging.getLogger("fhir_sync.server.security")

TOKEN_PATH: Final = "/auth/token"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_FORM_BYTES: Final = 16 * 1024
_FIELDS: Final = ("grant_type", "scope", "client_assertion_type", "client_assertion", "client_id")

router = APIRouter()


class TokenEndpoint:
    def __init__(self, verifier: AssertionVerifier, tokens: TokenService) -> None:
        self.verifier = verifier
        self.tokens = tokens

    def grant(self, form: dict[str, str], token_url: str) -> dict[str, object]:
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
        client = self.verifier.verify(assertion, token_url, form.get("client_id"))
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
        body = await run_in_threadpool(endpoint.grant, form, root_url(request) + TOKEN_PATH)
    except OAuthError as error:
        return error.response()
    return Response(
        content=dumps(body), media_type="application/json", headers=NO_STORE, status_code=200
    )


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
