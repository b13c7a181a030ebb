"""Client key pairs and the signed assertions SMART Backend Services clients send."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class ClientKey:
    """`private` is the key object: signing with it skips parsing a PEM, which for RSA costs
    ~90 ms of key validation every time."""

    kid: str
    alg: str
    private: Any
    private_pem: bytes
    public_jwk: dict[str, Any]


def rsa_key(kid: str) -> ClientKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _client_key(kid, "RS384", private, jwt.algorithms.RSAAlgorithm.to_jwk)


def ec_key(kid: str) -> ClientKey:
    private = ec.generate_private_key(ec.SECP384R1())
    return _client_key(kid, "ES384", private, jwt.algorithms.ECAlgorithm.to_jwk)


def _client_key(kid: str, alg: str, private: Any, to_jwk: Any) -> ClientKey:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = json.loads(to_jwk(private.public_key()))
    return ClientKey(kid, alg, private, pem, {**public, "kid": kid, "alg": alg, "use": "sig"})


def jwks(*keys: ClientKey) -> str:
    return json.dumps({"keys": [key.public_jwk for key in keys]})


def assertion(
    client_id: str,
    key: ClientKey,
    aud: str,
    *,
    lifetime: int = 240,
    issued: float | None = None,
    jti: str | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    now = time.time() if issued is None else issued
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": int(now),
        "exp": int(now + lifetime),
        "jti": jti or uuid.uuid4().hex,
        **(claims or {}),
    }
    header = {"kid": key.kid, "typ": "JWT", **(headers or {})}
    return jwt.encode(body, key.private, algorithm=key.alg, headers=header)


def token_form(client_assertion: str, scope: str = "system/*.rs", **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra,
    }
