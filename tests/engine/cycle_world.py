"""A deterministic simulated pharmacy for the cycle engine: patients who answer or not, come
or not, prescribers who answer renewals late, never or refuse, medicines stopped mid-cycle.

Every reaction is decided by a generator seeded from the item's identifier and dated from the
item's day, never from when it is processed, so a worker that falls behind and catches up
must end in exactly the state of one that ran every day.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from fhir_sync.engine.checkin import CheckInAnswers, PickupChoice, interpret_check_in
from fhir_sync.engine.cycle import derive_days
from fhir_sync.engine.cycle_types import (
    ChangeSet,
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleItem,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
    RenewalAnswer,
    RenewalTrack,
    Stop,
)

YEAR_START = date(2026, 1, 1)
YEAR_END = date(2026, 12, 31)
DRUGS = (
    ("atorvastatin 20 MG Oral Tablet", "tablets", 1),
    ("metformin 500 MG Oral Tablet", "tablets", 2),
    ("lisinopril 10 MG Oral Tablet", "tablets", 1),
    ("amlodipine 5 MG Oral Tablet", "tablets", 1),
    ("insulin glargine 100 UNT/ML Pen Injector", "pens", 0),
    ("albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "inhalers", 0),
)


def rng_for(*parts: str) -> random.Random:
    return random.Random(zlib.crc32(":".join(parts).encode()))


@dataclass
class Patient:
    enrollment: Enrollment
    orders: dict[str, tuple[str, str, int]]


@dataclass
class World:
    settings: CycleSettings
    patients: dict[str, Patient] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    log: list[CycleItem] = field(default_factory=list)

    def fills(self, patient: Patient, cycle_days: int, as_of: date) -> tuple[CycleFill, ...]:
        stopped = {s.order_id for s in patient.enrollment.stops if s.known_on <= as_of}
        out = []
        for oid, (name, unit, per_day) in sorted(patient.orders.items()):
            if oid in stopped:
                continue
            qty = per_day * cycle_days if per_day else 1
            out.append(CycleFill(oid, name, qty, unit, cycle_days))
        return tuple(out)

    def run(self, first: date, last: date) -> list[CycleItem]:
        """Derive and act on every item due from `first` to `last`, until nothing new comes."""
        new_items: list[CycleItem] = []
        due = list(self.patients.values())
        while due:
            fresh = [
                item
                for patient in due
                for item in derive_days(patient.enrollment, first, last, self.settings)
                if item.id not in self.seen
            ]
            # Only a patient whose facts changed can have new items in the same days.
            touched: dict[str, Patient] = {}
            for item in sorted(fresh, key=lambda i: (i.day, i.id)):
                self.seen.add(item.id)
                self.log.append(item)
                new_items.append(item)
                patient = self.patients[item.patient_id]
                before = patient.enrollment
                self.act(patient, item)
                if patient.enrollment != before:
                    touched[item.patient_id] = patient
            due = list(touched.values())
        return new_items

    def update(self, patient: Patient, **changes: object) -> None:
        patient.enrollment = replace(patient.enrollment, **changes)  # type: ignore[arg-type]

    def cycle(self, patient: Patient, anchor: date) -> Cycle:
        return next(c for c in patient.enrollment.cycles if c.anchor == anchor)

    def put_cycle(self, patient: Patient, cycle: Cycle) -> None:
        others = tuple(c for c in patient.enrollment.cycles if c.anchor != cycle.anchor)
        self.update(patient, cycles=(*others, cycle))

    def act(self, patient: Patient, item: CycleItem) -> None:
        rng = rng_for(item.id)
        e = patient.enrollment
        if item.kind in (ItemKind.OUTREACH, ItemKind.CALL_RETRY):
            roll = rng.random()
            outcome = (
                ContactOutcome.REACHED
                if roll < 0.7
                else ContactOutcome.NO_ANSWER
                if roll < 0.95
                else ContactOutcome.WRONG_NUMBER
            )
            self.update(patient, contacts=(*e.contacts, Contact(item.anchor, item.day, outcome)))
            if outcome is ContactOutcome.REACHED:
                self.check_in(patient, item, rng)
        elif item.kind is ItemKind.PICKUP:
            cycle = self.cycle(patient, item.anchor)
            if rng.random() < 0.85:
                late = 0
            else:
                cycle = replace(cycle, outcomes=((item.day, PickupStatus.NO_SHOW),))
                late = rng.choice([2, 4, 7, None, None])
            if late is not None:
                came = item.day + timedelta(days=late)
                recorded = (
                    None if rng.random() < 0.03 else came + timedelta(days=rng.choice([0, 0, 1, 3]))
                )
                cycle = replace(
                    cycle,
                    outcomes=(*cycle.outcomes, (came, PickupStatus.FULFILLED)),
                    dispensed_on=recorded,
                )
            self.put_cycle(patient, cycle)
        elif item.kind is ItemKind.ROLL_FORWARD:
            assert item.next_anchor is not None
            if any(c.anchor == item.next_anchor for c in e.cycles):
                return
            fills = self.fills(patient, e.cycle_days, item.day)
            self.put_cycle(patient, Cycle(item.next_anchor, fills, planned_on=item.day))
            self.maybe_renewal(patient, item, rng)
        elif item.kind is ItemKind.PREPARE and item.fills and rng.random() < 0.02:
            # The EHR stops a drug the day after it was bagged.
            order = rng.choice([f.order_id for f in item.fills])
            self.update(patient, stops=(*e.stops, Stop(order, item.day + timedelta(days=1))))
        elif item.kind is ItemKind.UNCONFIRMED_PICKUP:
            cycle = self.cycle(patient, item.anchor)
            self.put_cycle(patient, replace(cycle, dispensed_on=item.day))

    def check_in(self, patient: Patient, item: CycleItem, rng: random.Random) -> None:
        roll = rng.random()
        cycle = self.cycle(patient, item.anchor)
        answers = CheckInAnswers(item.day, taking_as_directed=True)
        if roll < 0.04 and patient.orders:
            answers = replace(answers, stopped_or_changed=True)
        elif roll < 0.06:
            answers = replace(answers, hospital_visit=True)
        elif roll < 0.09:
            answers = replace(
                answers,
                pickup=PickupChoice.AWAY,
                away_from=cycle.pickup_day - timedelta(days=1),
                away_until=cycle.pickup_day + timedelta(days=10),
            )
        elif roll < 0.092:
            answers = replace(answers, stop_program=True)
        result = interpret_check_in(answers, cycle.pickup_day, self.settings)
        e = patient.enrollment
        if answers.stopped_or_changed:
            order = rng.choice(sorted(patient.orders))
            self.update(patient, stops=(*e.stops, Stop(order, item.day)))
        if result.reviews:
            self.update(
                patient,
                change_sets=(*e.change_sets, ChangeSet(item.anchor, item.day, result.reviews)),
            )
        if (
            result.early_pickup is not None
            and result.early_pickup > item.day
            and not cycle.vacation
        ):
            self.put_cycle(
                patient,
                replace(cycle, pickup=result.early_pickup, vacation=True, moved_on=item.day),
            )
        if result.unenroll:
            self.update(patient, ended_on=item.day + timedelta(days=1))

    def maybe_renewal(self, patient: Patient, item: CycleItem, rng: random.Random) -> None:
        if rng.random() >= 0.15 or not patient.orders:
            return
        assert item.next_anchor is not None
        order = rng.choice(sorted(patient.orders))
        roll = rng.random()
        answers: tuple[tuple[date, RenewalAnswer], ...]
        if roll < 0.6:
            answers = ((item.day + timedelta(days=rng.randint(1, 3)), RenewalAnswer.COMPLETED),)
        elif roll < 0.75:
            answers = ((item.day + timedelta(days=rng.randint(6, 12)), RenewalAnswer.COMPLETED),)
        elif roll < 0.85:
            answers = ((item.day + timedelta(days=rng.randint(1, 5)), RenewalAnswer.REJECTED),)
        else:
            answers = ()
        track = RenewalTrack(order, item.next_anchor, item.day, answers)
        self.update(patient, renewals=(*patient.enrollment.renewals, track))


def new_world(count: int, settings: CycleSettings, seed: int = 12) -> World:
    rng = random.Random(seed)
    world = World(settings)
    for n in range(count):
        pid = f"pt{n:04d}"
        cycle_days = rng.choice([30, 30, 30, 28, 90])
        anchor = YEAR_START + timedelta(days=rng.randint(3, 40))
        drugs = rng.sample(DRUGS, rng.randint(1, 5))
        orders = {f"mr-{n}-{k}": drug for k, drug in enumerate(drugs)}
        patient = Patient(Enrollment(pid, cycle_days, ()), orders)
        planned = max(YEAR_START, anchor - timedelta(days=rng.randint(0, 30)))
        fills = world.fills(patient, cycle_days, planned)
        patient.enrollment = replace(
            patient.enrollment, cycles=(Cycle(anchor, fills, planned_on=planned),)
        )
        world.patients[pid] = patient
    return world
