"""Auth: static bearer, SMART Backend Services tokens (assertion, caching, refresh on 401)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from http_fakes import BASE, FakeClock

from adapters.http import FhirClient, FhirError, SmartBackendServices, StaticBearer
from adapters.http.smart import CLIENT_ASSERTION_TYPE

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://auth.example.test/token"
PATIENT = {"resourceType": "Patient", "id": "p1"}


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def smart(rsa_key: rsa.RSAPrivateKey) -> SmartBackendServices:
    return SmartBackendServices(
        client_id="fhir-sync",
        private_key_pem=_pem(rsa_key),
        key_id="key-1",
        scopes=("system/MedicationRequest.rs", "system/Patient.rs"),
        token_url=TOKEN_URL,
    )


class TokenServer:
    """Issues tok1, tok2, ... and keeps every form it received."""

    def __init__(self, expires_in: int = 300) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.forms.append(parse_qs(request.content.decode()))
        token = f"tok{len(self.forms)}"
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        return httpx.Response(200, json=body)


async def test_static_bearer_is_sent_and_a_401_is_not_retried(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").respond(401)

    with pytest.raises(FhirError) as caught:
        await make_client(auth=StaticBearer("s3cret")).read("Patient", "p1")

    assert caught.value.status == 401
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == "Bearer s3cret"


def test_secrets_are_not_in_settings_repr(smart: SmartBackendServices) -> None:
    assert "PRIVATE KEY" not in repr(smart)
    assert "s3cret" not in repr(StaticBearer("s3cret"))


async def test_one_token_request_for_many_concurrent_calls(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], smart: SmartBackendServices
) -> None:
    tokens = TokenServer()
    token_route = mock.post(TOKEN_URL).mock(side_effect=tokens)
    read = mock.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    client = make_client(auth=smart)

    await asyncio.gather(*(client.read("Patient", "p1") for _ in range(10)))
    await client.read("Patient", "p1")

    assert token_route.call_count == 1
    assert read.call_count == 11
    assert {c.request.headers["Authorization"] for c in read.calls} == {"Bearer tok1"}


async def test_token_refreshed_shortly_before_expiry(
    mock: respx.MockRouter,
    make_client: Callable[..., FhirClient],
    smart: SmartBackendServices,
    clock: FakeClock,
) -> None:
    token_route = mock.post(TOKEN_URL).mock(side_effect=TokenServer(expires_in=300))
    read = mock.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    client = make_client(auth=smart)

    await client.read("Patient", "p1")
    clock.now += 239  # refresh_margin is 60 s: still good
    await client.read("Patient", "p1")
    assert token_route.call_count == 1
    clock.now += 2  # now within 60 s of expiry
    await client.read("Patient", "p1")

    assert token_route.call_count == 2
    assert read.calls.last.request.headers["Authorization"] == "Bearer tok2"


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
async def test_client_assertion_claims_and_signature(
    algorithm: str,
    mock: respx.MockRouter,
    make_client: Callable[..., FhirClient],
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    clock: FakeClock,
) -> None:
    key = rsa_key if algorithm == "RS384" else ec_key
    config = SmartBackendServices(
        client_id="fhir-sync",
        private_key_pem=_pem(key),
        key_id="kid-42",
        algorithm=algorithm,  # type: ignore[arg-type]
        scopes=("system/MedicationRequest.rs", "system/MedicationDispense.rs"),
        token_url=TOKEN_URL,
    )
    tokens = TokenServer()
    mock.post(TOKEN_URL).mock(side_effect=tokens)
    read = mock.get(f"{BASE}/Patient/p1").respond(401)
    read.side_effect = [httpx.Response(401), httpx.Response(200, json=PATIENT)]

    await make_client(auth=config).read("Patient", "p1")  # 401 forces a second assertion

    assert len(tokens.forms) == 2
    form = tokens.forms[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["system/MedicationRequest.rs system/MedicationDispense.rs"]
    assert form["client_assertion_type"] == [CLIENT_ASSERTION_TYPE]
    assertion = form["client_assertion"][0]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == algorithm and header["kid"] == "kid-42"
    claims: dict[str, Any] = jwt.decode(
        assertion, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL
    )
    assert claims["iss"] == claims["sub"] == "fhir-sync"
    assert claims["aud"] == TOKEN_URL
    assert clock.now < claims["exp"] <= clock.now + 300
    with pytest.raises(jwt.InvalidSignatureError):
        other = (
            rsa.generate_private_key(65537, 2048)
            if algorithm == "RS384"
            else ec.generate_private_key(ec.SECP384R1())
        )
        jwt.decode(assertion, other.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    second = jwt.decode(
        tokens.forms[1]["client_assertion"][0],
        key.public_key(),
        algorithms=[algorithm],
        audience=TOKEN_URL,
    )
    assert second["jti"] != claims["jti"]


async def test_401_refreshes_the_token_once_then_succeeds(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], smart: SmartBackendServices
) -> None:
    token_route = mock.post(TOKEN_URL).mock(side_effect=TokenServer())

    def guarded(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok1":
            return httpx.Response(401)
        return httpx.Response(200, json=PATIENT)

    read = mock.get(f"{BASE}/Patient/p1").mock(side_effect=guarded)

    result = await make_client(auth=smart).read("Patient", "p1")

    assert result.resource == PATIENT
    assert token_route.call_count == 2
    assert read.call_count == 2


async def test_second_401_surfaces(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], smart: SmartBackendServices
) -> None:
    token_route = mock.post(TOKEN_URL).mock(side_effect=TokenServer())
    read = mock.get(f"{BASE}/Patient/p1").respond(401)

    with pytest.raises(FhirError) as caught:
        await make_client(auth=smart).read("Patient", "p1")

    assert caught.value.status == 401
    assert token_route.call_count == 2
    assert read.call_count == 2


async def test_token_endpoint_discovered_from_smart_configuration(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], smart: SmartBackendServices
) -> None:
    from dataclasses import replace

    discovered = "https://auth.example.test/discovered-token"
    well_known = mock.get(f"{BASE}/.well-known/smart-configuration").respond(
        json={"token_endpoint": discovered, "grant_types_supported": ["client_credentials"]}
    )
    tokens = TokenServer()
    mock.post(discovered).mock(side_effect=tokens)
    mock.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    client = make_client(auth=replace(smart, token_url=None))

    await client.read("Patient", "p1")
    await client.read("Patient", "p1")

    assert well_known.call_count == 1
    assertion = tokens.forms[0]["client_assertion"][0]
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == discovered


async def test_token_endpoint_rejection_is_a_fhir_error_without_description(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], smart: SmartBackendServices
) -> None:
    mock.post(TOKEN_URL).respond(
        401, json={"error": "invalid_client", "error_description": "key for Patient 123"}
    )
    read = mock.get(f"{BASE}/Patient/p1").respond(json=PATIENT)

    with pytest.raises(FhirError, match=r"invalid_client") as caught:
        await make_client(auth=smart).read("Patient", "p1")

    assert "Patient 123" not in str(caught.value)
    assert read.call_count == 0
