"""Whose fill is whose, and what the patient has on hand.

A dispense counts against the prescription it names (`authorizingPrescription`). One that
names none, or a prescription this patient's orders do not include (a fill transferred from
another pharmacy), still put the drug in the patient's hands: it is matched to an order of the
same drug by its RxNorm code, by any shared coding (an NDC the order also lists, directly or in
its Medication), or by the same ingredient, strength and form read from the names. Such a fill
counts as supply on hand, never against the order's refills.

Two kinds of supply are not handed over yet but are as good as had: a fill prepared and waiting
in will-call, and the owed balance of a partial fill (v3 RFP/FFP), which is completed under the
same refill before any new fill is billed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction

from fhir_sync.engine.dispensing import Dispensing, fill_amount
from fhir_sync.engine.renewals import show_number
from fhir_sync.engine.supply import run_out
from fhir_sync.engine.therapy import product_of
from fhir_sync.engine.types import Fill, Order, exact


@dataclass(slots=True)
class History:
    """Fills per authorizing order (refill counting) and per order's drug (supply on hand),
    and for each order the words the pharmacist needs about supply not yet handed over."""

    by_order: dict[str, list[Fill]] = field(default_factory=dict)
    by_drug: dict[str, list[Fill]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def attribute_fills(orders: Sequence[Order], history: Sequence[Fill], today: date) -> History:
    """Attribute every fill (sorted by date) to an order and its drug; add owed balances."""
    out = History()
    by_id = {o.id: o for o in orders}
    by_key = {o.drug_key: o for o in orders}
    others: _OtherCodes | None = None
    for fill in history:
        own = by_id.get(fill.order_id) if fill.order_id else None
        if fill.pending:
            fill = replace(fill, handed_over=max(fill.handed_over, today))
        if own is not None:
            out.by_order.setdefault(own.id, []).append(fill)
            drug: str | None = own.drug_key
        elif fill.drug_key is not None and fill.drug_key in by_key:
            drug = fill.drug_key
        else:
            if others is None:  # built only for a fill the drug key does not place
                others = _OtherCodes(orders)
            drug = others.drug_of(fill)
        if drug is not None:
            out.by_drug.setdefault(drug, []).append(fill)
        if fill.pending and own is not None:
            out.notes[own.id] = (
                f"a fill prepared on {fill.handed_over.isoformat()} is waiting for pickup: "
                "counted as supply on hand"
            )
    for order in orders:
        owed = owed_balance(order, out.by_order.get(order.id, ()))
        if owed is not None:
            partial, balance = owed
            completion = Fill(
                id=f"{partial.id}:owed",
                handed_over=max(partial.handed_over, today),
                order_id=order.id,
                quantity=balance,
                completes_partial=True,
                pending=True,
            )
            out.by_order[order.id].append(completion)
            out.by_drug.setdefault(order.drug_key, []).append(completion)
            out.by_drug[order.drug_key].sort(key=lambda f: (f.handed_over, f.id))
            out.notes[order.id] = (
                f"partial fill on {partial.handed_over.isoformat()}: complete the "
                f"{show_number(balance)} owed under the same refill before a new fill is billed"
            )
    return out


class _OtherCodes:
    """The orders by every other coding they list and by their product name."""

    def __init__(self, orders: Sequence[Order]) -> None:
        self.by_code: dict[str, Order] = {}
        self.by_product: dict[str, Order] = {}
        for o in sorted(orders, key=lambda o: o.id, reverse=True):  # lowest id wins a tie
            for code in o.codes:
                self.by_code[code] = o
            product = product_of(o.name)
            if product is not None and product.strength:
                self.by_product[product.key] = o

    def drug_of(self, fill: Fill) -> str | None:
        """The drug key of the order this fill is the same drug as, else its own key."""
        keys = (fill.drug_key, *fill.codes) if fill.drug_key is not None else fill.codes
        for code in keys:
            found = self.by_code.get(code)
            if found is not None:
                return found.drug_key
        product = product_of(fill.name)
        if product is not None and product.strength:
            found = self.by_product.get(product.key)
            if found is not None:
                return found.drug_key
        return fill.drug_key


def owed_balance(order: Order, fills: Sequence[Fill]) -> tuple[Fill, Fraction] | None:
    """The latest partial fill of this order not completed since, and what it still owes
    (the prescribed quantity minus what the partial fill gave)."""
    if not order.supply_quantity:
        return None
    for fill in reversed(fills):
        if fill.completes_partial:
            return None
        if fill.partial:
            if fill.quantity is None or exact(fill.quantity) >= order.supply_quantity:
                return None
            return fill, order.supply_quantity - exact(fill.quantity)
    return None


def supply_end(
    fills: Sequence[Fill],
    dispensing: Dispensing,
    change: date | None,
    old_daily: Fraction | None = None,
) -> date | None:
    """When the supply on hand runs out, for an order taken at `dispensing.daily` from `change`
    (the day it was written).

    Fills handed over before `change` were taken at their own rate (quantity / days supply of
    the last of them, else `old_daily`, the dose of the order they came from). When that rate
    differs, what was left on `change` lasts at the new dose: 24 tablets left at 1 a day are 12
    days at 2 a day. Later fills are at the new dose.
    """
    daily = dispensing.daily
    before = [f for f in fills if change is not None and f.handed_over < change]
    rate = _rate(before[-1], dispensing) if before else None
    if rate is None:
        rate = old_daily
    if change is None or not before or rate is None or rate <= 0 or rate == daily:
        return run_out(fills, dispensing)
    end = run_out(before, replace(dispensing, daily=rate))
    if end is not None and end > change:
        left = math.floor((end - change).days * rate / daily)
        if left > 0:
            # what was left on `change`, as if handed over that day, then the later fills
            carried = Fill(id="", handed_over=change, days_supply=left)
            return run_out([carried, *fills[len(before) :]], dispensing)
        end = change
    return run_out(fills[len(before) :], dispensing) or end


def _rate(fill: Fill, dispensing: Dispensing) -> Fraction | None:
    """Dispense units a day a dispense was given for: its quantity over its days supply."""
    if not fill.days_supply or fill.days_supply <= 0:
        return None
    amount = fill_amount(fill, dispensing)
    return None if amount is None else amount / exact(fill.days_supply)
