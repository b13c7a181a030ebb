"""Referenced Medications a server did not include are fetched, batched and cached per run.

Worked example (rule: docs/dispensing-rules.md, "Where the facts come from": a referenced
Medication's strength turns a dose in mg into tablets; domain.md section 7): atorvastatin
20 mg once a day, the Medication says 20 MG per Oral Tablet, so 20 mg / 20 mg per tablet =
1 tablet a day, and a 30-day cycle is 30 x 1 = 30 tablets. Without the Medication the order
names only "Medication/atorva": a mg dose with no strength cannot be turned into tablets.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import date
from fractions import Fraction
from typing import Any

import httpx
import pytest
import respx

from adapters.http import EndpointSettings, FhirClient
from fhir_sync.engine import Preferences, plan_patient
from fhir_sync.sync.pull import Endpoint, Sources, pull_patient

BASE = "https://ehr.example.test/fhir"
TODAY = date(2026, 3, 2)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient() as http:
        yield FhirClient(
            EndpointSettings(base_url=BASE, page_size=None), http, rng=random.Random(7)
        )


def searchset(matches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches],
    }


def atorvastatin() -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": "atorva",
        "code": {"coding": [{"system": RXNORM, "code": "617310"}], "text": "atorvastatin"},
        "form": {"text": "Oral Tablet"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "atorvastatin"},
                "strength": {
                    "numerator": {
                        "value": 20,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    },
                    "denominator": {"value": 1, "unit": "tablet"},
                },
            }
        ],
    }


def order(rid: str, medication: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "courseOfTherapyType": {"coding": [{"code": "continuous"}]},
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": f"Medication/{medication}"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 20, "unit": "mg", "code": "mg"}}],
            }
        ],
    }


async def test_a_medication_the_server_did_not_include_is_fetched_once_per_run(
    mock: respx.MockRouter, client: FhirClient
) -> None:
    # The server ignores _include: the page names Medication/atorva (twice) and Medication/gone.
    mock.get(f"{BASE}/MedicationRequest").respond(
        json=searchset([order("rx1", "atorva"), order("rx2", "atorva"), order("rx3", "gone")])
    )
    mock.get(f"{BASE}/MedicationDispense").respond(json=searchset([]))
    medications = mock.get(f"{BASE}/Medication").respond(json=searchset([atorvastatin()]))
    endpoint = Endpoint("ehr", client)
    sources = Sources(orders=endpoint, dispenses=endpoint)

    collected = await pull_patient(sources, "p1")
    again = await pull_patient(sources, "p1")  # the next patient of the same run

    # One batched search for both ids, none for the second pull: the cache answers it,
    # including that "gone" does not exist.
    assert medications.call_count == 1
    assert dict(medications.calls.last.request.url.params) == {"_id": "atorva,gone"}
    inputs = collected.patients["p1"]
    assert inputs.orders["rx1"].order.facts  # the Medication's facts reached the order
    assert inputs.orders["rx1"].order.drug_key == "617310"
    assert not inputs.orders["rx3"].order.facts
    assert again.patients["p1"].orders["rx1"] == inputs.orders["rx1"]

    plan = plan_patient("p1", [inputs.orders["rx1"].order], [], TODAY, Preferences())
    (planned,) = plan.orders
    assert planned.synced, planned.reason
    assert planned.unit == "tablet"
    assert planned.daily_dose == Fraction(1)  # 20 mg / 20 mg per tablet
    assert planned.cycle_quantity == 30  # 30 days x 1 tablet
    unfetched = plan_patient("p1", [inputs.orders["rx3"].order], [], TODAY, Preferences())
    assert not unfetched.orders[0].synced  # mg with nothing to turn it into tablets
    assert "the dose is in mg" in unfetched.orders[0].reason


async def test_an_included_medication_is_not_fetched_again(
    mock: respx.MockRouter, client: FhirClient
) -> None:
    page = searchset([order("rx1", "atorva")])
    page["entry"].append({"resource": atorvastatin(), "search": {"mode": "include"}})
    mock.get(f"{BASE}/MedicationRequest").respond(json=page)
    mock.get(f"{BASE}/MedicationDispense").respond(json=searchset([]))
    medications = mock.get(f"{BASE}/Medication").respond(json=searchset([]))
    endpoint = Endpoint("ehr", client)

    collected = await pull_patient(Sources(orders=endpoint, dispenses=endpoint), "p1")

    assert medications.call_count == 0
    assert collected.patients["p1"].orders["rx1"].order.facts
