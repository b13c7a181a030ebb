"""Patient JSON -> the little the pipeline needs about a patient: who, and who cares for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mappings.errors import rooted_at
from mappings.fhir_values import (
    JsonObject,
    get_object,
    get_str,
    list_objects,
    resource_id,
)

PATIENT: Final = "Patient"


@dataclass(frozen=True, slots=True)
class PatientInput:
    id: str
    managing_organization: str | None = None
    general_practitioners: tuple[str, ...] = ()


@rooted_at(PATIENT)
def map_patient(res: JsonObject) -> PatientInput:
    patient_id = resource_id(res, PATIENT)
    organization = None
    managing = get_object(res, "managingOrganization", "")
    if managing is not None:
        organization = get_str(managing, "reference", ".managingOrganization")
    practitioners = []
    for index, item in list_objects(res, "generalPractitioner", ""):
        reference = get_str(item, "reference", f".generalPractitioner[{index}]")
        if reference is not None:
            practitioners.append(reference)
    return PatientInput(patient_id, organization, tuple(practitioners))
