"""`fhir-sync clients add|list|remove` against the server's database (both backends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import respx
from sqlalchemy import Engine
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.clients import get_client
from tests.server.security.keys import ClientKey, jwks

runner = CliRunner()


@pytest.fixture
def cli_env(engine: Engine) -> dict[str, str]:
    return {
        "FHIR_SYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["clients", *args], env=env)
    return result.exit_code, result.output


def test_add_list_remove_and_register_again(
    cli_env: dict[str, str], engine: Engine, tmp_path: Path, rsa: ClientKey, ec: ClientKey
) -> None:
    keys = tmp_path / "jwks.json"
    keys.write_text(jwks(rsa, ec))
    code, output = _run(
        cli_env,
        "add",
        "--id",
        "acme-plan",
        "--role",
        "payer",
        "--jwks",
        str(keys),
        "--payer",
        "acme",
    )
    assert code == 0, output
    assert "Organization/acme" in output and "needs an access token" in output
    code, output = _run(cli_env, "add", "--id", "ehr-1", "--role", "ehr", "--jwks", str(keys))
    assert code == 0 and "needs an access token" not in output
    with engine.connect() as connection:
        stored = get_client(connection, "acme-plan")
    assert stored is not None and stored.role == "payer" and stored.payer == "Organization/acme"
    assert json.loads(stored.jwks or "")["keys"][0]["kid"] == rsa.kid
    code, output = _run(cli_env, "list")
    assert code == 0
    assert "acme-plan" in output and "ehr-1" in output and f"{rsa.kid}, {ec.kid}" in output
    code, output = _run(cli_env, "add", "--id", "ehr-1", "--role", "ehr", "--jwks", str(keys))
    assert code == 1 and "exists" in output
    assert _run(cli_env, "remove", "ehr-1")[0] == 0
    assert _run(cli_env, "remove", "ehr-1")[0] == 1
    assert "ehr-1" not in _run(cli_env, "list")[1]
    code, output = _run(cli_env, "list", "--all")
    assert "removed" in output
    code, output = _run(
        cli_env, "add", "--id", "ehr-1", "--role", "prescriber", "--jwks", str(keys)
    )
    assert code == 0, output
    with engine.connect() as connection:
        again = get_client(connection, "ehr-1")
    assert again is not None and again.role == "prescriber" and not again.disabled


def test_a_jwks_url(cli_env: dict[str, str], engine: Engine, rsa: ClientKey) -> None:
    url = "https://keys.example/jwks.json"
    with respx.mock as mock:
        mock.get(url).respond(200, text=jwks(rsa))
        code, output = _run(cli_env, "add", "--id", "ehr-url", "--role", "ehr", "--jwks-url", url)
    assert code == 0, output
    with engine.connect() as connection:
        stored = get_client(connection, "ehr-url")
    assert stored is not None and stored.jwks_url == url and stored.jwks is None
    with respx.mock as mock:
        mock.get(url).respond(404)
        code, output = _run(cli_env, "add", "--id", "ehr-later", "--role", "ehr", "--jwks-url", url)
    assert code == 0 and "warning" in output  # the key service may come up later
    assert url in _run(cli_env, "list")[1]


REFUSED = [
    (["--role", "payer", "--jwks", "{keys}"], "--payer"),
    (
        ["--role", "ehr", "--jwks", "{keys}", "--payer", "Organization/acme"],
        "payer clients only",
    ),
    (["--role", "payer", "--jwks", "{keys}", "--payer", "Organization/a b"], "Organization/ID"),
    (["--role", "ehr"], "exactly one"),
    (["--role", "ehr", "--jwks", "{keys}", "--jwks-url", "https://k.example/j"], "exactly one"),
    (["--role", "ehr", "--jwks-url", "http://keys.example/jwks"], "https"),
    (["--role", "ehr", "--jwks", "{private}"], "private key"),
    (["--role", "ehr", "--jwks", "{weak}"], "2048"),
    (["--role", "ehr", "--jwks", "{missing}"], "cannot read"),
    (["--role", "ehr", "--jwks", "{notjson}"], "not JSON"),
    (["--role", "admin", "--jwks", "{keys}"], "admin"),
]


def test_refused_registrations(cli_env: dict[str, str], tmp_path: Path, rsa: ClientKey) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from jwt.algorithms import RSAAlgorithm

    files = {"keys": jwks(rsa), "notjson": "{nope"}
    private = json.loads(RSAAlgorithm.to_jwk(rsa.private))
    files["private"] = json.dumps({"keys": [{**private, "kid": "k"}]})
    weak = rsa_keys.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    files["weak"] = json.dumps({"keys": [{**json.loads(RSAAlgorithm.to_jwk(weak)), "kid": "w"}]})
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(text)
    paths["missing"] = tmp_path / "missing.json"
    for args, message in REFUSED:
        resolved = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
        code, output = _run(cli_env, "add", "--id", "client-x", *resolved)
        assert code == 2, output
        assert message in output, output
    assert "client-x" not in _run(cli_env, "list", "--all")[1]
