"""Small valid resources for mapping tests; each test changes only what it is about."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mappings.errors import MappingError

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

_MEDICATION_REQUEST: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "mr-1",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}],
        "text": "Lisinopril 10 mg tablet",
    },
    "subject": {"reference": "Patient/pt-1"},
    "authoredOn": "2025-01-15T10:30:00-05:00",
    "requester": {"reference": "Practitioner/dr-1"},
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "community",
                }
            ]
        }
    ],
    "courseOfTherapyType": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
                "code": "continuous",
            }
        ]
    },
    "dosageInstruction": [
        {
            "sequence": 1,
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
        }
    ],
    "dispenseRequest": {
        "validityPeriod": {"start": "2025-01-15", "end": "2026-01-15"},
        "numberOfRepeatsAllowed": 5,
        "quantity": {"value": 30, "unit": "tablet"},
        "expectedSupplyDuration": {
            "value": 30,
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
        "performer": {"reference": "Organization/pharmacy-1"},
    },
}

_MEDICATION_DISPENSE: dict[str, Any] = {
    "resourceType": "MedicationDispense",
    "id": "md-1",
    "status": "completed",
    "medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": "314076"}],
    },
    "subject": {"reference": "Patient/pt-1"},
    "authorizingPrescription": [{"reference": "MedicationRequest/mr-1"}],
    "quantity": {"value": 30, "unit": "tablet"},
    "daysSupply": {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
    "whenPrepared": "2025-02-01T09:00:00Z",
    "whenHandedOver": "2025-02-02T15:00:00Z",
}


def medication_request(**changes: Any) -> dict[str, Any]:
    """A valid order; a change to None removes the element."""
    return _changed(_MEDICATION_REQUEST, changes)


def medication_dispense(**changes: Any) -> dict[str, Any]:
    return _changed(_MEDICATION_DISPENSE, changes)


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    resource = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = value
    return resource


def with_path(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy with `a.b.0.c` set to `value` (the marker DELETE removes it)."""
    result = copy.deepcopy(resource)
    parts = path.split(".")
    target: Any = result
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        if value is DELETE:
            del target[int(last)]
        else:
            target[int(last)] = value
    elif value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return result


DELETE = object()


def rejected(mapper: Callable[[Any], object], resource: Any) -> MappingError:
    """The MappingError `mapper` raises for `resource`; the test fails when it raises none."""
    with pytest.raises(MappingError) as caught:
        mapper(resource)
    return caught.value
