"""Which orders join the sync, and a reason a pharmacist would accept for each that does not.

Refilling a discontinued drug is among the first complaints about sync programs, so orders are
compared as therapies, not only as codes: two orders for the same ingredients in the same dose
form are one therapy. The newer order replaces an older active one (a dose change) unless the
two are taken together: written together by the same prescriber, or filled side by side (the
older still dispensed after the newer's first fill: levothyroxine 100 mcg + 25 mcg).
Schedule II prescriptions written together with earliest-fill dates (21 CFR 1306.12(b)) are a
series, filled one after another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from fhir_sync.engine.courses import Course
from fhir_sync.engine.dispensing import Dispensing, Unresolved
from fhir_sync.engine.rules import Authorization
from fhir_sync.engine.therapy import product_of
from fhir_sync.engine.types import ControlledPolicy, Exclusion, Fill, Order, Schedule

ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)

Reason = tuple[Exclusion, str]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order with what the engine derived for it, before duplicates are resolved.

    `course` is None for an order without bounded dosages."""

    order: Order
    dispensing: Dispensing | Unresolved
    auth: Authorization
    course: Course | None = None

    @property
    def daily(self) -> Fraction | None:
        """The daily amount in the dispense unit, None when none could be found."""
        found = self.dispensing
        return found.daily if isinstance(found, Dispensing) else None


@dataclass(slots=True)
class Resolution:
    """What comparing orders decided: exclusions of orders replaced, duplicated or waiting in
    a series; notes for the pharmacist; the first day each order may be filled; and the C-II
    series members that must not ask for a renewal because another prescription of the
    series follows."""

    reasons: dict[str, Reason] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    earliest: dict[str, date] = field(default_factory=dict)
    followed: set[str] = field(default_factory=set)


def exclusion(
    candidate: Candidate, today: date, policy: ControlledPolicy = ControlledPolicy.SYNC
) -> Reason | None:
    """Why this order cannot be synced on its own merits (a code and the words for a
    pharmacist), or None when it can. Expiry is decided later: an expired maintenance order
    is still compared with the others (a replaced one needs no renewal)."""
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
    course = candidate.course
    if course is not None and course.kind == "acute":
        length = f"{course.days:g}-day " if course.days else ""
        ends = f", ending {course.until.isoformat()}" if course.until else ""
        return Exclusion.ACUTE, (
            f"bounded {length}course{ends} and no course of therapy stated: an acute course, "
            "not a maintenance medication"
        )
    if course is not None and course.kind == "titrating":
        until = f"until {course.until.isoformat()}" if course.until else "for a time not stated"
        return Exclusion.TITRATING, (
            f"titration: the dose changes {until}; synchronize it on its maintenance step"
        )
    controlled = _controlled(order.schedule, policy)
    if controlled is not None:
        return controlled
    found = candidate.dispensing
    if isinstance(found, Unresolved):
        # Without a daily amount nothing shows it is a maintenance medication: an expired one
        # is reported as expired, without a renewal request.
        lapsed = expired(candidate, today)
        if lapsed is not None:
            return lapsed
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


def _controlled(schedule: Schedule, policy: ControlledPolicy) -> Reason | None:
    if schedule is Schedule.NONE or policy is ControlledPolicy.SYNC:
        return None
    if policy is ControlledPolicy.SKIP_CII and schedule is not Schedule.CII:
        return None
    label = {"CII": "II", "CIII": "III", "CIV": "IV", "CV": "V"}[schedule.value]
    scope = "Schedule II" if policy is ControlledPolicy.SKIP_CII else "controlled-substance"
    return Exclusion.CONTROLLED, (
        f"Schedule {label} controlled substance: this pharmacy does not synchronize "
        f"{scope} prescriptions; fill it on request"
    )


def expired(candidate: Candidate, today: date) -> Reason | None:
    """An order whose validity has ended: it stays in the plan, needing a new prescription."""
    expires = candidate.auth.expires
    if expires is not None and expires < today:
        return Exclusion.EXPIRED, (
            f"prescription expired on {expires.isoformat()}: a new prescription is needed"
        )
    return None


def resolve(
    candidates: Sequence[Candidate], fills: Mapping[str, Sequence[Fill]], today: date
) -> Resolution:
    """Compare the syncable orders: C-II series, same-drug duplicates, then therapies."""
    out = Resolution()
    for c in candidates:
        start = _earliest(c.order)
        if start is not None:
            out.earliest[c.order.id] = start
    remaining = _series(candidates, fills, out)
    kept_for = _same_drug(remaining, out)
    kept = {c.order.id: c for c in kept_for.values()}
    replaced_by = _same_therapy(list(kept.values()), fills, today, out)
    for loser, keeper in kept_for.items():
        # a duplicate of an order that is itself replaced is replaced by the same order
        newest = replaced_by.get(keeper.order.id)
        if newest is not None and loser != keeper.order.id:
            out.reasons[loser] = _replaced(newest)
    return out


def _earliest(order: Order) -> date | None:
    days = [d for d in (order.earliest_fill, order.validity_start) if d is not None]
    return max(days) if days else None


def _series(
    candidates: Sequence[Candidate], fills: Mapping[str, Sequence[Fill]], out: Resolution
) -> list[Candidate]:
    """Schedule II prescriptions of one drug written the same day with distinct earliest-fill
    dates: the first not yet dispensed is planned (not before its date), each later one waits
    for its date, and only the last asks for a renewal."""
    groups: dict[tuple[str, date | None], list[Candidate]] = {}
    rest: list[Candidate] = []
    for c in candidates:
        if c.order.schedule is Schedule.CII and c.order.id in out.earliest:
            groups.setdefault((c.order.drug_key, written(c.order)), []).append(c)
        else:
            rest.append(c)
    for group in groups.values():
        starts = [out.earliest[c.order.id] for c in group]
        if len(group) < 2 or len(set(starts)) != len(starts):
            rest.extend(group)
            continue
        group.sort(key=lambda c: (out.earliest[c.order.id], c.order.id))
        unfilled = [i for i, c in enumerate(group) if not fills.get(c.order.id)]
        current = unfilled[0] if unfilled else len(group) - 1
        count = len(group)
        for index, c in enumerate(group):
            oid = c.order.id
            on = out.earliest[oid].isoformat()
            place = f"Schedule II series, prescription {index + 1} of {count}"
            if index == current:
                rest.append(c)
                if index + 1 < count:
                    following = group[index + 1].order.id
                    out.followed.add(oid)
                    out.notes[oid] = (
                        f"{place}: not filled before {on}; MedicationRequest/{following} "
                        f"may be filled on or after {out.earliest[following].isoformat()}"
                    )
                else:
                    out.notes[oid] = f"{place}: not filled before {on}"
            elif index < current:
                out.reasons[oid] = (
                    Exclusion.SERIES,
                    f"{place}: already dispensed; MedicationRequest/"
                    f"{group[current].order.id} is the one to fill next",
                )
            else:
                out.reasons[oid] = (
                    Exclusion.SERIES,
                    f"{place}: may be filled on or after {on}, after "
                    f"MedicationRequest/{group[index - 1].order.id}",
                )
    return rest


def _same_drug(candidates: Sequence[Candidate], out: Resolution) -> dict[str, Candidate]:
    """Several orders for the same drug code: the newest is kept. When its daily dose differs
    the older one is a replaced dose (the planner recounts the supply on hand from the day the
    new one starts). Maps every order's id to the order kept for its drug (itself when kept).
    """
    by_drug: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_drug.setdefault(candidate.order.drug_key, []).append(candidate)
    kept: dict[str, Candidate] = {}
    for group in by_drug.values():
        keep = min(group, key=_preference)
        for other in sorted(group, key=_preference, reverse=True):
            oid = other.order.id
            kept[oid] = keep
            if other is keep:
                continue
            if other.daily is not None and keep.daily is not None and other.daily != keep.daily:
                out.reasons[oid] = _replaced(keep)
            else:
                out.reasons[oid] = (
                    Exclusion.DUPLICATE,
                    f"duplicate of MedicationRequest/{keep.order.id} (same drug): "
                    "kept the newer order",
                )
    return kept


def _same_therapy(
    candidates: Sequence[Candidate],
    fills: Mapping[str, Sequence[Fill]],
    today: date,
    out: Resolution,
) -> dict[str, Candidate]:
    """Orders of one therapy (same ingredients and dose form, other strengths): the newest
    replaces each older one that is not taken with it. Maps each replaced id to the newest."""
    replaced: dict[str, Candidate] = {}
    by_therapy: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        product = product_of(candidate.order.name)
        if product is not None:
            by_therapy.setdefault(product.therapy, []).append(candidate)
    for group in by_therapy.values():
        if len(group) < 2:
            continue
        newest = min(group, key=_preference)
        for other in group:
            if other is newest:
                continue
            if _taken_together(other, newest, fills, today):
                continue
            out.reasons[other.order.id] = _replaced(newest)
            replaced[other.order.id] = newest
    for newest_id in sorted({n.order.id for n in replaced.values()}):
        olds = sorted(oid for oid, n in replaced.items() if n.order.id == newest_id)
        named = ", ".join(f"MedicationRequest/{oid}" for oid in olds)
        out.notes[newest_id] = f"replaces {named}: confirm the old one is stopped"
    return replaced


def _taken_together(
    older: Candidate, newer: Candidate, fills: Mapping[str, Sequence[Fill]], today: date
) -> bool:
    """Written the same day by one prescriber (or with no prescriber named), or both with a
    dose and filled side by side: the older one dispensed on or after the newer one's first
    fill, which was before today (a fill made today may be the very one this plan asks for,
    and is no evidence that the old strength goes on)."""
    a, b = older.order, newer.order
    same_prescriber = a.author is None or b.author is None or a.author == b.author
    if written(a) is not None and written(a) == written(b) and same_prescriber:
        return True
    if older.daily is None or newer.daily is None:
        return False
    first = next((f.handed_over for f in fills.get(b.id, ()) if not f.pending), None)
    return (
        first is not None
        and first < today
        and any(f.handed_over >= first and not f.pending for f in fills.get(a.id, ()))
    )


def _replaced(by: Candidate) -> Reason:
    day = written(by.order)
    on = f" on {day.isoformat()}" if day else ""
    return Exclusion.REPLACED, (
        f"replaced by MedicationRequest/{by.order.id}{on}: confirm it is stopped"
    )


def written(order: Order) -> date | None:
    """The date written, else the first day of validity."""
    return order.authored_on or order.validity_start


def _preference(candidate: Candidate) -> tuple[int, int, str]:
    """The newest prescription first (it reflects the current therapy), then the one valid
    longest, then the lowest id, so the choice never depends on input order."""
    day = written(candidate.order)
    expires = candidate.auth.expires
    return (
        -(day.toordinal() if day else 0),
        -(expires.toordinal() if expires else date.max.toordinal()),
        candidate.order.id,
    )
