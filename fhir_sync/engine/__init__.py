"""The sync engine: pure, deterministic planning on plain data.

It imports only the standard library so that it can be reasoned about, property-tested
and reused without FHIR, files, HTTP or a clock. Callers pass `today`.
"""

from fhir_sync.engine.anchor import pick_anchor
from fhir_sync.engine.planner import anchor_candidates, plan_patient
from fhir_sync.engine.types import (
    ControlledPolicy,
    Dosage,
    Exclusion,
    Fill,
    Order,
    OrderPlan,
    PatientPlan,
    PlannedFill,
    Preferences,
    Renewal,
    Schedule,
    Visit,
)

__all__ = [
    "ControlledPolicy",
    "Dosage",
    "Exclusion",
    "Fill",
    "Order",
    "OrderPlan",
    "PatientPlan",
    "PlannedFill",
    "Preferences",
    "Renewal",
    "Schedule",
    "Visit",
    "anchor_candidates",
    "pick_anchor",
    "plan_patient",
]
