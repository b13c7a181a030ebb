"""Hypothesis strategies for engine inputs: realistic ranges, every rule reachable."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from hypothesis import strategies as st

from fhir_sync.engine import Dosage, Fill, Order, PatientPlan, Preferences, Schedule, plan_patient

TODAY = date(2026, 11, 22)
DRUGS = ("314076", "617312", "861007", "197361", "966222", "745752")
# RxNorm-style names: two strengths of atorvastatin and of levothyroxine, so that orders of
# one therapy with other codes meet (a dose change, or two strengths taken together).
NAMES = {
    "314076": "lisinopril 10 MG Oral Tablet",
    "617312": "atorvastatin 20 MG Oral Tablet",
    "861007": "atorvastatin 40 MG Oral Tablet",
    "197361": "amlodipine 5 MG Oral Tablet",
    "966222": "levothyroxine sodium 0.025 MG Oral Tablet",
    "745752": "levothyroxine sodium 0.1 MG Oral Tablet",
}


@st.composite
def orders(draw: st.DrawFn, order_id: str) -> Order:
    maintenance = draw(st.booleans()) or draw(st.booleans())
    with_dosage = draw(st.integers(0, 9)) > 1
    dosages: tuple[Dosage, ...] = ()
    if with_dosage:
        dosages = (
            Dosage(
                dose=draw(st.sampled_from([0.5, 1.0, 1.0, 2.0, 2.5, 4.0])),
                frequency=draw(st.sampled_from([1.0, 1.0, 2.0, 3.0])),
                period_days=draw(st.sampled_from([1.0, 1.0, 1.0, 7.0, 0.5])),
                as_needed=not maintenance and draw(st.booleans()),
            ),
        )
    authored = TODAY - timedelta(days=draw(st.integers(0, 420)))
    drug = draw(st.sampled_from(DRUGS))
    return Order(
        id=order_id,
        drug_key=drug,
        name=NAMES[drug],
        author=draw(st.sampled_from([None, "Practitioner/a", "Practitioner/b"])),
        status="active" if maintenance else draw(st.sampled_from(["active", "stopped", "draft"])),
        intent="order" if maintenance else draw(st.sampled_from(["order", "plan", "proposal"])),
        category=("community",) if maintenance else draw(st.sampled_from([(), ("inpatient",)])),
        course=draw(st.sampled_from([None, "continuous"]))
        if maintenance
        else draw(st.sampled_from([None, "acute", "seasonal", "continuous"])),
        dosages=dosages,
        authored_on=authored,
        validity_end=draw(
            st.none() | st.just(authored + timedelta(days=draw(st.integers(0, 500))))
        ),
        repeats_allowed=draw(st.none() | st.integers(0, 11)),
        supply_quantity=draw(st.sampled_from([None, 30.0, 90.0, 60.0])),
        supply_days=draw(st.sampled_from([None, 30.0, 90.0])),
        package_size=draw(st.sampled_from([None, None, None, 1.0, 28.0, 60.0, 200.0])),
        schedule=draw(st.sampled_from([Schedule.NONE] * 6 + list(Schedule))),
    )


@st.composite
def fills_for(draw: st.DrawFn, order: Order, prefix: str) -> list[Fill]:
    count = draw(st.integers(0, 5))
    day = TODAY - timedelta(days=draw(st.integers(0, 200)))
    out = []
    for n in range(count):
        days = draw(st.sampled_from([None, 30.0, 30.0, 90.0, 7.0]))
        # One ActPharmacySupplyType code a dispense: a part fill (FFP/RFP), the completion of
        # one (FFC/RFC), or neither; never both.
        supply_type = draw(st.integers(0, 19))
        out.append(
            Fill(
                id=f"{prefix}{n}",
                handed_over=day,
                order_id=draw(st.sampled_from([order.id, order.id, None])),
                drug_key=order.drug_key,
                days_supply=days,
                quantity=draw(st.sampled_from([None, 30.0, 90.0])),
                completes_partial=supply_type == 0,
                partial=supply_type == 1,
                pending=n == count - 1 and draw(st.integers(0, 9)) == 0,
            )
        )
        day += timedelta(days=draw(st.integers(-5, 45)))
    return out


@st.composite
def patients(draw: st.DrawFn) -> tuple[list[Order], list[Fill]]:
    count = draw(st.integers(1, 7))
    orders_ = [draw(orders(f"mr{n}")) for n in range(count)]
    fills: list[Fill] = []
    for order in orders_:
        fills.extend(draw(fills_for(order, f"md-{order.id}-")))
    return orders_, fills


preferences = st.builds(
    Preferences,
    cycle_days=st.sampled_from([28, 30, 90]),
    anchor_day=st.none() | st.integers(1, 31),
    closed_weekdays=st.sampled_from([frozenset(), frozenset({6}), frozenset({5, 6})]),
    lead_days=st.integers(0, 10),
)


class Planned(NamedTuple):
    """A generated patient, the pharmacy's preferences and the plan made for them today: what
    most properties start from."""

    orders: list[Order]
    fills: list[Fill]
    prefs: Preferences
    plan: PatientPlan

    @property
    def by_id(self) -> dict[str, Order]:
        return {o.id: o for o in self.orders}


def _planned(patient: tuple[list[Order], list[Fill]], prefs: Preferences) -> Planned:
    orders, fills = patient
    return Planned(orders, fills, prefs, plan_patient("p1", orders, fills, TODAY, prefs))


planned_patients = st.builds(_planned, patients(), preferences)
