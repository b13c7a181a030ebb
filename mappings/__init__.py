"""FHIR R4 JSON <-> engine types.

Inbound: plain dicts (from orjson) -> OrderInput / FillInput / PatientInput, checked by hand
and raising MappingError. Outbound: a PatientPlan -> an idempotent transaction Bundle in the
sync-plan profile (docs/sync-plan-profile.md), as plain dicts ready for orjson.
"""

from mappings.errors import MappingError
from mappings.fhir_values import parse_fhir_date
from mappings.inbound.dispenses import FillInput, map_medication_dispense
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.inbound.patients import PatientInput, map_patient
from mappings.inbound.resources import map_resource
from mappings.inbound.schedules import schedule_from_text
from mappings.outbound.bundle import plan_bundle
from mappings.outcome import (
    input_identity,
    mapping_error_outcome,
    operation_outcome,
    rejected_input_outcome,
)
from mappings.validation import validate_resource

__all__ = [
    "FillInput",
    "MappingError",
    "OrderInput",
    "PatientInput",
    "input_identity",
    "map_medication_dispense",
    "map_medication_request",
    "map_patient",
    "map_resource",
    "mapping_error_outcome",
    "operation_outcome",
    "parse_fhir_date",
    "plan_bundle",
    "rejected_input_outcome",
    "schedule_from_text",
    "validate_resource",
]
