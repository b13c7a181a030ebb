"""R4 required-binding code lists for the coded elements the mappings read or write.

fhir.resources does not check required bindings, so the mappings check them by hand.
"""

from __future__ import annotations

from typing import Final

MEDICATION_REQUEST_STATUS: Final = frozenset(
    {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    }
)
MEDICATION_REQUEST_INTENT: Final = frozenset(
    {
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
MEDICATION_DISPENSE_STATUS: Final = frozenset(
    {
        "preparation",
        "in-progress",
        "cancelled",
        "on-hold",
        "completed",
        "entered-in-error",
        "stopped",
        "declined",
        "unknown",
    }
)
COURSE_OF_THERAPY: Final = frozenset({"continuous", "acute", "seasonal"})

# MedicationDispense.type codes (v3 ActPharmacySupplyType) that complete a partial or trial
# fill: the remainder is dispensed under the same refill, so it does not use another one.
COMPLETING_SUPPLY_TYPES: Final = frozenset({"FFC", "RFC", "RFCS", "TB", "TBS"})
# Partial fills (first fill / refill, part fill): the rest of the quantity is owed.
PARTIAL_SUPPLY_TYPES: Final = frozenset({"FFP", "RFP", "FFPS", "RFPS"})
# Dispense statuses of a fill prepared and waiting for pickup (with whenPrepared).
WAITING_DISPENSE_STATUS: Final = frozenset({"in-progress", "preparation"})

ISSUE_SEVERITY: Final = frozenset({"fatal", "error", "warning", "information"})
ISSUE_TYPE: Final = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    }
)
