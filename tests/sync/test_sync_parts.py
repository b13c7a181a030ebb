"""The sync's pure parts: plan digest, pinning the CarePlan to a version, included Medications,
failing two requests as one, the report's cursor."""

from __future__ import annotations

import asyncio
import copy
from datetime import date

import pytest

from adapters.http import FhirError
from fhir_sync.engine import PatientPlan, Preferences, plan_patient
from fhir_sync.sync.concurrency import both
from fhir_sync.sync.medication_refs import inline_medication, medications_by_reference
from fhir_sync.sync.report import Outcome, PatientResult, SyncReport
from fhir_sync.sync.service import failure_reason
from fhir_sync.sync.stored_plan import StoredPlan
from fhir_sync.sync.writeback import pin_careplan
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.outbound.bundle import plan_bundle
from mappings.outbound.plan_digest import (
    careplan_anchor,
    careplan_digest,
    plan_digest,
    stamp_plan_digest,
)
from mappings.profile import EXT_PLAN_DIGEST

TODAY = date(2026, 3, 2)


def order_resource(**extra: object) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}],
            "text": "metformin 500 mg tablet",
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
    }
    resource.update(extra)
    return resource


def a_plan() -> tuple[PatientPlan, dict[str, OrderInput]]:
    mapped = map_medication_request(order_resource())
    orders = {mapped.order.id: mapped}
    return plan_patient("p1", [mapped.order], [], TODAY, Preferences()), orders


def test_the_digest_depends_on_the_content_only() -> None:
    plan, orders = a_plan()
    bundle = plan_bundle(plan, orders)
    reordered = copy.deepcopy(bundle)
    careplan = reordered["entry"][0]["resource"]
    reordered["entry"][0]["resource"] = dict(reversed(list(careplan.items())))
    changed = copy.deepcopy(bundle)
    changed["entry"][0]["resource"]["period"]["start"] = "2026-03-03"

    assert plan_digest(bundle) == plan_digest(reordered) == plan_digest(plan_bundle(plan, orders))
    assert plan_digest(changed) != plan_digest(bundle)
    assert plan_digest(bundle).startswith("sha256:") and len(plan_digest(bundle)) == 71


def test_stamping_adds_one_digest_that_reads_back() -> None:
    plan, orders = a_plan()
    bundle = plan_bundle(plan, orders)
    before = plan_digest(bundle)

    digest = stamp_plan_digest(bundle)
    again = stamp_plan_digest(copy.deepcopy(bundle))

    careplan = bundle["entry"][0]["resource"]
    assert digest == before  # the digest is of the plan, not of itself
    assert again != digest  # a stamped Bundle is different content...
    assert [e["url"] for e in careplan["extension"]].count(EXT_PLAN_DIGEST) == 1
    assert careplan_digest(careplan) == digest
    assert careplan_anchor(careplan) == plan.anchor
    assert (
        careplan_digest({"extension": [{"url": EXT_PLAN_DIGEST, "valueString": "md5:x"}]}) is None
    )
    assert careplan_anchor({"extension": "junk"}) is None


def test_pinning_writes_an_existing_careplan_by_id_against_the_version_read() -> None:
    plan, orders = a_plan()
    bundle = plan_bundle(plan, orders)
    original = copy.deepcopy(bundle)
    stored = StoredPlan(id="cp-9", version="3", digest=None, anchor=None)

    pinned = pin_careplan(bundle, stored)

    first = pinned["entry"][0]
    assert first["request"] == {"method": "PUT", "url": "CarePlan/cp-9", "ifMatch": 'W/"3"'}
    assert first["resource"]["id"] == "cp-9"
    assert first["fullUrl"] == bundle["entry"][0]["fullUrl"]  # references still resolve
    assert pinned["entry"][1:] == bundle["entry"][1:]
    assert bundle == original  # the caller's Bundle is untouched
    assert pin_careplan(bundle, None) is bundle


def test_an_included_medication_becomes_contained_and_maps_like_an_inline_one() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "meta": {"versionId": "4"},
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]
        },
    }
    referencing = order_resource(medicationReference={"reference": "Medication/m1", "display": "x"})
    del referencing["medicationCodeableConcept"]
    medications = medications_by_reference([medication, {"resourceType": "Patient", "id": "p"}])

    inlined = inline_medication(referencing, medications)

    assert "contained" not in referencing  # the page is left as the server sent it
    assert inlined["medicationReference"] == {"reference": "#fhir-sync-medication", "display": "x"}
    assert inlined["contained"][0]["code"] == medication["code"]
    assert "meta" not in inlined["contained"][0]
    mapped = map_medication_request(inlined)
    assert mapped.order.drug_key == map_medication_request(order_resource()).order.drug_key
    assert inline_medication(referencing, {}) is referencing
    other = order_resource(medicationReference={"reference": "Medication/zz"})
    assert inline_medication(other, medications) is other


def test_both_returns_both_results() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert asyncio.run(both(value(1, 0.01), value(2, 0))) == (1, 2)


def test_both_cancels_the_other_and_raises_the_failure_itself() -> None:
    cancelled = asyncio.Event()

    async def slow() -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("boom")

    async def run() -> None:
        with pytest.raises(LookupError, match="boom"):
            await both(slow(), failing())
        assert cancelled.is_set()

    asyncio.run(run())


def test_the_report_counts_and_gives_the_earliest_cursor() -> None:
    report = SyncReport()
    plan, _ = a_plan()
    report.add(PatientResult("a", Outcome.WRITTEN, plan=plan, replanned=True))
    report.add(PatientResult("b", Outcome.UNCHANGED, plan=plan))
    report.add(PatientResult("c", Outcome.FAILED, "GET /fhir/CarePlan failed with HTTP 503"))
    report.cursors.update(
        {"ehr": "2026-03-02T10:00:00.000Z", "pharmacy": "2026-03-02T11:00:00+02:00", "x": None}
    )

    assert (report.written, report.unchanged, report.failed, report.planned) == (1, 1, 1, 2)
    assert report.replanned == 1 and not report.complete
    assert [f.patient_id for f in report.failures] == ["c"]
    assert report.next_since() == "2026-03-02T11:00:00+02:00"  # 09:00Z, the earlier one


def test_failure_reasons_name_no_resource_id() -> None:
    error = FhirError("GET /fhir/Patient/pt-000123 failed with HTTP 404 (not-found)", status=404)
    search = FhirError("GET /fhir/MedicationRequest failed with HTTP 503 after 4 attempts")

    assert failure_reason(error) == "GET /fhir/Patient/{id} failed with HTTP 404 (not-found)"
    assert failure_reason(search) == search.message
