"""Deliberately bad input lines, so importers are tested on what real exports contain.

One bad line follows every tenth patient (about 0.2-0.3% of lines), cycling through the kinds
below, so any dataset of 50 or more patients holds each kind and a 20-patient demo holds two.
Placement depends only on the patient number: the same seed always breaks the same lines.
"""

from __future__ import annotations

from typing import Final

from fhir_sync.datagen.elements import FILL_SYSTEM, JSON

EVERY: Final = 10
KINDS: Final = (
    "invalid-json",
    "request-without-subject",
    "request-for-unknown-patient",
    "dispense-with-non-date",
    "request-with-invalid-status",
)


def kind_after(patient_number: int) -> str | None:
    """The bad line that follows patient `patient_number` (1-based), if any."""
    if patient_number % EVERY:
        return None
    return KINDS[(patient_number // EVERY - 1) % len(KINDS)]


def _variant(resource: JSON, suffix: str) -> JSON:
    """A copy with its own id and identifier, so it never collides with the good original."""
    copy = dict(resource)
    copy["id"] = f"{resource['id']}-{suffix}"
    copy["identifier"] = [
        {**identifier, "value": f"{identifier['value']}-{suffix.upper()}"}
        for identifier in resource["identifier"]
    ]
    return copy


def bad_resource(
    kind: str, patient_number: int, requests: list[JSON], dispenses: list[JSON]
) -> tuple[str, JSON | None]:
    """The resource type and body of a bad line; a None body means 'write broken JSON'."""
    order = requests[0]
    if kind == "invalid-json":
        return "MedicationRequest", None
    if kind == "request-without-subject":
        broken = _variant(order, "nosubj")
        del broken["subject"]
        return "MedicationRequest", broken
    if kind == "request-for-unknown-patient":
        broken = _variant(order, "orphan")
        broken["subject"] = {"reference": f"Patient/pt-missing-{patient_number:06d}"}
        return "MedicationRequest", broken
    if kind == "dispense-with-non-date":
        handed = [d for d in dispenses if "whenHandedOver" in d]
        if handed:
            broken = _variant(handed[0], "baddate")
        else:
            broken = {
                "resourceType": "MedicationDispense",
                "id": f"md-{order['id'][3:]}-baddate",
                "identifier": [{"system": FILL_SYSTEM, "value": f"{patient_number}-BADDATE"}],
                "status": "completed",
                "subject": order["subject"],
                "authorizingPrescription": [{"reference": f"MedicationRequest/{order['id']}"}],
                "medicationCodeableConcept": order["medicationCodeableConcept"],
            }
        broken["whenHandedOver"] = "unknown"
        return "MedicationDispense", broken
    broken = _variant(order, "badstatus")
    broken["status"] = "on hold"
    return "MedicationRequest", broken
