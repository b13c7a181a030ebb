"""Which orders join the sync, and a reason a pharmacist would accept for each that does not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fhir_sync.engine.dispensing import Dispensing, Unresolved
from fhir_sync.engine.rules import Authorization
from fhir_sync.engine.types import Exclusion, Order

ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order with what the engine derived for it, before duplicates are resolved."""

    order: Order
    dispensing: Dispensing | Unresolved
    auth: Authorization


def exclusion(candidate: Candidate, today: date) -> tuple[Exclusion, str] | None:
    """Why this order cannot be synced on its own merits (a code and the words for a
    pharmacist), or None when it can."""
    order = candidate.order
    if order.status != "active":
        return Exclusion.INACTIVE, (
            f"status is {order.status}: only active prescriptions are synchronized"
        )
    if order.intent not in ORDER_INTENTS:
        return Exclusion.NOT_AN_ORDER, (
            f"intent is {order.intent}: a {order.intent} is not a prescription to fill"
        )
    if "inpatient" in order.category:
        return Exclusion.INPATIENT, (
            "inpatient order: given in hospital, not filled by the community pharmacy"
        )
    if "discharge" in order.category:
        return (
            Exclusion.DISCHARGE,
            "discharge order: reconcile it with the community prescription first",
        )
    dosages = order.dosages
    if dosages and all(d.as_needed or d.prn_text for d in dosages):
        if any(d.as_needed for d in dosages):
            return Exclusion.AS_NEEDED, "taken as needed (PRN): no predictable run-out date"
        return Exclusion.AS_NEEDED_TEXT, (
            "the dosage text says it is taken as needed (PRN): no predictable run-out date"
        )
    if order.course == "acute":
        return Exclusion.ACUTE, "acute course of therapy: not a maintenance medication"
    if order.course == "seasonal":
        return Exclusion.SEASONAL, "seasonal therapy: not taken all year"
    expires = candidate.auth.expires
    if expires is not None and expires < today:
        return Exclusion.EXPIRED, (
            f"prescription expired on {expires.isoformat()}: a new prescription is needed"
        )
    found = candidate.dispensing
    if isinstance(found, Unresolved):
        if not order.dosages:
            return Exclusion.NO_DAILY_DOSE, (
                "no usable daily dose in the dosage, the dispense request or the fill history"
            )
        return Exclusion.NO_DISPENSE_UNIT, (
            f"cannot size a dispense: {found.missing}, and neither the prescription's quantity "
            "with its supply duration nor a past dispense's quantity with its days supply "
            "says how much is used a day"
        )
    return None


def duplicate_winners(candidates: Sequence[Candidate]) -> dict[str, str]:
    """For each drug with several syncable orders, map every loser's id to the kept order's id.

    The newest prescription is kept (it reflects the current therapy), then the one valid
    longest, then the lowest id, so the choice never depends on input order.
    """
    by_drug: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_drug.setdefault(candidate.order.drug_key, []).append(candidate)
    losers: dict[str, str] = {}
    for group in by_drug.values():
        if len(group) < 2:
            continue
        keep = min(group, key=_preference)
        for other in group:
            if other is not keep:
                losers[other.order.id] = keep.order.id
    return losers


def _preference(candidate: Candidate) -> tuple[int, int, str]:
    written = candidate.order.authored_on or candidate.order.validity_start
    expires = candidate.auth.expires
    return (
        -(written.toordinal() if written else 0),
        -(expires.toordinal() if expires else date.max.toordinal()),
        candidate.order.id,
    )
