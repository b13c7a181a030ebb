"""A real `fhir-sync serve` (uvicorn) with a client registered by `fhir-sync clients add`, used
by fhirpy with bearer tokens obtained through the SMART Backend Services flow:
discovery, a signed assertion, `/auth/token`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import BaseFHIRError, ResourceNotFound
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.database import open_engine
from tests.integration.server_support import serving
from tests.server.api_support import TODAY, demo_patients, enroll_body
from tests.server.conftest import BACKENDS
from tests.server.databases import database
from tests.server.security.conftest import register
from tests.server.security.keys import ClientKey, assertion, jwks, token_form

PATIENTS = demo_patients()[:3]
MEMBER = PATIENTS[0]  # of Organization/acme


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    rsa: ClientKey,
    ec: ClientKey,
) -> Iterator[str]:
    """The root URL of a server with a pharmacy (RS384 key) and a payer (ES384) registered."""
    folder = tmp_path_factory.mktemp("secure-serve")
    with database(request.param, folder) as url:
        env = {**os.environ, "FHIR_SYNC_DATABASE_URL": url, "FHIR_SYNC_TODAY": TODAY.isoformat()}
        env.pop("FHIR_SYNC_AUTH", None)  # the default: on once a client is registered
        (folder / "pharmacy.json").write_text(jwks(rsa))
        args = ["--id", "pharmacy-1", "--role", "pharmacy", "--jwks", str(folder / "pharmacy.json")]
        added = CliRunner().invoke(app, ["clients", "add", *args], env=env)
        assert added.exit_code == 0, added.output
        engine = open_engine(url)  # migrated by the command
        register(engine, "payer-acme", "payer", ec, payer="Organization/acme")
        engine.dispose()
        with serving(folder, env) as process:
            yield process.base_url.removesuffix("/fhir")


async def _smart_token(root: str, client_id: str, key: ClientKey, scope: str) -> str:
    """The SMART Backend Services flow as a client does it: discover, sign, exchange."""
    async with httpx.AsyncClient(timeout=10) as http:
        config = (await http.get(f"{root}/.well-known/smart-configuration")).json()
        assert config["fhir_sync_auth_required"] is True
        assert key.alg in config["token_endpoint_auth_signing_alg_values_supported"]
        token_url = config["token_endpoint"]
        form = token_form(assertion(client_id, key, token_url), scope)
        response = await http.post(token_url, data=form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.mark.anyio
async def test_fhirpy_with_smart_backend_services_tokens(
    server: str, rsa: ClientKey, ec: ClientKey
) -> None:
    base = f"{server}/fhir"
    token = await _smart_token(server, "pharmacy-1", rsa, "system/*.cruds")
    pharmacy = AsyncFHIRClient(base, authorization=f"Bearer {token}")
    for patient_id in PATIENTS:
        extra = []
        if patient_id == MEMBER:
            extra.append({"name": "payer", "valueReference": {"reference": "Organization/acme"}})
        bundle = await pharmacy.execute(
            f"Patient/{patient_id}/$enroll", method="post", data=enroll_body(patient_id, *extra)
        )
        assert bundle["type"] == "collection"
    plans = await pharmacy.resources("CarePlan").limit(1).fetch_all()  # one per page
    assert sorted(p["subject"]["reference"] for p in plans) == [f"Patient/{p}" for p in PATIENTS]

    payer_token = await _smart_token(server, "payer-acme", ec, "system/*.rs")
    payer = AsyncFHIRClient(base, authorization=f"Bearer {payer_token}")
    seen = await payer.resources("CarePlan").limit(1).fetch_all()
    assert [p["subject"]["reference"] for p in seen] == [f"Patient/{MEMBER}"]
    outsider = next(p for p in plans if p["subject"]["reference"] != f"Patient/{MEMBER}")
    with pytest.raises(ResourceNotFound):
        await payer.reference("CarePlan", outsider.id).to_resource()
    group = await payer.reference("Group", "payer-acme").to_resource()
    assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{MEMBER}"]
    with pytest.raises(BaseFHIRError):
        await payer.execute(f"Patient/{MEMBER}/$unenroll", method="post", data={})

    anonymous = AsyncFHIRClient(base)
    with pytest.raises(BaseFHIRError):
        await anonymous.resources("CarePlan").fetch()

    events = await pharmacy.resources("AuditEvent").search(agent="payer-acme").fetch_all()
    assert {e["action"] for e in events} == {"E", "R", "U"}  # search, reads, refused operation
    assert any(
        entity.get("what", {}).get("reference") == f"Patient/{MEMBER}"
        for e in events
        for entity in e.get("entity", [])
    )
