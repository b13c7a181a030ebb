"""Capability discovery from /metadata, read once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import respx
from http_fakes import BASE

from adapters.http import FhirClient, parse_capabilities

pytestmark = pytest.mark.anyio


def statement(system_interactions: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "software": {"name": "Test server"},
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": c} for c in system_interactions],
                "operation": [{"name": "export", "definition": "x"}],
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": "https://a.test/token"}],
                        }
                    ]
                },
                "resource": [
                    {
                        "type": "MedicationRequest",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": "patient", "type": "reference"},
                            {"name": "status", "type": "token"},
                        ],
                        "searchInclude": ["MedicationRequest:medication"],
                        "conditionalCreate": True,
                        "conditionalUpdate": True,
                    },
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}],
                        "operation": [{"name": "$everything", "definition": "y"}],
                    },
                ],
            }
        ],
    }


def test_parse_capabilities() -> None:
    caps = parse_capabilities(statement(["transaction", "batch"]))

    assert caps.fhir_version == "4.0.1" and caps.software == "Test server"
    assert caps.supports_transaction and caps.supports_batch
    assert caps.supports_operation("export") and caps.supports_operation("$export")
    assert caps.supports_operation("everything", "Patient")
    assert not caps.supports_operation("everything")
    assert caps.supports_search_param("MedicationRequest", "patient")
    assert caps.supports_search_param("MedicationRequest", "status:not")
    assert not caps.supports_search_param("MedicationRequest", "whenhandedover")
    assert not caps.supports_search_param("MedicationDispense", "patient")
    assert caps.supports_interaction("MedicationRequest", "search-type")
    assert not caps.supports_interaction("Patient", "search-type")
    assert caps.resources["MedicationRequest"].conditional_update
    assert not caps.resources["Patient"].conditional_create
    assert caps.token_url == "https://a.test/token"


def test_malformed_statement_degrades_to_nothing_supported() -> None:
    caps = parse_capabilities({"resourceType": "CapabilityStatement", "rest": "nonsense"})

    assert not caps.supports_transaction
    assert caps.resources == {}


async def test_metadata_read_once_and_transactions_reported(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/metadata").respond(json=statement(["batch"]))
    client = make_client()

    assert not await client.supports_transactions()
    assert (await client.capabilities()).supports_batch
    assert route.call_count == 1


async def test_settings_override_what_metadata_claims(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/metadata").respond(json=statement(["transaction"]))

    assert not await make_client(supports_transactions=False).supports_transactions()
    assert route.call_count == 0
