"""The HTTP client against a real FHIR server (sekmet-fhir on a loopback port).

These pin down what the write-back design relies on: idempotent conditional writes, transactions
that resolve ``urn:uuid`` references, paging that returns every match once, version conflicts.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.http import (
    EndpointSettings,
    FhirClient,
    FhirError,
    PreconditionFailedError,
    SmartBackendServices,
    new_http_client,
    sekmet_settings,
)
from fhir_sync.sync.medication_refs import MedicationCache

from .conftest import SekmetServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(sekmet_server: str) -> AsyncIterator[FhirClient]:
    settings = sekmet_settings(sekmet_server, cursor_overlap=0.0)
    async with new_http_client(settings) as http:
        yield FhirClient(settings, http)


def system() -> str:
    """A fresh identifier system per test: the server is shared by the whole session."""
    return f"urn:test:{uuid.uuid4().hex}"


def patient(sys: str, value: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": sys, "value": value}],
        "name": [{"family": "Test"}],
    }


def medication_request(sys: str, value: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "identifier": [{"system": sys, "value": value}],
        "status": "active",
        "intent": "order",
        "subject": {"reference": subject},
        "medicationCodeableConcept": {"text": "metformin 500 mg tablet"},
        **extra,
    }


async def count(
    client: FhirClient, resource_type: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    return [r async for r in client.search(resource_type, params)]


async def test_capabilities_of_sekmet(client: FhirClient) -> None:
    caps = await client.capabilities()

    assert await client.supports_transactions()
    assert caps.supports_operation("export")
    assert caps.supports_search_param("MedicationRequest", "patient")
    assert caps.supports_search_param("MedicationDispense", "whenhandedover")
    assert caps.resources["MedicationRequest"].conditional_update


async def test_conditional_create_twice_creates_one(client: FhirClient) -> None:
    sys = system()
    criteria = {"identifier": f"{sys}|p1"}

    first = await client.conditional_create(patient(sys), criteria)
    second = await client.conditional_create(patient(sys), criteria)

    assert first.created and not second.created
    assert first.resource_id == second.resource_id
    assert len(await count(client, "Patient", criteria)) == 1


async def test_conditional_update_by_identifier_updates_in_place(client: FhirClient) -> None:
    sys = system()
    body = patient(sys)

    first = await client.conditional_update("Patient", f"identifier={sys}|p1", body)
    second = await client.conditional_update("Patient", {"identifier": f"{sys}|p1"}, body)

    assert first.created and not second.created
    assert first.resource_id == second.resource_id
    # sekmet quirk: identical content still makes a new version
    assert (first.version_id, second.version_id) == ("1", "2")


async def test_conditional_update_with_several_matches_is_412(client: FhirClient) -> None:
    sys = system()
    await client.create(patient(sys, "a"))
    await client.create(patient(sys, "b"))

    with pytest.raises(PreconditionFailedError) as caught:
        await client.conditional_update("Patient", {"identifier": f"{sys}|"}, patient(sys))

    assert caught.value.issue_codes == ["multiple-matches"]


def linked_transaction(sys: str) -> dict[str, Any]:
    """Patient + Medication + MedicationRequest as conditional updates linked by urn:uuid."""
    pat, med, req = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    medication = {
        "resourceType": "Medication",
        "identifier": [{"system": sys, "value": "m1"}],
        "code": {"text": "metformin 500 mg tablet"},
    }
    order = medication_request(sys, "r1", pat)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": med}

    def entry(full_url: str, resource: dict[str, Any], value: str) -> dict[str, Any]:
        kind = resource["resourceType"]
        return {
            "fullUrl": full_url,
            "resource": resource,
            "request": {"method": "PUT", "url": f"{kind}?identifier={sys}|{value}"},
        }

    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(pat, patient(sys), "p1"),
            entry(med, medication, "m1"),
            entry(req, order, "r1"),
        ],
    }


async def test_transaction_of_conditional_updates_twice_leaves_one_of_each(
    client: FhirClient,
) -> None:
    sys = system()

    first = await client.transaction(linked_transaction(sys))
    second = await client.transaction(linked_transaction(sys))

    statuses = [[e["response"]["status"] for e in r["entry"]] for r in (first, second)]
    assert statuses == [["201 Created"] * 3, ["200 OK"] * 3]
    found = {
        kind: await count(client, kind, {"identifier": f"{sys}|"})
        for kind in ("Patient", "Medication", "MedicationRequest")
    }
    assert {kind: len(items) for kind, items in found.items()} == {
        "Patient": 1,
        "Medication": 1,
        "MedicationRequest": 1,
    }
    order = found["MedicationRequest"][0]
    # urn:uuid references were rewritten to the ids the server assigned
    assert order["subject"]["reference"] == f"Patient/{found['Patient'][0]['id']}"
    assert order["medicationReference"]["reference"] == f"Medication/{found['Medication'][0]['id']}"


async def test_transaction_conditional_create_and_conditional_reference(client: FhirClient) -> None:
    sys = system()
    await client.conditional_create(patient(sys), {"identifier": f"{sys}|p1"})
    med_urn = f"urn:uuid:{uuid.uuid4()}"
    medication = {"resourceType": "Medication", "identifier": [{"system": sys, "value": "m"}]}
    order = medication_request(sys, "r2", f"Patient?identifier={sys}|p1")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": med_urn}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": med_urn,
                "resource": medication,
                "request": {
                    "method": "POST",
                    "url": "Medication",
                    "ifNoneExist": f"identifier={sys}|m",
                },
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": order,
                "request": {
                    "method": "POST",
                    "url": "MedicationRequest",
                    "ifNoneExist": f"identifier={sys}|r2",
                },
            },
        ],
    }

    await client.transaction(bundle)
    response = await client.transaction(bundle)

    assert [e["response"]["status"] for e in response["entry"]] == ["200 OK", "200 OK"]
    [stored] = await count(client, "MedicationRequest", {"identifier": f"{sys}|r2"})
    [pat] = await count(client, "Patient", {"identifier": f"{sys}|p1"})
    assert stored["subject"]["reference"] == f"Patient/{pat['id']}"
    assert stored["medicationReference"]["reference"].startswith("Medication/")


async def test_failed_transaction_rolls_back(client: FhirClient) -> None:
    sys = system()
    bundle = linked_transaction(sys)
    # Runs after the Patient and Medication entries; sekmet checks structure, not code values.
    del bundle["entry"][2]["resource"]["subject"]

    with pytest.raises(FhirError) as caught:
        await client.transaction(bundle)

    assert caught.value.status == 400
    assert caught.value.issue_codes == ["structure"]
    assert await count(client, "Patient", {"identifier": f"{sys}|"}) == []
    assert await count(client, "Medication", {"identifier": f"{sys}|"}) == []


async def test_search_paging_returns_every_match_once(client: FhirClient) -> None:
    sys = system()
    subject = (await client.create(patient(sys))).resource_id
    orders = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": medication_request(sys, f"r{i}", f"Patient/{subject}"),
                "request": {
                    "method": "POST",
                    "url": "MedicationRequest",
                    "ifNoneExist": f"identifier={sys}|r{i}",
                },
            }
            for i in range(55)
        ],
    }
    await client.transaction(orders)

    pages = [
        page
        async for page in client.search_pages(
            "MedicationRequest", {"identifier": f"{sys}|", "status": "active,on-hold"}, count=20
        )
    ]

    ids = [r["id"] for page in pages for r in page.matches]
    assert [len(page.matches) for page in pages] == [20, 20, 15]
    assert len(ids) == len(set(ids)) == 55
    assert pages[0].total == 55


async def test_include_medication_is_marked_as_include(client: FhirClient) -> None:
    sys = system()
    await client.transaction(linked_transaction(sys))
    [pat] = await count(client, "Patient", {"identifier": f"{sys}|"})

    pages = [page async for page in client.medication_requests(f"Patient/{pat['id']}")]

    assert [r["resourceType"] for r in pages[0].matches] == ["MedicationRequest"]
    assert [r["resourceType"] for r in pages[0].included] == ["Medication"]


async def test_a_medication_not_included_is_fetched_by_id(client: FhirClient) -> None:
    # A page without its included Medications (a server that ignores _include): the sync's
    # MedicationCache finds the order's Medication with one `Medication?_id=` search.
    sys = system()
    await client.transaction(linked_transaction(sys))
    [pat] = await count(client, "Patient", {"identifier": f"{sys}|"})
    [med] = await count(client, "Medication", {"identifier": f"{sys}|"})
    subject = f"Patient/{pat['id']}"
    pages = [p async for p in client.medication_requests(subject, include_medication=False)]
    assert pages[0].included == []
    cache = MedicationCache()

    found = await cache.complete(client, pages[0])

    assert found[f"Medication/{med['id']}"]["code"] == {"text": "metformin 500 mg tablet"}
    assert cache.searches == 1
    await cache.complete(client, pages[0])
    assert cache.searches == 1  # answered from the cache


async def test_unknown_search_parameter_is_rejected_not_ignored(client: FhirClient) -> None:
    with pytest.raises(FhirError) as caught:
        await count(client, "MedicationRequest", {"patinet": "x"})

    assert caught.value.status == 400


async def test_stale_if_match_gives_precondition_failed(client: FhirClient) -> None:
    sys = system()
    created = await client.create(patient(sys))
    assert created.resource_id is not None
    read = await client.read("Patient", created.resource_id)
    resource = dict(read.resource, active=True)

    updated = await client.update(resource, if_match=read.version_id)
    with pytest.raises(PreconditionFailedError) as caught:
        await client.update(resource, if_match=read.version_id)

    assert updated.version_id == "2"
    assert caught.value.status == 412
    assert caught.value.issue_codes == ["conflict"]


async def test_incremental_pull_returns_only_newer_resources(client: FhirClient) -> None:
    sys = system()
    for i in range(5):
        await client.create(patient(sys, f"a{i}"))
    first = client.pull_since("Patient", None, {"identifier": f"{sys}|"}, count=2)
    seen_first = [r["id"] async for page in first for r in page.matches]
    for i in range(3):
        await client.create(patient(sys, f"b{i}"))

    second = client.pull_since("Patient", first.cursor, {"identifier": f"{sys}|"}, count=2)
    seen_second = [r["identifier"][0]["value"] async for page in second for r in page.matches]

    assert len(seen_first) == 5
    assert sorted(seen_second) == ["b0", "b1", "b2"]
    assert second.cursor is not None and first.cursor is not None
    assert second.cursor > first.cursor


async def test_bulk_export_streams_ndjson_and_deletes_the_job(
    client: FhirClient, sekmet_server: str
) -> None:
    sys = system()
    await client.transaction(linked_transaction(sys))

    async with client.bulk_export(types=["MedicationRequest", "Medication"]) as export:
        lines = [(kind, orjson.loads(raw)) async for kind, raw in export.lines()]
        status_url = export.status_url

    kinds = {kind for kind, _ in lines}
    assert kinds == {"MedicationRequest", "Medication"}
    assert all(resource["resourceType"] == kind for kind, resource in lines)
    ours = [r for _, r in lines if r.get("identifier", [{}])[0].get("system") == sys]
    assert len(ours) == 2
    async with httpx.AsyncClient() as http:
        assert (await http.get(status_url)).status_code == 404  # job deleted


async def test_pharmacy_simulator_dispenses_a_posted_order(sekmet_pharmacy: str) -> None:
    settings = sekmet_settings(sekmet_pharmacy)
    async with new_http_client(settings) as http:
        pharmacy = FhirClient(settings, http)
        sys = system()
        subject = (await pharmacy.create(patient(sys))).resource_id
        order = await pharmacy.create(medication_request(sys, "rx1", f"Patient/{subject}"))

        dispenses: list[dict[str, Any]] = []
        for _ in range(50):  # the simulator answers after 0.5 s
            dispenses = [
                r
                async for page in pharmacy.medication_dispenses(f"Patient/{subject}")
                for r in page.matches
            ]
            if dispenses:
                break
            await asyncio.sleep(0.1)

    assert len(dispenses) == 1
    [dispense] = dispenses
    assert dispense["status"] == "completed"
    assert (
        dispense["authorizingPrescription"][0]["reference"]
        == f"MedicationRequest/{order.resource_id}"
    )


@pytest.fixture(scope="module")
def smart_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def smart_server(
    sekmet_factory: Callable[..., SekmetServer], smart_key: rsa.RSAPrivateKey
) -> SekmetServer:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(smart_key.public_key()))
    jwk.update({"kid": "fhir-sync-1", "alg": "RS384"})
    auth = {
        "types": ["smart"],
        "smart_clients": [
            {"client_id": "fhir-sync", "jwks": {"keys": [jwk]}, "scopes": "system/*.rs"}
        ],
        "token_lifetime": 300,
    }
    return sekmet_factory(name="smart", server_auth=auth)


def smart_settings(server: SekmetServer, key: rsa.RSAPrivateKey) -> EndpointSettings:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    auth = SmartBackendServices(
        client_id="fhir-sync",
        private_key_pem=pem,
        key_id="fhir-sync-1",
        scopes=("system/Patient.rs", "system/MedicationRequest.rs"),
    )
    return sekmet_settings(server.base_url, auth=auth)


async def test_smart_backend_services_against_sekmet(
    smart_server: SekmetServer, smart_key: rsa.RSAPrivateKey
) -> None:
    settings = smart_settings(smart_server, smart_key)
    async with new_http_client(settings) as http:
        client = FhirClient(settings, http)
        results = await asyncio.gather(*(count(client, "Patient", {}) for _ in range(3)))
        with pytest.raises(FhirError) as forbidden:  # token scopes are read/search only
            await client.create({"resourceType": "Patient"})
        async with httpx.AsyncClient() as plain:
            anonymous = await plain.get(f"{smart_server.base_url}/Patient")

    assert results == [[], [], []]
    assert forbidden.value.status == 403
    assert anonymous.status_code == 401


async def test_smart_with_an_unregistered_key_fails_cleanly(smart_server: SekmetServer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = smart_settings(smart_server, stranger)
    async with new_http_client(settings) as http:
        with pytest.raises(FhirError, match="invalid_client") as caught:
            await FhirClient(settings, http).read("Patient", "nope")

    assert caught.value.status == 401
