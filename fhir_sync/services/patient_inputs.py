"""The resources an operation was given (or pulled) -> what the engine plans from.

Unlike `fhir-sync plan`, which plans around bad records and reports them in a file, an API
call is answered as a whole: any resource that cannot be used makes the call a 422 whose
OperationOutcome names each one, so the caller fixes its data instead of getting a plan built
on part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import orjson

from fhir_sync.engine import PatientPlan, Preferences
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.errors import InputsRejectedError
from fhir_sync.services.plan_one import plan_one
from fhir_sync.services.stored_text import check_identifiers
from mappings.errors import MappingError
from mappings.fhir_values import ID_PATTERN
from mappings.inbound.dispenses import map_medication_dispense
from mappings.inbound.orders import map_medication_request
from mappings.outcome import (
    InputPlace,
    input_identity,
    mapping_error_outcome,
    rejected_input_outcome,
)
from mappings.pickup_hours import PickupHours

JsonObject = dict[str, Any]
SOURCE = "Parameters.resource"


def flatten(resources: Iterable[JsonObject]) -> Iterator[tuple[str, JsonObject]]:
    """(position, resource) for each resource, with Bundles opened."""
    for index, resource in enumerate(resources):
        if resource.get("resourceType") == "Bundle":
            for number, entry in enumerate(resource.get("entry") or ()):
                inner = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(inner, dict):
                    yield f"part {index} entry {number}", inner
        else:
            yield f"part {index}", resource


def gather(patient_id: str, resources: Iterable[JsonObject]) -> PatientInputs:
    data = PatientInputs()
    issues: list[JsonObject] = []
    for position, resource in flatten(resources):
        kind, rid = input_identity(resource)
        where: InputPlace = {
            "source": SOURCE,
            "position": position,
            "resource_type": kind,
            "resource_id": rid,
        }
        try:
            problem = _add(data, patient_id, resource)
        except MappingError as error:
            issues.append(mapping_error_outcome(error, **where)["issue"][0])
            continue
        if problem is not None:
            outcome = rejected_input_outcome(message=problem, code="invariant", **where)
            issues.append(outcome["issue"][0])
    if issues:
        raise InputsRejectedError("some resources cannot be used", issues=issues)
    return data


def _add(data: PatientInputs, patient_id: str, resource: JsonObject) -> str | None:
    """Adds the resource; a message when it cannot be used (no patient data in it)."""
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        order = map_medication_request(resource)
        if order.patient_id != patient_id:
            return "the order is for another patient"
        data.orders[order.order.id] = order
    elif kind == "MedicationDispense":
        dispensed = map_medication_dispense(resource)
        if dispensed is not None:
            if dispensed.patient_id != patient_id:
                return "the dispense is for another patient"
            data.fills[dispensed.fill.id] = dispensed.fill
    elif kind == "Patient":
        if resource.get("id") != patient_id:
            return "a Patient other than the one in the URL"
        check_identifiers(resource)
        data.patient = resource
    elif kind == "Coverage":
        payer = _coverage_payer(resource, patient_id)
        if payer is not None:
            data.payer = payer
    return None


def _coverage_payer(coverage: JsonObject, patient_id: str) -> str | None:
    beneficiary = (coverage.get("beneficiary") or {}).get("reference")
    if not isinstance(beneficiary, str) or not beneficiary.endswith(f"Patient/{patient_id}"):
        return None
    if coverage.get("status") not in (None, "active"):
        return None
    for index, payor in enumerate(coverage.get("payor") or ()):
        reference = payor.get("reference") if isinstance(payor, dict) else None
        if isinstance(reference, str) and reference.startswith("Organization/"):
            if ID_PATTERN.fullmatch(reference.removeprefix("Organization/")) is None:
                raise MappingError(
                    "payor must reference Organization/<id> (a FHIR id: A-Z, a-z, 0-9, - "
                    "and ., at most 64)",
                    f"Coverage.payor[{index}].reference",
                    "value",
                )
            return reference
    return None


def plan_for(
    patient_id: str,
    data: PatientInputs,
    today: date,
    prefs: Preferences,
    pharmacy: str | None,
    pickup: PickupHours | None = None,
    load: Mapping[date, int] | None = None,
) -> tuple[PatientPlan, JsonObject]:
    """The engine's plan and its transaction Bundle, whose CarePlan carries the plan digest
    (so a later `fhir-sync sync` against the EHR this plan is written to sees it unchanged);
    `load` is the pickups other enrolled patients already have per day (the pharmacy's daily
    limit)."""
    planned = plan_one(
        patient_id,
        data.orders,
        data.fills.values(),
        today,
        prefs,
        pharmacy=pharmacy,
        pickup=pickup or PickupHours(),
        load=load,
    )
    return planned.plan, planned.bundle


def inputs_bytes(resources: list[JsonObject]) -> bytes:
    """The inputs as kept with the enrollment, for re-planning without live endpoints."""
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": resource} for _, resource in flatten(resources)],
        }
    )
