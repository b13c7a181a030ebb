"""Checking a client's `private_key_jwt` assertion (SMART Backend Services, RFC 7523).

The assertion proves the client holds a private key whose public half it registered. It must
be signed with RS384 or ES384 by the registered key its `kid` names, say the client's id as
both `iss` and `sub`, be addressed to this token endpoint (`aud`), expire within five minutes,
and carry a `jti` never used before: the id is recorded in the database until the assertion
expires, so a captured assertion cannot be replayed against any server process.

Every failure is `invalid_client` with a fixed description; the server logs which client
failed how (client ids are not patient data), so an operator can help a client fix its setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import jwt
from sqlalchemy import Engine

from fhir_sync.api.security.jwks import (
    ALGORITHMS,
    Jwk,
    JwksError,
    JwksFetcher,
    parse_jwks,
    verification_keys,
)
from fhir_sync.api.security.oauth_errors import OAuthError, invalid_client
from fhir_sync.store.assertion_ids import claim_assertion_id
from fhir_sync.store.clients import get_client
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.tables import RegisteredClient

log = logging.getLogger("fhir_sync.api.security")

MAX_LIFETIME: Final = 300  # seconds an assertion may be valid for (SMART: five minutes)
CLOCK_SKEW: Final = 30  # seconds of difference tolerated between the client's clock and ours
_MAX_JTI: Final = 255
_MAX_CLIENT_ID: Final = 128


class AssertionVerifier:
    def __init__(
        self,
        engine: Engine,
        fetcher: JwksFetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._fetcher = fetcher
        self._clock = clock

    def verify(
        self, assertion: str, token_urls: Sequence[str], client_id: str | None
    ) -> RegisteredClient:
        """The registered client that signed `assertion`; OAuthError otherwise. `client_id`
        is the optional form parameter, which must then agree with the assertion."""
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise invalid_client("client_assertion is not a signed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise invalid_client("the client assertion must be signed with RS384 or ES384")
        if not isinstance(kid, str) or not kid:
            raise invalid_client("the client assertion header has no kid")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not 0 < len(issuer) <= _MAX_CLIENT_ID:
            raise invalid_client("the client assertion has no valid iss")
        if unverified.get("sub") != issuer or (client_id is not None and client_id != issuer):
            raise invalid_client("iss and sub (and client_id) must all be the client id")
        with read_transaction(self._engine) as connection:
            client = get_client(connection, issuer)
        if client is None or client.disabled:
            log.warning("token request refused: unknown or removed client")
            raise invalid_client("the client is not registered")
        claims = self._checked_claims(assertion, client, header, token_urls)
        self._claim_jti(client, claims)
        return client

    def _checked_claims(
        self,
        assertion: str,
        client: RegisteredClient,
        header: dict[str, Any],
        token_urls: Sequence[str],
    ) -> dict[str, Any]:
        alg, kid = header["alg"], header["kid"]
        jku = header.get("jku")
        if jku is not None and jku != client.jwks_url:
            return self._refuse(client, "jku is not the client's registered JWKS URL")
        candidates = verification_keys(self._registered_keys(client, kid), kid, alg)
        if not candidates:
            return self._refuse(client, "no registered key matches the assertion's kid and alg")
        for candidate in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    assertion,
                    candidate.key,
                    algorithms=[alg],
                    audience=list(token_urls),
                    issuer=client.client_id,
                    leeway=CLOCK_SKEW,
                    options={"require": ["iss", "sub", "aud", "exp", "jti"], "strict_aud": False},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                return self._refuse(client, "the client assertion has expired")
            except jwt.InvalidAudienceError:
                return self._refuse(client, "the assertion's aud must be the token endpoint URL")
            except jwt.InvalidTokenError:
                return self._refuse(client, "the client assertion's claims are invalid")
            if claims["exp"] > self._clock() + MAX_LIFETIME + CLOCK_SKEW:
                return self._refuse(client, "the assertion's exp is more than 5 minutes ahead")
            jti = claims["jti"]
            if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI:
                return self._refuse(client, "the assertion's jti must be a string")
            return claims
        return self._refuse(client, "the client assertion's signature does not verify")

    def _registered_keys(self, client: RegisteredClient, kid: str) -> list[Jwk]:
        try:
            keys = self._previous_keys(client)
            if client.jwks is not None:
                return parse_jwks(client.jwks) + keys
            if client.jwks_url is not None:
                return self._fetcher.keys(client.jwks_url, want_kid=kid) + keys
        except JwksError as exc:
            log.warning("keys of client %s unusable: %s", client.client_id, exc)
            raise invalid_client("the client's registered keys cannot be used") from None
        return []

    def _previous_keys(self, client: RegisteredClient) -> list[Jwk]:
        """The keys a rotation replaced, while its overlap lasts."""
        until = client.previous_until
        if client.previous_jwks is None or until is None:
            return []
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until <= datetime.fromtimestamp(self._clock(), UTC):
            return []
        return parse_jwks(client.previous_jwks)

    def _claim_jti(self, client: RegisteredClient, claims: dict[str, Any]) -> None:
        expires_at = datetime.fromtimestamp(int(claims["exp"]) + CLOCK_SKEW, UTC)
        with write_transaction(self._engine) as connection:
            first = claim_assertion_id(
                connection,
                client.client_id,
                claims["jti"],
                expires_at=expires_at,
                now=datetime.fromtimestamp(self._clock(), UTC),
            )
        if not first:
            self._refuse(client, "the assertion's jti has been used before")

    def _refuse(self, client: RegisteredClient, description: str) -> dict[str, Any]:
        log.warning("token request of client %s refused: %s", client.client_id, description)
        raise OAuthError("invalid_client", description)
