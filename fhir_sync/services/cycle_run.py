"""The daily run of the monthly cycle: every active enrollment's items derived and stored.

For each active enrollment the run derives the items of every day from the one after the last
derived up to the run's day (a missed day is caught up), and inserts those not stored yet
(identifiers are the cycle item identifiers, so running a day twice, or a worker killed
mid-day and restarted, creates nothing twice). A roll-forward item plans the next cycle with
the same anchor, and the same pass derives that cycle's items too. Each batch of enrollments
is one transaction: a batch is either all stored or not at all, and re-running redoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, Engine

from fhir_sync.engine.cycle import derive_days
from fhir_sync.engine.cycle_types import (
    Cycle,
    CycleItem,
    CycleSettings,
    Enrollment,
    ItemKind,
)
from fhir_sync.fill_settings import cycle_values, parse_fill_settings
from fhir_sync.services.cycle_facts import dump_facts, dump_item, load_facts
from fhir_sync.services.plan_resources import current_plan
from fhir_sync.services.renewal_tracks import track_plan
from fhir_sync.store import cycle as store
from fhir_sync.store.database import write_transaction
from fhir_sync.store.resources import ids_for_patient, read_resource
from fhir_sync.store.tables import Enrollment as EnrollmentRow
from mappings.fhir_literals import urn_for
from mappings.inbound.careplan_fills import careplan_fills
from mappings.outbound.outreach import CALL_KINDS
from mappings.profile import SID_CYCLE_ITEM

BATCH: Final = 500
#: What to do, in the same transaction, with the items just stored (the API layer registers
#: the writer of their FHIR resources, which knows how the server indexes a resource).
Publisher = Callable[[Connection, Sequence[CycleItem], datetime], None]
PUBLISHERS: list[Publisher] = []


def register_publisher(publisher: Publisher) -> None:
    if publisher not in PUBLISHERS:
        PUBLISHERS.append(publisher)


def store_items(connection: Connection, items: Sequence[CycleItem], now: datetime) -> int:
    """Insert the items not stored yet and publish those; the number inserted."""
    fresh = {row.id for row in store.insert_new_items(connection, new_rows(items), now)}
    if fresh:
        chosen = [i for i in items if i.id in fresh]
        for publish in PUBLISHERS:
            publish(connection, chosen, now)
    return len(fresh)


#: How far back a first run looks: an enrollment seen for the first time starts today.
_ROLL_PASSES: Final = 4


@dataclass(frozen=True, slots=True)
class RunSummary:
    day: date
    enrollments: int
    items_created: int
    days_caught_up: int  # the most days one enrollment was behind, less today


def pharmacy_today(time_zone: str, now: datetime | None = None) -> date:
    """The pharmacy's calendar day now (its items are due by its own calendar)."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.astimezone(ZoneInfo(time_zone)).date()


def item_resource_id(item_id: str) -> str:
    """The FHIR id of an item's resource: a uuid of its identifier (ids cannot hold ':')."""
    return urn_for(SID_CYCLE_ITEM, item_id).removeprefix("urn:uuid:")


def resource_type_of(kind: ItemKind) -> str | None:
    if kind in CALL_KINDS:
        return "CommunicationRequest"
    if kind is ItemKind.PREPARE:
        return "Task"
    return None


def cycle_settings_of(row: EnrollmentRow, defaults: CycleSettings | None = None) -> CycleSettings:
    """The enrollment's cycle rules: its lead days and closed weekdays, the cycle settings
    given at $enroll, the server's defaults for the rest."""
    base = defaults or CycleSettings()
    closed = frozenset(int(d) for d in row.closed_weekdays.split(",") if d)
    given: dict[str, Any] = {}
    if row.fill_settings:
        given = cycle_values(parse_fill_settings(orjson.loads(row.fill_settings)))
    lead = row.lead_days
    prep = given.get("prep_days", base.prep_days)
    if prep >= lead:
        prep = max(0, lead - 1)
    given["prep_days"] = prep
    return replace(base, lead_days=lead, closed_weekdays=closed | base.closed_weekdays, **given)


def careplan_of(connection: Connection, patient_id: str) -> dict[str, Any] | None:
    for rid in ids_for_patient(connection, "CarePlan", patient_id):
        served = read_resource(connection, "CarePlan", rid)
        if served is not None:
            body: dict[str, Any] = orjson.loads(served.body)
            return body
    return None


def first_facts(connection: Connection, row: EnrollmentRow, day: date) -> Enrollment:
    """A newly seen enrollment: one cycle on its anchor, planned today, with the CarePlan's
    fills (the first anchor that is not before today), and a renewal track for each waiting
    renewal Task of the stored plan (none is sent before today)."""
    assert row.anchor_date is not None
    anchor = row.anchor_date
    while anchor < day:
        anchor += timedelta(days=row.cycle_days)
    careplan = careplan_of(connection, row.patient_id) or {}
    fills = careplan_fills(careplan, anchor, first=anchor == row.anchor_date)
    return Enrollment(
        patient_id=row.patient_id,
        cycle_days=row.cycle_days,
        cycles=(Cycle(anchor, fills, planned_on=day),),
        renewals=track_plan((), current_plan(connection, row.patient_id), day),
    )


def roll_forward(facts: Enrollment, items: tuple[CycleItem, ...]) -> Enrollment:
    """Facts with the next cycle of every roll-forward item that has none yet (same fills at
    the cycle quantity, the same anchor rhythm)."""
    cycles = list(facts.cycles)
    anchors = {c.anchor for c in cycles}
    for item in items:
        if item.kind is not ItemKind.ROLL_FORWARD or item.next_anchor is None:
            continue
        if item.next_anchor in anchors:
            continue
        previous = next(c for c in cycles if c.anchor == item.anchor)
        fills = tuple(replace(f, scc=None) for f in previous.fills)
        cycles.append(Cycle(item.next_anchor, fills, planned_on=item.day))
        anchors.add(item.next_anchor)
    return replace(facts, cycles=tuple(sorted(cycles, key=lambda c: c.anchor)))


def derive_and_roll(
    facts: Enrollment, first: date, last: date, settings: CycleSettings
) -> tuple[Enrollment, tuple[CycleItem, ...]]:
    items = derive_days(facts, first, last, settings)
    for _ in range(_ROLL_PASSES):
        rolled = roll_forward(facts, items)
        if rolled.cycles == facts.cycles:
            break
        facts = rolled
        items = derive_days(facts, first, last, settings)
    return facts, items


def new_rows(items: Sequence[CycleItem]) -> list[store.NewItem]:
    rows = []
    for item in items:
        kind = resource_type_of(item.kind)
        rows.append(
            store.NewItem(
                id=item.id,
                patient_id=item.patient_id,
                kind=item.kind.value,
                day=item.day,
                anchor=item.anchor,
                action=item.action,
                order_id=item.order_id,
                resource_type=kind,
                resource_id=None if kind is None else item_resource_id(item.id),
                item=dump_item(item),
            )
        )
    return rows


def save_facts(
    connection: Connection,
    row: EnrollmentRow,
    state: store.StoredState,
    facts: Enrollment,
    since: date,
    now: datetime,
    defaults: CycleSettings | None = None,
) -> int:
    """Store an enrollment's new facts (an action, a re-plan) and derive again the days from
    `since` already derived, so an item they make due today appears at once; items created."""
    through = state.derived_through
    created = 0
    if through is not None and since <= through:
        facts, items = derive_and_roll(facts, since, through, cycle_settings_of(row, defaults))
        created = store_items(connection, items, now)
    store.save_state(connection, row.patient_id, dump_facts(facts), through, now, previous=state)
    return created


def run_patient(
    connection: Connection,
    row: EnrollmentRow,
    day: date,
    now: datetime,
    defaults: CycleSettings | None = None,
    state: store.StoredState | None = None,
    *,
    read_state: bool = True,
    unchanged: list[str] | None = None,
) -> tuple[int, int]:
    """Derive and store one enrollment's items up to `day`: (items created, days derived).
    `unchanged`: where to put the enrollment when the day left its facts as they were (the
    caller marks those derived in one statement) instead of writing its facts row again."""
    if read_state:
        state = store.get_state(connection, row.patient_id)
    settings = cycle_settings_of(row, defaults)
    if state is None:
        facts = first_facts(connection, row, day)
        first = day
    else:
        facts = load_facts(state.facts)
        if state.derived_through is not None and state.derived_through >= day:
            return 0, 0
        first = day if state.derived_through is None else state.derived_through + timedelta(1)
    facts, items = derive_and_roll(facts, first, day, settings)
    created = store_items(connection, items, now)
    text = dump_facts(facts)
    if unchanged is not None and state is not None and text == state.facts:
        unchanged.append(row.patient_id)  # a steady day: nothing new to keep
    else:
        store.save_state(connection, row.patient_id, text, day, now, previous=state)
    return created, (day - first).days + 1


def run_cycle_day(
    engine: Engine,
    day: date,
    *,
    defaults: CycleSettings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[int], None] | None = None,
) -> RunSummary:
    """The day's derivation for every active enrollment, in batches of `BATCH` patients."""
    after: str | None = None
    total = created = caught = 0
    while True:
        with write_transaction(engine) as connection:
            rows = store.active_enrollments(connection, after, BATCH)
            if not rows:
                break
            states = store.get_states(connection, [r.patient_id for r in rows])
            stamp = now()
            unchanged: list[str] = []
            for row in rows:
                made, days = run_patient(
                    connection,
                    row,
                    day,
                    stamp,
                    defaults,
                    states.get(row.patient_id),
                    read_state=False,
                    unchanged=unchanged,
                )
                created += made
                caught = max(caught, days - 1)
            store.advance_states(connection, unchanged, day)
            total += len(rows)
            after = rows[-1].patient_id
        if progress is not None:
            progress(total)
    return RunSummary(day, total, created, caught)


def facts_by_patient(connection: Connection, patient_ids: list[str]) -> Mapping[str, Enrollment]:
    return {p: load_facts(s.facts) for p, s in store.get_states(connection, patient_ids).items()}
