"""SMART Backend Services clients for the server benchmark: registered with `fhir-sync clients
add` as an operator would, their access tokens fetched from `POST /auth/token` with a signed
assertion built by the project's own FHIR client code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.http.credentials import SmartBackendServices
from adapters.http.smart import client_assertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class BenchClient:
    credentials: SmartBackendServices
    scope: str

    def token(self, root_url: str) -> str:
        """A fresh access token (they live five minutes: one per measured run)."""
        token_url = f"{root_url}/auth/token"
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.credentials, token_url, time.time()),
        }
        answer = httpx.post(token_url, data=form, timeout=30).raise_for_status().json()
        token: str = answer["access_token"]
        return token


def register(
    database_url: str, work: Path, client_id: str, role: str, scope: str, payer: str | None = None
) -> BenchClient:
    """A new RSA key registered for `client_id` in the server's database."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"{client_id}-key"
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = work / f"{client_id}.jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public, "kid": kid, "alg": "RS384", "use": "sig"}]}))
    command = [sys.executable, "-m", "fhir_sync", "clients", "add", "--id", client_id]
    command += ["--role", role, "--jwks", str(jwks)]
    if payer is not None:
        command += ["--payer", payer]
    environ = {**os.environ, "FHIR_SYNC_DATABASE_URL": database_url}
    subprocess.run(command, env=environ, check=True, capture_output=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return BenchClient(SmartBackendServices(client_id, pem, kid), scope)
