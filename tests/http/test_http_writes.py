"""Reads and writes: versions, conditional requests, transactions and their retry safety."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from http_fakes import BASE

from adapters.http import FhirClient, FhirError, transaction_is_idempotent
from adapters.http.client import if_match_value, version_from_etag

pytestmark = pytest.mark.anyio

MR = {"resourceType": "MedicationRequest", "id": "r1", "status": "active"}


def tx(*requests: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": {"resourceType": "Patient"}, "request": r} for r in requests],
    }


async def test_read_returns_resource_and_version_from_etag(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/MedicationRequest/r1").respond(json=MR, headers={"ETag": 'W/"7"'})

    result = await make_client().read("MedicationRequest", "r1")

    assert result.resource == MR
    assert (result.version_id, result.etag) == ("7", 'W/"7"')


async def test_update_sends_if_match_and_fhir_json(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.put(f"{BASE}/MedicationRequest/r1").respond(
        200,
        json={**MR, "meta": {"versionId": "8"}},
        headers={
            "ETag": 'W/"8"',
            "Location": f"{BASE}/MedicationRequest/r1/_history/8",
        },
    )

    result = await make_client().update(MR, if_match='W/"7"')

    request = route.calls.last.request
    assert request.headers["If-Match"] == 'W/"7"'
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert json.loads(request.content) == MR
    assert not result.created
    assert (result.resource_type, result.resource_id, result.version_id) == (
        "MedicationRequest",
        "r1",
        "8",
    )


async def test_update_without_id_is_refused_locally(make_client: Callable[..., FhirClient]) -> None:
    with pytest.raises(ValueError):
        await make_client().update({"resourceType": "MedicationRequest"})


async def test_conditional_update_puts_to_type_with_criteria(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.put(f"{BASE}/MedicationRequest").respond(
        201, headers={"Location": f"{BASE}/MedicationRequest/new1/_history/1", "ETag": 'W/"1"'}
    )
    body = {k: v for k, v in MR.items() if k != "id"}

    result = await make_client().conditional_update(
        "MedicationRequest", "identifier=urn:rx|123", body
    )

    params = list(route.calls.last.request.url.params.multi_items())
    assert params == [("identifier", "urn:rx|123")]
    assert result.created and result.resource is None
    assert (result.resource_id, result.version_id) == ("new1", "1")


async def test_conditional_update_type_mismatch_is_refused(
    make_client: Callable[..., FhirClient],
) -> None:
    with pytest.raises(ValueError):
        await make_client().conditional_update("Patient", {"identifier": "a|b"}, MR)


async def test_transaction_posts_bundle_to_base(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    response = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    route = mock.post(BASE).respond(json=response)
    bundle = tx({"method": "PUT", "url": "Patient?identifier=a|1"})

    assert await make_client().transaction(bundle) == response
    assert json.loads(route.calls.last.request.content) == bundle


async def test_conditional_transaction_is_retried_plain_creates_are_not(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    ok = httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response"})
    route = mock.post(BASE).mock(side_effect=[httpx.Response(503), ok])
    conditional = tx(
        {"method": "PUT", "url": "Patient?identifier=a|1"},
        {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=a|2"},
    )
    await make_client().transaction(conditional)
    assert route.call_count == 2

    route.reset()
    route.side_effect = [httpx.Response(503), ok]
    with pytest.raises(FhirError):
        await make_client().transaction(tx({"method": "POST", "url": "Patient"}))
    assert route.call_count == 1

    route.reset()
    route.side_effect = [httpx.Response(503), ok]
    await make_client().transaction(tx({"method": "POST", "url": "Patient"}), idempotent=True)
    assert route.call_count == 2


async def test_transaction_must_answer_with_transaction_response(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.post(BASE).respond(json={"resourceType": "Bundle", "type": "batch-response"})

    with pytest.raises(FhirError, match="transaction-response"):
        await make_client().transaction(tx({"method": "GET", "url": "Patient/1"}))


def test_transaction_idempotency_rules() -> None:
    assert transaction_is_idempotent(tx({"method": "PUT", "url": "Patient/1"}))
    assert transaction_is_idempotent(tx({"method": "DELETE", "url": "Patient?identifier=a|1"}))
    assert transaction_is_idempotent(tx({"method": "POST", "url": "P", "ifNoneExist": "x=1"}))
    assert not transaction_is_idempotent(tx({"method": "POST", "url": "Patient"}))
    assert not transaction_is_idempotent(tx({"method": "PATCH", "url": "Patient/1"}))
    assert not transaction_is_idempotent({"resourceType": "Bundle", "entry": [{"resource": {}}]})


def test_etag_helpers() -> None:
    assert version_from_etag('W/"3"') == "3"
    assert version_from_etag('"3"') == "3"
    assert version_from_etag("garbage") is None
    assert if_match_value("3") == 'W/"3"'
    assert if_match_value('W/"3"') == 'W/"3"'
