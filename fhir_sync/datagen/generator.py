"""The dataset as a stream of NDJSON lines, one patient at a time.

Each patient is generated from an RNG seeded by (seed, patient number) alone, so memory stays
flat however many patients are asked for, and patient 7 is the same in a 20-patient and a
20,000-patient dataset.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import NamedTuple

import orjson

from fhir_sync.datagen import faults, history, people, resources, therapies
from fhir_sync.datagen.model import Adherence, Chart, Fill, Practitioner, Rx

ADHERENCE: tuple[tuple[Adherence, int], ...] = (
    (Adherence.ON_TIME, 50),
    (Adherence.EARLY, 15),
    (Adherence.LATE, 27),
    (Adherence.STOPPED, 8),
)
SPECIALISTS = 3


class Line(NamedTuple):
    """One NDJSON line (without its newline), the file it belongs to, and whether it is bad."""

    resource_type: str
    data: bytes
    bad: bool = False


def chart(seed: int, number: int, today: date, pool: tuple[Practitioner, ...]) -> Chart:
    """The patient, their prescribers and refill habit."""
    rng = random.Random(f"fhir-sync-datagen/{seed}/patient/{number}")
    person = people.person(rng, number, today)
    primary, *specialists = rng.sample(pool, 1 + SPECIALISTS)
    adherence = rng.choices([habit for habit, _ in ADHERENCE], [weight for _, weight in ADHERENCE])[
        0
    ]
    stop = None
    if adherence is Adherence.STOPPED:
        stop = today - timedelta(days=rng.randint(60, 200))
    return Chart(number, rng, today, person, primary, tuple(specialists), adherence, stop)


def patient_lines(
    seed: int,
    number: int,
    today: date,
    pool: tuple[Practitioner, ...],
    *,
    bad_records: bool,
) -> list[Line]:
    """Every line for patient `number` (1-based): Patient, orders, dispenses, maybe one bad."""
    record = chart(seed, number, today, pool)
    person = record.person
    orders: list[Rx] = []
    fills: list[Fill] = []
    for therapy in therapies.therapies(record):
        therapy_orders, therapy_fills = history.orders_and_fills(record, therapy)
        orders.extend(therapy_orders)
        fills.extend(therapy_fills)
    requests = resources.medication_requests(orders, person)
    dispenses = resources.medication_dispenses(fills, person)
    dumps = orjson.dumps
    lines = [Line("Patient", dumps(resources.patient(person)))]
    lines.extend(Line("MedicationRequest", dumps(request)) for request in requests)
    lines.extend(Line("MedicationDispense", dumps(dispense)) for dispense in dispenses)
    kind = faults.kind_after(number) if bad_records else None
    if kind is not None:
        resource_type, body = faults.bad_resource(kind, number, requests, dispenses)
        if body is None:
            whole = lines[1].data
            lines.append(Line(resource_type, whole[: len(whole) // 2], bad=True))
        else:
            lines.append(Line(resource_type, dumps(body), bad=True))
    return lines


def patient_batches(
    patients: int, seed: int, today: date, *, bad_records: bool = True
) -> Iterator[list[Line]]:
    """The dataset, one list of lines per patient, in patient order."""
    pool = people.practitioners(seed)
    for number in range(1, patients + 1):
        yield patient_lines(seed, number, today, pool, bad_records=bad_records)


def generate(
    patients: int, seed: int, today: date, *, bad_records: bool = True
) -> Iterator[tuple[str, bytes]]:
    """Yield (resourceType, NDJSON line without newline); the type names the target file.

    Same arguments, same lines, byte for byte. Bad lines (when `bad_records`) are typed by the
    file they belong in, even the one that is not valid JSON.
    """
    for batch in patient_batches(patients, seed, today, bad_records=bad_records):
        for line in batch:
            yield line.resource_type, line.data
