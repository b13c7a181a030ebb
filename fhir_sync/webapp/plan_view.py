"""A patient's stored plan (CarePlan, Appointment, renewal Tasks) read back into what the
patient page shows: one row per medicine with its fills, and the plan in words.

The plan is read from the FHIR resources fhir-sync stored (the same ones the EHR sees), not
recomputed, so the page shows exactly what was written back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from mappings.inbound.careplan_fills import concept_label
from mappings.profile import (
    EXT_ANCHOR_DATE,
    EXT_DAYS_SUPPLY,
    EXT_EARLIEST_FILL,
    EXT_MEDICATION_REQUEST,
    EXT_PLANNED_FILL,
    EXT_SHORT_FILL,
    EXT_SYNC_CYCLE,
    EXT_TRANSITION_VISIT,
)

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fill:
    day: date
    quantity: str  # "30 tablet"
    days_supply: int
    earliest: date | None
    label: str

    @property
    def short(self) -> bool:
        return "short" in self.label


@dataclass(slots=True)
class Medicine:
    name: str
    order: str | None  # MedicationRequest/<id>
    synced: bool
    why: str  # the plan in words for this order
    fills: list[Fill] = field(default_factory=list)
    renew_by: date | None = None
    renewal_note: str | None = None


@dataclass(frozen=True, slots=True)
class Pickup:
    day: date
    status: str
    description: str


@dataclass(slots=True)
class PlanView:
    status: str | None
    cycle_days: int | None
    anchor: date | None
    transition: date | None
    medicines: list[Medicine]
    pickups: list[Pickup]

    @property
    def synced(self) -> list[Medicine]:
        return [m for m in self.medicines if m.synced]

    @property
    def not_synced(self) -> list[Medicine]:
        return [m for m in self.medicines if not m.synced]


def _ext(element: JsonObject, url: str) -> JsonObject | None:
    for extension in element.get("extension") or ():
        if extension.get("url") == url:
            return dict(extension)
    return None


def _date(value: object) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _quantity(value: object) -> str:
    if not isinstance(value, dict):
        return ""
    amount = value.get("value")
    unit = value.get("unit") or ""
    return f"{amount:g} {unit}".strip() if isinstance(amount, int | float) else str(unit)


def _name(concept: object) -> str:
    return concept_label(concept) or "unnamed medicine"


def _fills(detail: JsonObject, only: date | None = None) -> list[Fill]:
    """The planned fills of an activity (`only`: those of that day alone)."""
    fills = []
    for extension in detail.get("extension") or ():
        if extension.get("url") != EXT_PLANNED_FILL:
            continue
        parts = {p.get("url"): p for p in extension.get("extension") or ()}
        day = _date((parts.get("date") or {}).get("valueDate"))
        if day is None or (only is not None and day != only):
            continue
        days = (parts.get("days-supply") or {}).get("valueQuantity", {}).get("value", 0)
        fills.append(
            Fill(
                day=day,
                quantity=_quantity((parts.get("quantity") or {}).get("valueQuantity")),
                days_supply=int(days or 0),
                earliest=_date((parts.get("earliest-fill") or {}).get("valueDate")),
                label=str((parts.get("label") or {}).get("valueString") or "fill"),
            )
        )
    if not fills and detail.get("status") == "scheduled":
        start = _date((detail.get("scheduledPeriod") or {}).get("start"))
        days = ((_ext(detail, EXT_DAYS_SUPPLY) or {}).get("valueQuantity") or {}).get("value")
        short = (_ext(detail, EXT_SHORT_FILL) or {}).get("valueBoolean")
        if start is not None and (only is None or start == only):
            fills.append(
                Fill(
                    start,
                    _quantity(detail.get("quantity")),
                    int(days or 0),
                    _date((_ext(detail, EXT_EARLIEST_FILL) or {}).get("valueDate")),
                    "short fill" if short else "fill",
                )
            )
    return sorted(fills, key=lambda f: f.day)


def _medicine(detail: JsonObject) -> tuple[str | None, bool, JsonObject] | None:
    """(the order, synced, the status reason) of a medicine activity; None: not a medicine
    (a note or another kind of activity)."""
    order_ext = _ext(detail, EXT_MEDICATION_REQUEST) or {}
    order = (order_ext.get("valueReference") or {}).get("reference")
    if order is None and "productCodeableConcept" not in detail:
        return None
    reason = detail.get("statusReason") or {}
    return order, detail.get("status") != "not-started" or not reason, reason


def bag(careplan_body: bytes, day: date) -> list[tuple[str, str, int]]:
    """(medicine, quantity, days supply) of the synced fills of `day` in a stored CarePlan:
    what goes in the pickup bag. `read_plan` without the rest of the plan, for the pickup
    sheet, which reads a CarePlan per bag."""
    careplan = orjson.loads(careplan_body)
    found: list[tuple[str, str, int]] = []
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        medicine = _medicine(detail)
        if medicine is None or not medicine[1]:
            continue
        name = _name(detail.get("productCodeableConcept"))
        found.extend((name, fill.quantity, fill.days_supply) for fill in _fills(detail, day))
    return found


def read_plan(bodies: list[tuple[str, bytes]], status: str | None) -> PlanView | None:
    """The view of the stored plan resources, or None when the patient has no CarePlan."""
    resources = [(kind, orjson.loads(body)) for kind, body in bodies]
    careplans = [r for kind, r in resources if kind == "CarePlan"]
    if not careplans:
        return None
    careplan = careplans[0]
    cycle = ((_ext(careplan, EXT_SYNC_CYCLE) or {}).get("valueDuration") or {}).get("value")
    medicines: list[Medicine] = []
    by_order: dict[str, Medicine] = {}
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        medicine_of = _medicine(detail)
        if medicine_of is None:
            continue
        order, synced, reason = medicine_of
        why = str(detail.get("description") or reason.get("text") or "")
        if not synced and not why:
            why = _name(reason)
        medicine = Medicine(
            name=_name(detail.get("productCodeableConcept")),
            order=order,
            synced=synced,
            why=why,
            fills=_fills(detail) if synced else [],
        )
        medicines.append(medicine)
        if order:
            by_order[order] = medicine
    for kind, resource in resources:
        if kind != "Task" or resource.get("status") in ("cancelled", "completed"):
            continue
        focus = (resource.get("focus") or {}).get("reference")
        target = by_order.get(focus or "")
        if target is None:
            continue
        period = (resource.get("restriction") or {}).get("period") or {}
        target.renew_by = _date(period.get("end")) or _date(period.get("start"))
        target.renewal_note = str((resource.get("reasonCode") or {}).get("text") or "")
    pickups = sorted(
        (
            Pickup(day, str(r.get("status") or ""), str(r.get("description") or ""))
            for kind, r in resources
            if kind == "Appointment" and (day := _date(r.get("start"))) is not None
        ),
        key=lambda p: p.day,
    )
    return PlanView(
        status=status or careplan.get("status"),
        cycle_days=int(cycle) if isinstance(cycle, int | float) else None,
        anchor=_date((_ext(careplan, EXT_ANCHOR_DATE) or {}).get("valueDate")),
        transition=_date((_ext(careplan, EXT_TRANSITION_VISIT) or {}).get("valueDate")),
        medicines=sorted(medicines, key=lambda m: (not m.synced, m.name)),
        pickups=pickups,
    )


# -- the picture ------------------------------------------------------------------------

LABEL_WIDTH = 250
CHART_WIDTH = 640
ROW_HEIGHT = 34
TOP = 40


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    kind: str  # on-hand, short, cycle
    title: str


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    y: float
    kind: str  # renewal, pickup, anchor, today, hold
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    rows: list[tuple[float, str]]  # y of the text, medicine name
    bars: list[Bar]
    marks: list[Mark]
    ticks: list[Tick]
    anchor_x: float | None
    today_x: float
    hold: tuple[float, float] | None
    chart_left: int
    chart_right: int


def timeline(plan: PlanView, today: date, hold_until: date | None) -> Timeline:
    """Geometry of the SVG: days map linearly onto the chart from the earliest of today and
    the first fill to one cycle after the anchor (or the last fill's end)."""
    synced = plan.synced
    ends = [f.day + timedelta(days=max(f.days_supply, 1)) for m in synced for f in m.fills]
    starts = [today, *(f.day for m in synced for f in m.fills), *(p.day for p in plan.pickups)]
    start = min(starts)
    end = max([*ends, today + timedelta(days=30), *(p.day for p in plan.pickups)])
    if plan.anchor is not None and plan.cycle_days:
        end = max(end, plan.anchor + timedelta(days=plan.cycle_days))
    span = max((end - start).days, 1)

    def x(day: date) -> float:
        return round(LABEL_WIDTH + CHART_WIDTH * (day - start).days / span, 1)

    bars: list[Bar] = []
    marks: list[Mark] = []
    rows: list[tuple[float, str]] = []
    for index, medicine in enumerate(synced):
        y = TOP + index * ROW_HEIGHT
        rows.append((y + 19, medicine.name))
        first = medicine.fills[0].day if medicine.fills else None
        if first is not None and first > today:
            bars.append(
                Bar(
                    x(today),
                    y + 8,
                    x(first) - x(today),
                    "on-hand",
                    f"{medicine.name}: supply on hand until {first.isoformat()}",
                )
            )
        for fill in medicine.fills:
            until = fill.day + timedelta(days=max(fill.days_supply, 1))
            kind = "short" if fill.short else "cycle"
            bars.append(
                Bar(
                    x(fill.day),
                    y + 8,
                    max(x(until) - x(fill.day) - 1, 2),
                    kind,
                    f"{medicine.name}: {fill.label} {fill.day.isoformat()}, {fill.quantity}, "
                    f"{fill.days_supply} days",
                )
            )
        if medicine.renew_by is not None and start <= medicine.renew_by <= end:
            marks.append(
                Mark(
                    x(medicine.renew_by),
                    y + 17,
                    "renewal",
                    f"{medicine.name}: renewal needed by {medicine.renew_by.isoformat()}",
                )
            )
    height = TOP + max(len(synced), 1) * ROW_HEIGHT + 30
    for pickup in plan.pickups:
        marks.append(
            Mark(
                x(pickup.day),
                TOP - 12,
                "pickup",
                f"pickup {pickup.day.isoformat()} ({pickup.status})",
            )
        )
    ticks = []
    step = 7 if span <= 70 else 14 if span <= 140 else 30
    day = start
    while day <= end:
        ticks.append(Tick(x(day), day.strftime("%b %d")))
        day += timedelta(days=step)
    hold = None
    if hold_until is not None and hold_until >= today:
        hold = (x(today), x(min(hold_until, end)))
    return Timeline(
        width=LABEL_WIDTH + CHART_WIDTH + 20,
        height=height,
        rows=rows,
        bars=bars,
        marks=marks,
        ticks=ticks,
        anchor_x=x(plan.anchor) if plan.anchor is not None and plan.anchor <= end else None,
        today_x=x(today),
        hold=hold,
        chart_left=LABEL_WIDTH,
        chart_right=LABEL_WIDTH + CHART_WIDTH,
    )
