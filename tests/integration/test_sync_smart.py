"""`fhir-sync sync` with SMART Backend Services against a protected EHR.

The EHR is sekmet in SMART mode: its token endpoint (a real HTTP endpoint on 127.0.0.1)
verifies the client assertion's signature with the public key registered for the client (a
JWKS), its audience, expiry and jti, and the FHIR endpoint accepts only the tokens it issued,
within their scopes. The test loads and reads back data with a separate static token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .conftest import SekmetServer
from .sync_support import generated, load, patient_ids, read_back, summary_counts, sync_cli

TODAY = date(2026, 3, 2)
LOADER_TOKEN = "loader-token-for-tests"
#: sekmet checks a transaction POST against a wildcard scope (see README, SMART setup).
SCOPE = "system/*.cruds"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Smart:
    base_url: str
    keys: dict[str, Path]  # alg -> PEM file of the registered key
    patients: list[str]


def _pem(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, object]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS384" else jwt.algorithms.ECAlgorithm
    public = json.loads(algorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def smart(
    sekmet_factory: Callable[..., SekmetServer], tmp_path_factory: pytest.TempPathFactory
) -> Smart:
    folder = tmp_path_factory.mktemp("smart-keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    clients = [
        {
            "client_id": "fhir-sync-rs",
            "jwks": {"keys": [_jwk(rsa_key, "rs-1", "RS384")]},
            "scopes": SCOPE,
        },
        {
            "client_id": "fhir-sync-es",
            "jwks": {"keys": [_jwk(ec_key, "es-1", "ES384")]},
            "scopes": SCOPE,
        },
    ]
    auth = {
        "types": ["smart", "bearer"],
        "smart_clients": clients,
        "tokens": [LOADER_TOKEN],
        "token_lifetime": 300,
    }
    server = sekmet_factory(name="sync-smart", server_auth=auth)
    resources = generated(8, 23, TODAY)
    load(server.base_url, resources, token=LOADER_TOKEN)
    keys = {"RS384": _pem(rsa_key, folder / "rs.pem"), "ES384": _pem(ec_key, folder / "es.pem")}
    return Smart(server.base_url, keys, patient_ids(resources))


def _sync_as_rs_client(smart: Smart, private_key: Path, *more: str) -> tuple[int, str]:
    """`fhir-sync sync` against the EHR as the registered RS384 client (key id `rs-1`),
    signing its assertion with `private_key`."""
    return sync_cli(
        "--ehr",
        smart.base_url,
        "--client-id",
        "fhir-sync-rs",
        "--private-key",
        str(private_key),
        "--key-id",
        "rs-1",
        *more,
    )


def test_sync_gets_a_token_with_a_signed_assertion_and_writes_the_plans(smart: Smart) -> None:
    code, output = _sync_as_rs_client(
        smart, smart.keys["RS384"], "--scope", SCOPE, "--today", TODAY.isoformat()
    )

    assert code == 0, output
    assert summary_counts(output)["plans written"] == len(smart.patients)
    assert (
        sorted(read_back(smart.base_url, LOADER_TOKEN).by_identifier("CarePlan")) == smart.patients
    )


def test_es384_credentials_from_the_environment(
    smart: Smart, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "URL": smart.base_url,
        "CLIENT_ID": "fhir-sync-es",
        "PRIVATE_KEY": str(smart.keys["ES384"]),
        "KEY_ID": "es-1",
        "ALG": "ES384",
        "SCOPES": SCOPE,
        "TOKEN_URL": smart.base_url.removesuffix("/fhir") + "/auth/token",
    }.items():
        monkeypatch.setenv(f"FHIR_SYNC_EHR_{key}", value)

    code, output = sync_cli("--today", TODAY.isoformat())

    assert code == 0, output
    counts = summary_counts(output)
    assert counts["plans written"] + counts["plans unchanged (not written)"] == len(smart.patients)


def test_an_unregistered_key_gets_no_token_and_nothing_is_written(
    smart: Smart, tmp_path: Path
) -> None:
    stranger = _pem(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), tmp_path / "x.pem"
    )
    before = read_back(smart.base_url, LOADER_TOKEN).versions()

    code, output = _sync_as_rs_client(smart, stranger, "--today", "2026-03-05")

    text = " ".join(output.split())
    assert code == 1, output
    assert "SMART token request failed with HTTP 401 (invalid_client)" in text
    assert read_back(smart.base_url, LOADER_TOKEN).versions() == before


def test_without_credentials_the_ehr_refuses(smart: Smart) -> None:
    code, output = sync_cli("--ehr", smart.base_url, "--today", TODAY.isoformat())

    assert code == 1
    assert "HTTP 401" in " ".join(output.split())
