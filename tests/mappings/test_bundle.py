"""The sync-plan transaction Bundle (docs/sync-plan-profile.md): valid, deterministic,
idempotent and self-contained."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from fhir_sync.engine.types import Exclusion, OrderPlan, PatientPlan, PlannedFill, Renewal, Visit
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.outbound.bundle import plan_bundle
from mappings.profile import (
    CS_SYNC_EXCLUSION,
    EXT_CLARIFICATION_CODE,
    EXT_CYCLE_QUANTITY,
    EXT_DAYS_SUPPLY,
    EXT_EARLIEST_FILL,
    EXT_MEDICATION_REQUEST,
    EXT_PLANNED_FILL,
    EXT_REFILLS_REMAINING,
    EXT_SHORT_FILL,
    EXT_TRANSITION_VISIT,
    SID_RENEWAL_TASK,
    SID_SYNC_APPOINTMENT,
    SID_SYNC_PLAN,
)
from mappings.validation import validate_resource
from tests.mappings.builders import medication_request

TODAY = date(2025, 3, 1)
ANCHOR = date(2025, 3, 15)
RENEWAL = Renewal(
    order_id="mr-b",
    needed_by=ANCHOR,
    due=date(2025, 3, 8),
    reason="no refills left for the anchor fill on 2025-03-15",
)
PLANS = (
    OrderPlan(
        order_id="mr-c",
        synced=False,
        reason="as needed (PRN) orders are not synchronized",
        exclusion=Exclusion.AS_NEEDED,
    ),
    OrderPlan(
        order_id="mr-a",
        synced=True,
        reason="refills on the anchor date",
        daily_dose=1.0,
        run_out=ANCHOR,
        next_fill=ANCHOR,
        sync_date=ANCHOR,
        short_fill=False,
        fill_days=30,
        quantity=30.0,
        cycle_quantity=30.0,
        refills_left=3,
        unit="tablet",
    ),
    OrderPlan(
        order_id="mr-b",
        synced=True,
        reason="short fill to the anchor date",
        daily_dose=0.1 * 3,  # float noise must not reach the output
        run_out=date(2025, 3, 5),
        next_fill=date(2025, 3, 5),
        sync_date=ANCHOR,
        short_fill=True,
        fill_days=10,
        quantity=3.0000000000000004,
        cycle_quantity=9.0,
        refills_left=0,
        renewal=RENEWAL,
        unit="tablet",
    ),
    OrderPlan(order_id="mr-d", synced=False, reason=""),
)
# Both synced orders are dispensed on the anchor: mr-a's refill, mr-b's fill after its short.
PLAN = PatientPlan(
    patient_id="pt-1", today=TODAY, cycle_days=30, anchor=ANCHOR, orders=PLANS, anchor_fills=2
)


def _order(order_id: str, **changes: Any) -> OrderInput:
    return map_medication_request(medication_request(id=order_id, **changes))


ORDERS = {
    "mr-a": _order("mr-a"),
    "mr-b": _order("mr-b", requester={"reference": "PractitionerRole/pr-9"}),
    "mr-c": _order("mr-c", requester=None, dispenseRequest=None, dosageInstruction=None),
    "mr-d": _order("mr-d", medicationCodeableConcept={"text": "Eye drops"}),
}


def _bundle(**kwargs: Any) -> dict[str, Any]:
    return plan_bundle(PLAN, ORDERS, **kwargs)


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}


def _ext(element: dict[str, Any], url: str) -> Any:
    (found,) = [e for e in element.get("extension", []) if e["url"] == url]
    return next(v for k, v in found.items() if k.startswith("value"))


# --- validity --------------------------------------------------------------------------------

CAREPLAN_STATUS = {
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
}
ACTIVITY_STATUS = {
    "not-started",
    "scheduled",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "stopped",
    "unknown",
    "entered-in-error",
}
APPOINTMENT_STATUS = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
TASK_STATUS = {
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
}


@pytest.mark.parametrize("pharmacy", [None, "pharm-1"])
def test_bundle_and_resources_are_valid_r4b(pharmacy: str | None) -> None:
    bundle = _bundle(pharmacy=pharmacy)
    assert validate_resource(bundle) == []
    for entry in bundle["entry"]:
        assert validate_resource(entry["resource"]) == []


def test_required_bindings() -> None:
    """fhir.resources does not check code lists, so check the ones the profile sets."""
    resources = _resources(_bundle(pharmacy="pharm-1"))
    careplan, appointment, task = resources["CarePlan"], resources["Appointment"], resources["Task"]
    assert careplan["status"] in CAREPLAN_STATUS and careplan["intent"] == "plan"
    for activity in careplan["activity"]:
        assert ("detail" in activity) != ("reference" in activity)  # cpl-3
        if "detail" in activity:
            assert activity["detail"]["status"] in ACTIVITY_STATUS
            assert activity["detail"]["kind"] == "MedicationRequest"
    assert appointment["status"] in APPOINTMENT_STATUS
    for participant in appointment["participant"]:
        assert participant["required"] in {"required", "optional", "information-only"}
        assert participant["status"] in {"accepted", "declined", "tentative", "needs-action"}
    assert task["status"] in TASK_STATUS and task["intent"] == "order"


def test_orjson_serializes_it_without_help() -> None:
    data = orjson.dumps(_bundle(pharmacy="Location/pharm-1"))
    assert orjson.loads(data) == _bundle(pharmacy="pharm-1")


# --- determinism and idempotence -------------------------------------------------------------


def test_same_input_same_bytes_whatever_the_order() -> None:
    first = orjson.dumps(_bundle())
    shuffled_plan = dataclasses.replace(PLAN, orders=tuple(reversed(PLAN.orders)))
    shuffled_orders = dict(reversed(list(ORDERS.items())))
    assert orjson.dumps(plan_bundle(shuffled_plan, shuffled_orders)) == first
    assert orjson.dumps(_bundle()) == first


def test_no_clock_values() -> None:
    bundle = _bundle()
    assert set(bundle) == {"resourceType", "type", "entry"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert not {"id", "meta", "created", "authoredOn", "lastModified"} & set(resource)


def test_conditional_updates_on_the_identifiers() -> None:
    bundle = _bundle()
    assert bundle["type"] == "transaction"
    urls = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        (ident,) = resource["identifier"]
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}?identifier={ident['system']}|{ident['value']}",
        }
        urls.append(entry["request"]["url"])
    assert urls == [
        f"CarePlan?identifier={SID_SYNC_PLAN}|pt-1",
        f"Appointment?identifier={SID_SYNC_APPOINTMENT}|pt-1",
        f"Task?identifier={SID_RENEWAL_TASK}|pt-1:mr-b",
    ]


def test_full_urls_are_uuid5_of_the_identifier() -> None:
    for entry in _bundle()["entry"]:
        (ident,) = entry["resource"]["identifier"]
        expected = uuid.uuid5(uuid.NAMESPACE_URL, f"{ident['system']}|{ident['value']}")
        assert entry["fullUrl"] == f"urn:uuid:{expected}"


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for item in value.values() for r in _references(item)]
    if isinstance(value, list):
        return [r for item in value for r in _references(item)]
    return []


def test_urn_references_resolve_inside_the_bundle() -> None:
    bundle = _bundle(pharmacy="pharm-1")
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    references = _references([entry["resource"] for entry in bundle["entry"]])
    urns = [r for r in references if r.startswith("urn:")]
    assert urns and set(urns) <= set(full_urls)
    others = {r.split("/")[0] for r in references if not r.startswith("urn:")}
    assert others == {"Patient", "MedicationRequest", "Location", "PractitionerRole"}


# --- content ---------------------------------------------------------------------------------


def test_careplan() -> None:
    careplan = _resources(_bundle(pharmacy="pharm-1"))["CarePlan"]
    assert careplan["identifier"] == [{"system": SID_SYNC_PLAN, "value": "pt-1"}]
    assert careplan["category"][0]["coding"][0]["code"] == "med-sync"
    assert careplan["subject"] == {"reference": "Patient/pt-1"}
    assert careplan["period"] == {"start": "2025-03-01"}
    links = [
        _ext(a["detail"], EXT_MEDICATION_REQUEST)["reference"]
        for a in careplan["activity"]
        if "detail" in a
    ]
    assert links == [f"MedicationRequest/mr-{x}" for x in "abcd"]  # sorted by order id
    assert careplan["activity"][-1]["reference"]["reference"].startswith("urn:uuid:")


def _tablets(value: float) -> dict[str, Any]:
    """A UCUM quantity of tablets, as the CarePlan writes it."""
    return {
        "value": value,
        "unit": "tablet",
        "system": "http://unitsofmeasure.org",
        "code": "{tbl}",
    }


def test_synced_activities() -> None:
    activities = _resources(_bundle(pharmacy="pharm-1"))["CarePlan"]["activity"]
    anchor_fill, short_fill = activities[0]["detail"], activities[1]["detail"]
    assert anchor_fill["status"] == "scheduled"
    assert anchor_fill["scheduledPeriod"] == {"start": "2025-03-15", "end": "2025-03-15"}
    assert anchor_fill["quantity"] == _tablets(30)
    assert anchor_fill["dailyAmount"] == _tablets(1)
    assert anchor_fill["location"] == {"reference": "Location/pharm-1"}
    assert anchor_fill["productCodeableConcept"] == ORDERS["mr-a"].medication
    assert _ext(anchor_fill, EXT_SHORT_FILL) is False
    assert _ext(anchor_fill, EXT_REFILLS_REMAINING) == 3
    assert _ext(short_fill, EXT_SHORT_FILL) is True
    assert short_fill["scheduledPeriod"] == {"start": "2025-03-05", "end": "2025-03-15"}
    assert short_fill["quantity"] == _tablets(3)
    assert short_fill["dailyAmount"] == _tablets(0.3)
    assert _ext(short_fill, EXT_DAYS_SUPPLY) == {
        "value": 10,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert _ext(short_fill, EXT_CYCLE_QUANTITY) == _tablets(9)
    assert _ext(short_fill, EXT_REFILLS_REMAINING) == 0


def test_activities_not_synced() -> None:
    activities = _resources(_bundle())["CarePlan"]["activity"]
    prn, unknown = activities[2]["detail"], activities[3]["detail"]
    assert prn["status"] == "not-started"
    # doNotPerform is a modifier ("prohibited"): fhir-sync not scheduling an order is not that.
    assert "doNotPerform" not in prn and "doNotPerform" not in unknown
    assert prn["statusReason"] == {
        "coding": [
            {"system": CS_SYNC_EXCLUSION, "code": "as-needed", "display": "As needed (PRN)"}
        ],
        "text": "as needed (PRN) orders are not synchronized",
    }
    # A plan without a code (never from this engine) still says it is not synced, in words.
    assert unknown["statusReason"] == {
        "coding": [{"system": CS_SYNC_EXCLUSION, "code": "other", "display": "Not synchronized"}],
        "text": "not synchronized",
    }
    assert unknown["productCodeableConcept"] == {"text": "Eye drops"}
    assert [e["url"] for e in prn["extension"]] == [EXT_MEDICATION_REQUEST]
    assert "quantity" not in prn and "scheduledPeriod" not in prn


def test_appointment() -> None:
    resources = _resources(_bundle(pharmacy="pharm-1"))
    appointment = resources["Appointment"]
    assert appointment["status"] == "proposed"
    assert appointment["identifier"] == [{"system": SID_SYNC_APPOINTMENT, "value": "pt-1"}]
    assert (appointment["start"], appointment["end"]) == (
        "2025-03-15T09:00:00Z",
        "2025-03-15T09:15:00Z",
    )
    assert appointment["description"] == "Synchronized medication pickup (2 medications)"
    actors = [p["actor"]["reference"] for p in appointment["participant"]]
    assert actors == ["Patient/pt-1", "Location/pharm-1"]
    careplan_url = _bundle()["entry"][0]["fullUrl"]
    assert appointment["supportingInformation"] == [{"reference": careplan_url}]


def test_pickup_time_in_a_local_zone() -> None:
    eastern = time(16, 30, tzinfo=ZoneInfo("America/New_York"))  # EDT from March 9
    appointment = _resources(_bundle(pickup_time=eastern, pickup_minutes=30))["Appointment"]
    assert (appointment["start"], appointment["end"]) == (
        "2025-03-15T16:30:00-04:00",
        "2025-03-15T17:00:00-04:00",
    )
    assert appointment["minutesDuration"] == 30
    assert validate_resource(appointment) == []


def test_pickup_time_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        _bundle(pickup_time=time(9, 0))
    with pytest.raises(ValueError):
        _bundle(pickup_minutes=0)


def test_renewal_task() -> None:
    bundle = _bundle()
    task = _resources(bundle)["Task"]
    assert task["identifier"] == [{"system": SID_RENEWAL_TASK, "value": "pt-1:mr-b"}]
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["text"] == "Renew prescription"
    assert task["code"]["coding"][0]["code"] == "renew-prescription"
    assert task["focus"] == {"reference": "MedicationRequest/mr-b"}
    assert task["for"] == {"reference": "Patient/pt-1"}
    assert task["owner"] == {"reference": "PractitionerRole/pr-9"}
    assert task["basedOn"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
    assert task["restriction"] == {"period": {"start": "2025-03-08", "end": "2025-03-15"}}
    assert task["reasonCode"] == {"text": RENEWAL.reason}


def test_renewal_without_known_requester_has_no_owner() -> None:
    orders = {**ORDERS, "mr-b": _order("mr-b", requester=None)}
    task = _resources(plan_bundle(PLAN, orders))["Task"]
    assert "owner" not in task


def test_no_anchor_no_appointment() -> None:
    plan = PatientPlan(
        patient_id="pt-1",
        today=TODAY,
        cycle_days=28,
        anchor=None,
        orders=(OrderPlan(order_id="mr-c", synced=False, reason="acute course"),),
    )
    bundle = plan_bundle(plan, ORDERS)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["CarePlan"]
    careplan = bundle["entry"][0]["resource"]
    assert all("detail" in a for a in careplan["activity"])
    assert validate_resource(bundle) == []


def test_no_appointment_for_an_anchor_with_nothing_to_dispense() -> None:
    plan = dataclasses.replace(PLAN, anchor_fills=0)
    kinds = [e["resource"]["resourceType"] for e in plan_bundle(plan, ORDERS)["entry"]]
    assert "Appointment" not in kinds and kinds[0] == "CarePlan"


def test_fill_dates_and_claim_codes_are_written_on_the_activity() -> None:
    """A 10-day short fill on 2025-03-05 after a 30-day fill on 2025-02-03: the payer pays it
    from 2025-02-03 + ceil(0.8 x 30) = 2025-02-27; its claim carries SCC 47 and 61; the anchor
    fill on 2025-03-15 is paid from 2025-03-05 + ceil(0.8 x 10) = 2025-03-13, SCC 48
    (domain.md sections 2 and 3)."""
    short = dataclasses.replace(
        PLANS[2],
        earliest_fill=date(2025, 2, 27),
        clarification=("47", "61"),
        fills=(
            PlannedFill(date(2025, 3, 5), 10, 3.0, date(2025, 2, 27), ("47", "61"), "short fill"),
            PlannedFill(ANCHOR, 30, 9.0, date(2025, 3, 13), ("48",), "anchor fill"),
        ),
    )
    visit = Visit(date(2025, 3, 5), ("mr-b",))
    plan = dataclasses.replace(PLAN, orders=(PLANS[0], PLANS[1], short, PLANS[3]), visits=(visit,))
    careplan = _resources(plan_bundle(plan, ORDERS))["CarePlan"]
    assert {"url": EXT_TRANSITION_VISIT, "valueDate": "2025-03-05"} in careplan["extension"]
    (activity,) = [
        a
        for a in careplan["activity"]
        if "detail" in a
        and a["detail"]["extension"][0]["valueReference"]["reference"] == "MedicationRequest/mr-b"
    ]
    ext = activity["detail"]["extension"]
    assert {"url": EXT_EARLIEST_FILL, "valueDate": "2025-02-27"} in ext
    codes = [e["valueCode"] for e in ext if e["url"] == EXT_CLARIFICATION_CODE]
    assert codes == ["47", "61"]
    planned = [e["extension"] for e in ext if e["url"] == EXT_PLANNED_FILL]
    assert [p[0]["valueDate"] for p in planned] == ["2025-03-05", "2025-03-15"]
    assert {"url": "earliest-fill", "valueDate": "2025-03-13"} in planned[1]
    assert {"url": "submission-clarification-code", "valueCode": "48"} in planned[1]
    assert validate_resource(careplan) == []


def test_a_plan_without_orders() -> None:
    plan = PatientPlan(patient_id="pt-1", today=TODAY, cycle_days=30, anchor=None)
    careplan = plan_bundle(plan, {})["entry"][0]["resource"]
    assert "activity" not in careplan
    assert validate_resource(careplan) == []


def test_pharmacy_forms_are_equivalent() -> None:
    assert _bundle(pharmacy="Location/ph.1") == _bundle(pharmacy="ph.1")


@pytest.mark.parametrize("pharmacy", ["Location/", "ph 1", "Organization/x/y"])
def test_bad_pharmacy(pharmacy: str) -> None:
    with pytest.raises(ValueError):
        _bundle(pharmacy=pharmacy)


def test_unknown_orders_and_bad_ids_are_caller_errors() -> None:
    with pytest.raises(ValueError, match="mr-a"):
        plan_bundle(PLAN, {k: v for k, v in ORDERS.items() if k != "mr-a"})
    with pytest.raises(ValueError):
        plan_bundle(dataclasses.replace(PLAN, patient_id="pt|1"), ORDERS)


def test_outputs_do_not_share_mutable_parts() -> None:
    first = _bundle()
    first["entry"][0]["resource"]["category"][0]["coding"][0]["code"] = "changed"
    assert _bundle()["entry"][0]["resource"]["category"][0]["coding"][0]["code"] == "med-sync"


def test_planner_output_on_real_data_is_valid() -> None:
    """End to end with the real planner on a few clinosim patients."""
    from collections import defaultdict

    from fhir_sync.engine import Preferences, plan_patient
    from tests.mappings.data import medication_request_lines as _lines

    by_patient: dict[str, list[OrderInput]] = defaultdict(list)
    for line in _lines("clinosim-r4")[:400]:
        order_input = map_medication_request(orjson.loads(line))
        by_patient[order_input.patient_id].append(order_input)
    for patient_id in sorted(by_patient)[:25]:
        inputs = by_patient[patient_id]
        plan = plan_patient(
            patient_id, [i.order for i in inputs], [], date(2025, 6, 1), Preferences()
        )
        bundle = plan_bundle(plan, {i.order.id: i for i in inputs}, pharmacy="p1")
        assert validate_resource(bundle) == []
        assert orjson.dumps(bundle) == orjson.dumps(
            plan_bundle(plan, {i.order.id: i for i in inputs}, pharmacy="p1")
        )


def test_utc_default() -> None:
    from mappings.outbound.appointment import DEFAULT_PICKUP_TIME

    assert DEFAULT_PICKUP_TIME.tzinfo is UTC
