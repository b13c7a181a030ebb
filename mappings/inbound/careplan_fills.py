"""A stored sync-plan CarePlan -> the fills of one pickup, for the monthly cycle.

The cycle lists, on its calls and preparation Task, what will be in the bag: each synced
order's fill in the dispense unit. The pickup on the plan's anchor uses the planned fill of
that day where the plan has one (a short fill's pickup), else the cycle quantity.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from fhir_sync.engine.cycle_types import CycleFill
from fhir_sync.engine.plan_changes import PlannedOrder
from fhir_sync.engine.therapy import product_of
from mappings.fhir_literals import JsonObject
from mappings.profile import (
    CS_SYNC_EXCLUSION,
    EXT_CYCLE_QUANTITY,
    EXT_DAYS_SUPPLY,
    EXT_EARLIEST_FILL,
    EXT_MEDICATION_REQUEST,
    EXT_PLANNED_FILL,
)


def _ext(node: JsonObject, url: str) -> Any:
    return next((e for e in node.get("extension") or () if e.get("url") == url), None)


def concept_label(concept: object) -> str | None:
    """What a stored CodeableConcept is called: its text, else its first coding's display;
    None when it has neither (or is not an object)."""
    if isinstance(concept, dict):
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding") or ():
            if coding.get("display"):
                return str(coding["display"])
    return None


def _medication(detail: JsonObject) -> str:
    return concept_label(detail.get("productCodeableConcept")) or "medicine"


def careplan_fills(careplan: JsonObject, pickup: date, *, first: bool) -> tuple[CycleFill, ...]:
    """The fills handed over on `pickup`; `first`: the plan's own pickup (planned fills)."""
    fills = []
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        if detail.get("status") != "scheduled":
            continue
        link = _ext(detail, EXT_MEDICATION_REQUEST)
        if link is None:
            continue
        order = str(link["valueReference"]["reference"]).rsplit("/", 1)[-1]
        cycle_q = (_ext(detail, EXT_CYCLE_QUANTITY) or {}).get("valueQuantity") or {}
        days = (_ext(detail, EXT_DAYS_SUPPLY) or {}).get("valueQuantity") or {}
        earliest = (_ext(detail, EXT_EARLIEST_FILL) or {}).get("valueDate")
        quantity, unit, supply = cycle_q.get("value"), cycle_q.get("unit"), days.get("value")
        scc = None
        if first:
            for planned in detail.get("extension") or ():
                if planned.get("url") != EXT_PLANNED_FILL:
                    continue
                parts = {p["url"]: p for p in planned.get("extension") or ()}
                if parts.get("date", {}).get("valueDate") != pickup.isoformat():
                    continue
                quantity = parts["quantity"]["valueQuantity"].get("value")
                unit = parts["quantity"]["valueQuantity"].get("unit", unit)
                supply = parts["days-supply"]["valueQuantity"].get("value")
                earliest = parts.get("earliest-fill", {}).get("valueDate", earliest)
                code = parts.get("submission-clarification-code")
                scc = None if code is None else str(code["valueCode"])
        if quantity is None or supply is None:
            continue
        fills.append(
            CycleFill(
                order_id=order,
                medication=_medication(detail),
                quantity=float(quantity),
                unit=str(unit or "units"),
                days_supply=int(supply),
                earliest=None if earliest is None else date.fromisoformat(earliest),
                scc=scc,
            )
        )
    return tuple(sorted(fills, key=lambda f: f.order_id))


#: Why a not-synchronized activity's order is no treatment going on (sync-exclusion codes):
#: it is no longer active, expired, or replaced by another order of the same therapy.
_NOT_GOING_ON: Final = frozenset({"inactive", "expired", "replaced", "not-an-order"})
_AS_NEEDED: Final = frozenset({"as-needed", "as-needed-text"})


def careplan_orders(careplan: JsonObject) -> tuple[PlannedOrder, ...]:
    """The orders a stored CarePlan planned, as the engine compares two plans (a re-plan
    against the plan before it: engine.plan_changes). Read from the CarePlan itself, so a plan
    made from a live pull compares as well as one made from stored orders. The therapy is the
    ingredient and form of the medication's name (a new strength is the same therapy)."""
    out = []
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        link = _ext(detail, EXT_MEDICATION_REQUEST)
        if link is None:
            continue
        order = str(link["valueReference"]["reference"]).rsplit("/", 1)[-1]
        codes = {
            str(c.get("code"))
            for c in ((detail.get("statusReason") or {}).get("coding") or ())
            if c.get("system") == CS_SYNC_EXCLUSION
        }
        name = _medication(detail)
        product = product_of(name)
        daily = (detail.get("dailyAmount") or {}).get("value")
        out.append(
            PlannedOrder(
                order_id=order,
                medication=name,
                therapy=product.therapy if product is not None else name.lower(),
                drug_key=product.key if product is not None else name.lower(),
                active=detail.get("status") == "scheduled" or not codes & _NOT_GOING_ON,
                as_needed=bool(codes & _AS_NEEDED),
                daily_dose=None if daily is None else float(daily),
            )
        )
    return tuple(sorted(out, key=lambda o: o.order_id))
