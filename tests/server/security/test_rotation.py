"""A client's tokens belong to one registration: removed and registered again under the same
id, or given new keys with `fhir-sync clients rotate`, its earlier tokens are refused (after
the rotation's overlap), as are assertions signed with the replaced keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.clients import remove_client
from fhir_sync.store.database import write_transaction
from tests.server.security.conftest import TOKEN_URL, TokenFor, bearer, register
from tests.server.security.keys import ClientKey, assertion, ec_key, jwks, token_form

runner = CliRunner()


def reads(client: TestClient, token: str) -> int:
    """The status of a search with `token`, after the server's copy of the clients is renewed
    (as it is every few seconds)."""
    client.app.state.authorizer.directory.reload()  # type: ignore[attr-defined]
    return client.get("/fhir/CarePlan", headers=bearer(token)).status_code


def rotate(engine: Engine, tmp_path: Path, key: ClientKey, overlap: int) -> None:
    keys = tmp_path / f"{key.kid}.json"
    keys.write_text(jwks(key))
    env = {"FHIR_SYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    arguments = ["clients", "rotate", "ehr-1", "--jwks", str(keys), "--overlap", str(overlap)]
    result = runner.invoke(app, arguments, env=env)
    assert result.exit_code == 0, result.output
    assert "generation 2" in result.output


def token(client: TestClient, key: ClientKey) -> int:
    form = token_form(assertion("ehr-1", key, TOKEN_URL), "system/*.rs")
    return client.post("/auth/token", data=form).status_code


def test_a_client_registered_again_does_not_get_its_old_tokens_back(
    engine: Engine, secure: TestClient, token_for: TokenFor, rsa: ClientKey
) -> None:
    old = token_for("ehr-1", "system/*.rs")
    assert reads(secure, old) == 200
    with write_transaction(engine) as connection:
        assert remove_client(connection, "ehr-1")
    register(engine, "ehr-1", "ehr", rsa)  # the same id and even the same key
    assert reads(secure, old) == 401
    assert reads(secure, token_for("ehr-1", "system/*.rs")) == 200


@pytest.mark.parametrize(
    ("overlap", "old_ones"),
    [
        pytest.param(3600, 200, id="old keys and tokens work for the overlap"),
        pytest.param(0, 401, id="without overlap they are refused at once"),
    ],
)
def test_rotation_keeps_old_keys_and_tokens_for_the_overlap_only(
    engine: Engine,
    secure: TestClient,
    token_for: TokenFor,
    rsa: ClientKey,
    tmp_path: Path,
    overlap: int,
    old_ones: int,
) -> None:
    old = token_for("ehr-1", "system/*.rs")
    new_key = ec_key("ec-new")
    rotate(engine, tmp_path, new_key, overlap=overlap)
    assert reads(secure, old) == old_ones  # a token issued before
    assert token(secure, rsa) == old_ones  # the old key signing
    assert token(secure, new_key) == 200
    if overlap:
        assert reads(secure, token_for("ehr-1", "system/*.rs")) == 200


def test_rotating_an_unknown_client_fails(engine: Engine, tmp_path: Path, rsa: ClientKey) -> None:
    keys = tmp_path / "k.json"
    keys.write_text(jwks(rsa))
    env = {"FHIR_SYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = runner.invoke(app, ["clients", "rotate", "nobody", "--jwks", str(keys)], env=env)
    assert result.exit_code == 1 and "no active client" in result.output
