"""What changed between the previous plan and a new one, as items to review before preparing.

Discontinued drugs refilled by habit and dose changes missed are what users of sync programs
complain about after unanswered renewals; comparing every re-plan with the last one and putting
each difference in front of the pharmacist is the guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from fhir_sync.engine.cycle_types import Change, RenewalAnswer, RenewalTrack, Stop
from fhir_sync.engine.types import Exclusion, Order, PatientPlan

DOSE_TOLERANCE = 1e-9


class ChangeKind(StrEnum):
    NEW_ORDER = "new-order"
    STOPPED = "stopped"
    DOSE_CHANGED = "dose-changed"
    STRENGTH_CHANGED = "strength-changed"
    NEW_PRESCRIBER = "new-prescriber"
    ORDER_REPLACED = "order-replaced"
    NEWLY_PRN = "newly-prn"


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order as a plan saw it. `therapy` groups the orders of one treatment across
    strengths and products (an ingredient key); `drug_key` names the product and strength."""

    order_id: str
    medication: str
    therapy: str
    drug_key: str
    active: bool
    as_needed: bool = False
    daily_dose: float | None = None
    prescriber: str | None = None


def planned_orders(
    plan: PatientPlan,
    orders: Iterable[Order],
    *,
    names: Mapping[str, str] | None = None,
    therapies: Mapping[str, str] | None = None,
    prescribers: Mapping[str, str] | None = None,
) -> tuple[PlannedOrder, ...]:
    """The plan's orders as PlannedOrder; the mappings (by order id) default to the drug key."""
    by_id = {o.order_id: o for o in plan.orders}
    out = []
    for order in sorted(orders, key=lambda o: o.id):
        planned = by_id.get(order.id)
        out.append(
            PlannedOrder(
                order_id=order.id,
                medication=(names or {}).get(order.id, order.drug_key),
                therapy=(therapies or {}).get(order.id, order.drug_key),
                drug_key=order.drug_key,
                active=order.status == "active",
                as_needed=(
                    any(d.as_needed for d in order.dosages)
                    or (planned is not None and planned.exclusion is Exclusion.AS_NEEDED)
                ),
                # Stored with the plan as a float: it is compared for a dose change only.
                daily_dose=(
                    float(planned.daily_dose)
                    if planned is not None and planned.daily_dose is not None
                    else None
                ),
                prescriber=(prescribers or {}).get(order.id),
            )
        )
    return tuple(out)


def diff_plans(previous: Sequence[PlannedOrder], new: Sequence[PlannedOrder]) -> tuple[Change, ...]:
    """Each difference a pharmacist must see, sorted by (order id, kind). Only active orders
    count as therapy: an order that stops being active, with no active order of the same
    therapy taking its place, is stopped."""
    before = {o.order_id: o for o in previous if o.active}
    after = {o.order_id: o for o in new if o.active}
    before_by_therapy: dict[str, list[PlannedOrder]] = {}
    for o in before.values():
        before_by_therapy.setdefault(o.therapy, []).append(o)
    known_prescribers = {o.prescriber for o in before.values() if o.prescriber is not None}
    changes: list[Change] = []
    replaced: set[str] = set()
    for oid in sorted(after):
        now = after[oid]
        old = before.get(oid)
        if old is None:
            gone = sorted(
                (o for o in before_by_therapy.get(now.therapy, ()) if o.order_id not in after),
                key=lambda o: o.order_id,
            )
            if gone:
                old = gone[0]
                replaced.update(o.order_id for o in gone)
                changes.append(
                    Change(
                        ChangeKind.ORDER_REPLACED.value,
                        oid,
                        f"{now.medication}: a new prescription replaces the previous one",
                    )
                )
            else:
                changes.append(
                    Change(ChangeKind.NEW_ORDER.value, oid, f"{now.medication}: new prescription")
                )
                if now.prescriber is not None and now.prescriber not in known_prescribers:
                    changes.append(
                        Change(
                            ChangeKind.NEW_PRESCRIBER.value,
                            oid,
                            f"{now.medication}: prescribed by a prescriber new to this patient",
                        )
                    )
                if now.as_needed:
                    changes.append(_prn(now))
                continue
        changes.extend(_compared(old, now))
    for oid in sorted(before):
        if oid not in after and oid not in replaced:
            was = before[oid]
            changes.append(
                Change(
                    ChangeKind.STOPPED.value,
                    oid,
                    f"{was.medication}: stopped; do not prepare it",
                )
            )
    return tuple(sorted(changes, key=lambda c: (c.order_id or "", c.kind)))


def _prn(now: PlannedOrder) -> Change:
    return Change(
        ChangeKind.NEWLY_PRN.value,
        now.order_id,
        f"{now.medication}: now taken only as needed; it leaves the synchronized refills",
    )


def _compared(old: PlannedOrder, now: PlannedOrder) -> list[Change]:
    out = []
    if old.drug_key != now.drug_key:
        out.append(
            Change(
                ChangeKind.STRENGTH_CHANGED.value,
                now.order_id,
                f"{now.medication}: product or strength changed (was {old.medication})",
            )
        )
    if (
        old.daily_dose is not None
        and now.daily_dose is not None
        and abs(old.daily_dose - now.daily_dose) > DOSE_TOLERANCE
    ):
        out.append(
            Change(
                ChangeKind.DOSE_CHANGED.value,
                now.order_id,
                f"{now.medication}: dose changed from {old.daily_dose:g} to "
                f"{now.daily_dose:g} a day",
            )
        )
    if now.prescriber is not None and now.prescriber != old.prescriber:
        out.append(
            Change(
                ChangeKind.NEW_PRESCRIBER.value,
                now.order_id,
                f"{now.medication}: now prescribed by another prescriber",
            )
        )
    if now.as_needed and not old.as_needed:
        out.append(_prn(now))
    return out


def stops_in(changes: Iterable[Change], known_on: date) -> tuple[Stop, ...]:
    """The stopped orders among `changes`, as facts the cycle derivation keeps out of bags."""
    return tuple(
        Stop(c.order_id, known_on)
        for c in changes
        if c.kind == ChangeKind.STOPPED.value and c.order_id is not None
    )


def renewals_answered(
    tracks: Iterable[RenewalTrack],
    previous: Sequence[PlannedOrder],
    new: Sequence[PlannedOrder],
    day: date,
) -> tuple[RenewalTrack, ...]:
    """The tracks, each completed on `day` when the new plan has an active order of the same
    therapy that the previous plan did not have (the prescriber wrote the renewal)."""
    therapy_of = {o.order_id: o.therapy for o in previous}
    known = {o.order_id for o in previous}
    arrived = {o.therapy for o in new if o.active and o.order_id not in known}
    out = []
    for track in tracks:
        closed = any(a is RenewalAnswer.COMPLETED for _, a in track.answers)
        if not closed and therapy_of.get(track.order_id) in arrived:
            track = replace(track, answers=(*track.answers, (day, RenewalAnswer.COMPLETED)))
        out.append(track)
    return tuple(out)
