"""Dispatch by resourceType, for readers of mixed NDJSON or Bundles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from mappings.errors import MappingError
from mappings.fhir_values import JsonObject, show_code
from mappings.inbound.dispenses import FillInput, map_medication_dispense
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.inbound.patients import PatientInput, map_patient

Mapped = OrderInput | FillInput | PatientInput | None

MAPPERS: Final[dict[str, Callable[[JsonObject], Mapped]]] = {
    "MedicationRequest": map_medication_request,
    "MedicationDispense": map_medication_dispense,
    "Patient": map_patient,
}


def map_resource(res: JsonObject) -> Mapped:
    """Map any supported resource; None for a dispense that supplied nothing.

    Raises MappingError (code not-supported) for other resource types, so that callers can
    decide to skip them.
    """
    kind = res.get("resourceType") if type(res) is dict else None
    mapper = MAPPERS.get(kind) if type(kind) is str else None
    if mapper is None:
        shown = show_code(kind) if type(kind) is str else "missing"
        raise MappingError(f"resourceType {shown} is not mapped", "Resource", "not-supported")
    return mapper(res)
