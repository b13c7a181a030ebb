"""The monthly cycle's rows: each enrollment's facts and the items derived from them.

Items are keyed by their cycle item identifier and inserted only when absent, so a day derived
twice (a re-run, a worker killed mid-day and restarted, a caught-up day) inserts nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime

from sqlalchemy import Connection, Table, case, func, insert, select, update

from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.tables import CycleItemRow, CycleState, Enrollment

STATE: Table = CycleState.__table__  # type: ignore[attr-defined]
ITEM: Table = CycleItemRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredState:
    patient_id: str
    facts: str
    derived_through: date | None
    version: int


@dataclass(frozen=True, slots=True)
class NewItem:
    id: str
    patient_id: str
    kind: str
    day: date
    anchor: date
    action: str
    order_id: str | None
    resource_type: str | None
    resource_id: str | None
    item: str


@dataclass(frozen=True, slots=True)
class StoredItem(NewItem):
    """A stored item: the columns it was inserted with, and what staff did with it since."""

    state: str
    done_at: datetime | None
    note: str | None


def active_enrollments(connection: Connection, after: str | None, limit: int) -> list[Enrollment]:
    """Active enrollments with an anchor, in patient id order (a batch of the daily run)."""
    statement = select(ENROLLMENT).where(
        ENROLLMENT.c.status == "active", ENROLLMENT.c.anchor_date.is_not(None)
    )
    if after is not None:
        statement = statement.where(ENROLLMENT.c.patient_id > after)
    rows = connection.execute(statement.order_by(ENROLLMENT.c.patient_id).limit(limit))
    return [Enrollment(**row) for row in rows.mappings()]


def get_states(connection: Connection, patient_ids: Collection[str]) -> dict[str, StoredState]:
    if not patient_ids:
        return {}
    rows = connection.execute(
        select(STATE.c.patient_id, STATE.c.facts, STATE.c.derived_through, STATE.c.version).where(
            STATE.c.patient_id.in_(list(patient_ids))
        )
    )
    return {r[0]: StoredState(r[0], r[1], r[2], r[3]) for r in rows}


def get_state(connection: Connection, patient_id: str) -> StoredState | None:
    return get_states(connection, [patient_id]).get(patient_id)


def save_state(
    connection: Connection,
    patient_id: str,
    facts: str,
    derived_through: date | None,
    now: datetime,
    *,
    previous: StoredState | None,
) -> None:
    """Insert the first state or replace the one read (`previous`)."""
    values = {"facts": facts, "derived_through": derived_through, "updated_at": now}
    if previous is None:
        connection.execute(insert(STATE).values(patient_id=patient_id, version=1, **values))
        return
    connection.execute(
        update(STATE)
        .where(STATE.c.patient_id == patient_id)
        .values(version=previous.version + 1, **values)
    )


def advance_states(
    connection: Connection, patient_ids: Collection[str], derived_through: date
) -> None:
    """Mark enrollments derived through a day when the day changed none of their facts: one
    statement for the batch, the facts (and their version) left as they were."""
    if patient_ids:
        connection.execute(
            update(STATE)
            .where(STATE.c.patient_id.in_(list(patient_ids)))
            .values(derived_through=derived_through)
        )


def insert_new_items(
    connection: Connection, items: Sequence[NewItem], now: datetime
) -> list[NewItem]:
    """Insert the items not stored yet; those inserted."""
    if not items:
        return []
    have = set(
        connection.execute(select(ITEM.c.id).where(ITEM.c.id.in_([i.id for i in items]))).scalars()
    )
    fresh = [i for i in items if i.id not in have]
    if fresh:
        connection.execute(
            insert(ITEM),
            [{**asdict(i), "state": "open", "created_at": now} for i in fresh],
        )
    return fresh


def _stored(row: object) -> StoredItem:
    m = row._mapping  # type: ignore[attr-defined]
    return StoredItem(**{f.name: m[f.name] for f in fields(StoredItem)})


def items_on(
    connection: Connection,
    day: date,
    *,
    kinds: Collection[str] | None = None,
    patient_id: str | None = None,
    open_only: bool = False,
) -> list[StoredItem]:
    """A day's items (all kinds or `kinds`), in identifier order."""
    statement = select(ITEM).where(ITEM.c.day == day)
    if kinds:
        statement = statement.where(ITEM.c.kind.in_(list(kinds)))
    if patient_id is not None:
        statement = statement.where(ITEM.c.patient_id == patient_id)
    if open_only:
        statement = statement.where(ITEM.c.state == "open")
    return [_stored(r) for r in connection.execute(statement.order_by(ITEM.c.id))]


def item_counts(connection: Connection, day: date) -> dict[tuple[str, str], int]:
    """How many items the day has of each (kind, state), from the index alone."""
    rows = connection.execute(
        select(ITEM.c.kind, ITEM.c.state, func.count())
        .where(ITEM.c.day == day)
        .group_by(ITEM.c.kind, ITEM.c.state)
    )
    return {(str(kind), str(state)): int(count) for kind, state, count in rows}


def items_page(
    connection: Connection, day: date, rank: Mapping[str, int], *, limit: int, offset: int
) -> list[StoredItem]:
    """One page of the day's items of the kinds in `rank`, ordered by their kind's rank (the
    worklist's group order), then identifier."""
    order = case(dict(rank), value=ITEM.c.kind, else_=len(rank))
    statement = (
        select(ITEM)
        .where(ITEM.c.day == day, ITEM.c.kind.in_(list(rank)))
        .order_by(order, ITEM.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_stored(r) for r in connection.execute(statement)]


def get_item(connection: Connection, item_id: str) -> StoredItem | None:
    row = connection.execute(select(ITEM).where(ITEM.c.id == item_id)).first()
    return None if row is None else _stored(row)


def patient_items(connection: Connection, patient_id: str) -> list[StoredItem]:
    statement = select(ITEM).where(ITEM.c.patient_id == patient_id).order_by(ITEM.c.day, ITEM.c.id)
    return [_stored(r) for r in connection.execute(statement)]


def close_item(connection: Connection, item_id: str, now: datetime) -> bool:
    """Mark an open item done; False when it was not open."""
    result = connection.execute(
        update(ITEM)
        .where(ITEM.c.id == item_id, ITEM.c.state == "open")
        .values(state="done", done_at=now)
    )
    return bool(result.rowcount)


def set_item_state(
    connection: Connection, item_id: str, state: str, note: str | None, now: datetime
) -> None:
    """A preparation Task's state (and its hold reason); completed and cancelled close it."""
    done = now if state in ("completed", "cancelled") else None
    connection.execute(
        update(ITEM).where(ITEM.c.id == item_id).values(state=state, note=note, done_at=done)
    )


def count_items(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(ITEM)).scalar_one())
