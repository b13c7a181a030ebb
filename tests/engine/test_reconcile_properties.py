"""Invariants of reconciliation and renewals, over generated patients."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from fhir_sync.engine import Fill, Order, plan_patient
from fhir_sync.engine.dispensing import Dispensing, resolve
from fhir_sync.engine.reconcile import written
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.therapy import product_of
from fhir_sync.engine.types import Exclusion
from tests.engine import test_properties as _profile  # noqa: F401  (the engine profile)
from tests.engine.strategies import TODAY, Planned, planned_patients


def _taken_together(older: Order, newer: Order, fills: list[Fill]) -> bool:
    """The rule, restated: written the same day by one prescriber (or none named), or the
    older one dispensed on or after the newer one's first fill, made before today."""
    same_author = older.author is None or newer.author is None or older.author == newer.author
    if written(older) is not None and written(older) == written(newer) and same_author:
        return True
    firsts = sorted(f.handed_over for f in fills if f.order_id == newer.id and not f.pending)
    return (
        bool(firsts)
        and firsts[0] < TODAY
        and any(
            f.order_id == older.id and f.handed_over >= firsts[0] and not f.pending for f in fills
        )
    )


@given(planned_patients)
def test_a_replaced_order_is_never_synced_beside_its_replacement(p: Planned) -> None:
    fills, plan, by_id = p.fills, p.plan, p.by_id
    synced = [by_id[o.order_id] for o in plan.synced]
    assert len({o.drug_key for o in synced}) == len(synced), "one order per drug code"
    for i, a in enumerate(synced):
        for b in synced[i + 1 :]:
            pa, pb = product_of(a.name), product_of(b.name)
            if pa is not None and pb is not None and pa.therapy == pb.therapy:
                assert _taken_together(a, b, fills) or _taken_together(b, a, fills), (a.id, b.id)
    outcome = {o.order_id: o for o in plan.orders}
    for o in plan.orders:
        if o.exclusion in (Exclusion.REPLACED, Exclusion.DUPLICATE):
            keeper = o.reason.split("MedicationRequest/")[1].split(" ")[0].rstrip(":")
            assert outcome[keeper].exclusion not in (Exclusion.REPLACED, Exclusion.DUPLICATE)


@given(planned_patients)
def test_every_expired_maintenance_order_has_a_renewal_task(p: Planned) -> None:
    orders, fills, prefs, plan = p
    by_id = p.by_id
    fills_of = {o.id: [f for f in fills if f.order_id == o.id] for o in orders}
    for o in plan.orders:
        expires = authorization(by_id[o.order_id]).expires
        if o.synced:
            assert expires is None or expires >= TODAY, "an expired order is never synced"
        found = resolve(by_id[o.order_id], fills_of[o.order_id], prefs)
        if o.exclusion is Exclusion.EXPIRED and isinstance(found, Dispensing):
            assert o.renewal is not None and o.renewal.due == TODAY
            assert o.renewal.needed_by >= TODAY and o.renewal in plan.renewals


@given(planned_patients)
def test_stopping_the_orders_a_plan_flags_as_replaced_changes_nothing_else(p: Planned) -> None:
    # The pharmacist confirms: the replaced and duplicate orders are stopped in the EHR.
    orders, fills, prefs, first = p
    flagged = {
        o.order_id for o in first.orders if o.exclusion in (Exclusion.REPLACED, Exclusion.DUPLICATE)
    }
    stopped = [replace(o, status="stopped") if o.id in flagged else o for o in orders]
    again = plan_patient("p", stopped, fills, TODAY, replace(prefs, anchor_date=first.anchor))
    assert again.anchor == first.anchor
    assert [
        (o.order_id, o.run_out, o.next_fill, o.sync_date, o.quantity, o.renewal)
        for o in again.synced
    ] == [
        (o.order_id, o.run_out, o.next_fill, o.sync_date, o.quantity, o.renewal)
        for o in first.synced
    ]
