"""The pharmacy's worklist and the actions that close its items (the services API).

`day_worklist` is what `$worklist`, `fhir-sync worklist` and the staff web app show: the day's
cycle items grouped (calls, preparations, pickups, renewals, reviews), each with what to do and
the resource it stands for. The actions record what staff did (a call's outcome, a check-in, a
pickup, a preparation Task's state) as dated facts of the enrollment, close the item, and
derive again the days already derived, so an item the action makes due today (a review, a
retry tomorrow once tomorrow is run) appears without waiting for the next run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine

from fhir_sync.engine.checkin import CheckInAnswers, CheckInResult, interpret_check_in
from fhir_sync.engine.cycle import item_id as cycle_item_id
from fhir_sync.engine.cycle import parse_item_id
from fhir_sync.engine.cycle_types import (
    Change,
    ChangeSet,
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
)
from fhir_sync.services import cycle_resources
from fhir_sync.services.cycle_facts import load_facts, load_item
from fhir_sync.services.cycle_run import (
    careplan_of,
    cycle_settings_of,
    save_facts,
)
from fhir_sync.services.enrollment import EnrollmentService, endpoints_of
from fhir_sync.services.errors import NotEnrolledError, StateConflictError, VersionMismatchError
from fhir_sync.store import cycle as store
from fhir_sync.store.database import write_transaction
from fhir_sync.store.enrollments import get_enrollment, save_enrollment
from fhir_sync.store.sync_requests import request_sync
from fhir_sync.store.tables import Enrollment as EnrollmentRow
from mappings.inbound.careplan_fills import careplan_fills

#: The worklist's groups, in the order staff work them, and the item kinds in each.
GROUPS: Final = (
    (
        "calls",
        (
            ItemKind.OUTREACH,
            ItemKind.CALL_RETRY,
            ItemKind.NO_SHOW_FOLLOW_UP,
            ItemKind.UNREACHED,
            ItemKind.UPDATE_CONTACT,
        ),
    ),
    ("preparations", (ItemKind.PREPARE, ItemKind.PULL_FILL)),
    (
        "pickups",
        (
            ItemKind.PICKUP,
            ItemKind.RETURN_TO_STOCK,
            ItemKind.UNCONFIRMED_PICKUP,
            ItemKind.ROLL_FORWARD,
        ),
    ),
    (
        "renewals",
        (ItemKind.RENEWAL_RESEND, ItemKind.RENEWAL_ESCALATE, ItemKind.RENEWAL_REJECTED),
    ),
    ("reviews", (ItemKind.REVIEW,)),
)
GROUP_OF: Final = {kind: name for name, kinds in GROUPS for kind in kinds}
#: The stored item states that close an item (a preparation Task ends completed or cancelled).
CLOSED_STATES: Final = frozenset({"done", "completed", "cancelled"})
#: The preparation Task's states and the moves staff may make (R4 Task.status values).
PREP_NEXT: Final = {
    "requested": frozenset({"in-progress", "on-hold", "cancelled"}),
    "on-hold": frozenset({"requested", "in-progress", "cancelled"}),
    "in-progress": frozenset({"completed", "on-hold", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}


class ActionRefusedError(StateConflictError):
    """The action does not apply (a wrong state, an item of another kind, a closed item)."""


class CycleNotFoundError(NotEnrolledError):
    """No such cycle item, cycle or enrolled patient's cycle."""


@dataclass(frozen=True, slots=True)
class FillLine:
    order_id: str
    medication: str
    quantity: float
    unit: str
    days_supply: int
    earliest: date | None
    scc: str | None


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """One item. `resource` is `Type/id` of the resource it stands for (None for items only
    the worklist shows); `state` is open or done; `task_status` a preparation's Task state."""

    item_id: str
    patient_id: str
    kind: str
    group: str
    day: date
    anchor: date
    action: str
    state: str
    urgent: bool
    pickup: date | None
    order_id: str | None
    resource: str | None
    fills: tuple[FillLine, ...]
    hold_reasons: tuple[str, ...]
    task_status: str | None


@dataclass(frozen=True, slots=True)
class WorklistGroup:
    name: str
    entries: tuple[WorklistEntry, ...]


@dataclass(frozen=True, slots=True)
class Worklist:
    day: date
    groups: tuple[WorklistGroup, ...]

    @property
    def entries(self) -> tuple[WorklistEntry, ...]:
        return tuple(e for g in self.groups for e in g.entries)


def _line(f: CycleFill) -> FillLine:
    return FillLine(f.order_id, f.medication, f.quantity, f.unit, f.days_supply, f.earliest, f.scc)


def _entry(row: store.StoredItem, task_status: str | None = None) -> WorklistEntry:
    item = load_item(row.item)
    status = task_status
    holds = item.hold_reasons
    if item.kind is ItemKind.PREPARE and status is None:
        status = row.state if row.state not in ("open", "done") else None
        status = status or (item.status.value if item.status else "requested")
        if row.note and status == "on-hold":
            holds = (row.note,)
    return WorklistEntry(
        item_id=row.id,
        patient_id=row.patient_id,
        kind=row.kind,
        group=GROUP_OF[item.kind],
        day=row.day,
        anchor=row.anchor,
        action=row.action,
        state="open" if row.state not in CLOSED_STATES else "done",
        urgent=item.urgent,
        pickup=item.pickup,
        order_id=row.order_id,
        resource=None if row.resource_type is None else f"{row.resource_type}/{row.resource_id}",
        fills=tuple(_line(f) for f in item.fills),
        hold_reasons=holds,
        task_status=status,
    )


def day_worklist(
    engine: Engine,
    day: date,
    *,
    groups: Collection[str] | None = None,
    open_only: bool = False,
    patient_id: str | None = None,
) -> Worklist:
    """The day's items grouped, every group present (empty ones too), entries by identifier."""
    kinds = None
    if groups is not None:
        unknown = set(groups) - {name for name, _ in GROUPS}
        if unknown:
            raise ActionRefusedError(f"unknown worklist group: {', '.join(sorted(unknown))}")
        kinds = [k.value for name, ks in GROUPS if name in groups for k in ks]
    with engine.connect() as connection:
        rows = store.items_on(connection, day, kinds=kinds, patient_id=patient_id)
    entries = [_entry(r) for r in rows]
    if open_only:
        entries = [e for e in entries if e.state == "open"]
    chosen = [name for name, _ in GROUPS if groups is None or name in groups]
    return Worklist(
        day,
        tuple(WorklistGroup(n, tuple(e for e in entries if e.group == n)) for n in chosen),
    )


@dataclass(frozen=True, slots=True)
class PageGroup:
    """A group on one page of the worklist: the page's entries, and how many items the group
    has on the day in all (`total`) and still open (`open`), on every page."""

    name: str
    entries: tuple[WorklistEntry, ...]
    open: int
    total: int


@dataclass(frozen=True, slots=True)
class WorklistPage:
    """Page `page` (from 1) of the day's worklist, `size` items a page, in group order."""

    day: date
    page: int
    size: int
    groups: tuple[PageGroup, ...]

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def entries(self) -> tuple[WorklistEntry, ...]:
        return tuple(e for g in self.groups for e in g.entries)


#: The group order as a rank per item kind, for ordering a day's items in the database.
_RANK: Final = {k.value: i for i, (_, kinds) in enumerate(GROUPS) for k in kinds}


def day_worklist_page(engine: Engine, day: date, *, page: int = 1, size: int = 50) -> WorklistPage:
    """One page of `day_worklist` (every group, in the same order) and each group's counts:
    a day with thousands of items is read and shown a page at a time."""
    with engine.connect() as connection:
        counts = store.item_counts(connection, day)
        rows = store.items_page(connection, day, _RANK, limit=size, offset=(page - 1) * size)
    entries = [_entry(r) for r in rows]
    groups = []
    for name, kinds in GROUPS:
        mine = {k.value for k in kinds}
        total = sum(n for (kind, _), n in counts.items() if kind in mine)
        closed = sum(
            n for (kind, state), n in counts.items() if kind in mine and state in CLOSED_STATES
        )
        chosen = tuple(e for e in entries if e.group == name)
        groups.append(PageGroup(name, chosen, total - closed, total))
    return WorklistPage(day, page, size, tuple(groups))


# --- actions -------------------------------------------------------------------------------


def _load(
    connection: Connection, patient_id: str
) -> tuple[EnrollmentRow, store.StoredState, Enrollment]:
    row = get_enrollment(connection, patient_id, for_update=True)
    state = store.get_state(connection, patient_id)
    if row is None or state is None:
        raise CycleNotFoundError(f"no cycle for patient {patient_id}")
    return row, state, load_facts(state.facts)


def _cycle(facts: Enrollment, anchor: date) -> Cycle:
    found = next((c for c in facts.cycles if c.anchor == anchor), None)
    if found is None:
        raise CycleNotFoundError(f"no cycle with anchor {anchor.isoformat()}")
    return found


def _replace_cycle(facts: Enrollment, cycle: Cycle) -> Enrollment:
    return replace(
        facts, cycles=tuple(cycle if c.anchor == cycle.anchor else c for c in facts.cycles)
    )


@dataclass(frozen=True, slots=True)
class ContactRecorded:
    item_id: str
    outcome: ContactOutcome
    created: int


def record_contact(
    engine: Engine,
    item_id: str,
    outcome: ContactOutcome,
    day: date,
    *,
    defaults: CycleSettings | None = None,
    now: datetime | None = None,
) -> ContactRecorded:
    """The outcome of a call item (outreach, retry, no-show follow-up) made on `day`. A call
    not answered is tried again the next open day, up to the enrollment's call retries."""
    stamp = now or datetime.now(UTC)
    patient_id, kind, anchor, _ = _parse(item_id)
    if kind not in (ItemKind.OUTREACH, ItemKind.CALL_RETRY, ItemKind.NO_SHOW_FOLLOW_UP):
        raise ActionRefusedError(f"a {kind.value} item is not a call")
    with write_transaction(engine) as connection:
        _open_item(connection, item_id, "the call's outcome is already recorded")
        row, state, facts = _load(connection, patient_id)
        _cycle(facts, anchor)
        contact = Contact(anchor, day, outcome)
        facts = replace(facts, contacts=(*facts.contacts, contact))
        created = save_facts(connection, row, state, facts, day, stamp, defaults)
        store.close_item(connection, item_id, stamp)
        cycle_resources.store_contact(connection, item_id, patient_id, contact, stamp)
    return ContactRecorded(item_id, outcome, created)


@dataclass(frozen=True, slots=True)
class CheckInRecorded:
    result: CheckInResult
    anchor: date
    created: int


def check_in(
    engine: Engine,
    patient_id: str,
    answers: CheckInAnswers,
    *,
    anchor: date | None = None,
    defaults: CycleSettings | None = None,
    now: datetime | None = None,
    response: dict[str, Any] | None = None,
    plans: EnrollmentService | None = None,
) -> CheckInRecorded:
    """The check-in answers of the patient's next pickup (or of the cycle `anchor`) acted on:
    reviews for the pharmacist; a new date re-anchors the enrollment; away over the pickup
    moves it earlier as a vacation supply; stop the program unenrolls from the next day.
    A re-plan (hospital stay, new, stopped or changed medicines) puts review items on today's
    list and, for an enrollment with a live EHR endpoint, queues a sync (fresh orders, a new
    plan) for the worker. "Stop the program" and a new date go through the enrollment's own
    use cases (`plans`, the server's EnrollmentService): the CarePlan and Appointment are
    revoked or re-planned on the new anchor and written back to the EHR, in this transaction.
    `response`: the QuestionnaireResponse the answers came from, stored (once per identifier)
    with them."""
    stamp = now or datetime.now(UTC)
    today = answers.answered_on
    if plans is None:
        plans = EnrollmentService(engine, today=lambda: today)
    with write_transaction(engine) as connection:
        row, state, facts = _load(connection, patient_id)
        cycle = _pending_cycle(facts, today) if anchor is None else _cycle(facts, anchor)
        settings = cycle_settings_of(row, defaults)
        result = interpret_check_in(answers, cycle.pickup_day, settings)
        planned = None
        if result.new_anchor is not None and not result.unenroll:
            planned = plans.reanchor_locked(connection, row, result.new_anchor, stamp)
            if planned is not None:  # the re-plan may have added its changes to the facts
                state = store.get_state(connection, patient_id) or state
                facts = load_facts(state.facts)
        if result.reviews:
            changes = tuple(Change(c.kind, c.order_id, c.words) for c in result.reviews)
            facts = replace(
                facts, change_sets=(*facts.change_sets, ChangeSet(cycle.anchor, today, changes))
            )
        if result.early_pickup is not None:
            moved = replace(cycle, pickup=result.early_pickup, vacation=True, moved_on=today)
            facts = _replace_cycle(facts, moved)
        saved = planned is not None  # the enrollment use case saved the row, sent the plan
        if result.unenroll:
            facts = replace(facts, ended_on=date.fromordinal(today.toordinal() + 1))
            saved = plans.revoke_locked(connection, row, stamp)
        if result.new_anchor is not None:
            fills, anchor_now = cycle.fills, result.new_anchor
            if planned is not None:
                anchor_now = row.anchor_date or anchor_now
                careplan = careplan_of(connection, patient_id) or {}
                fills = careplan_fills(careplan, anchor_now, first=True)
            elif result.unenroll:
                row.anchor_date = anchor_now
            elif endpoints_of(row).any:  # the queued sync re-plans it on the new anchor
                request_sync(connection, [patient_id], stamp)
            kept = tuple(c for c in facts.cycles if c.anchor < cycle.anchor)
            facts = replace(facts, cycles=(*kept, Cycle(anchor_now, fills, planned_on=today)))
        if result.replan:
            row.plan_hash = None  # the next sync re-plans even an unchanged input
            if row.ehr_endpoint is not None:  # pull fresh orders: the worker's requested sync
                request_sync(connection, [patient_id], stamp)
        if result.replan or (not saved and (result.new_anchor is not None or result.unenroll)):
            row.version += 1
            row.updated_at = stamp
            save_enrollment(connection, row, new=False)
        created = save_facts(connection, row, state, facts, today, stamp, defaults)
        if response is not None:
            cycle_resources.store_check_in(connection, response, patient_id, stamp)
    return CheckInRecorded(result, cycle.anchor, created)


def _pending_cycle(facts: Enrollment, today: date) -> Cycle:
    """The cycle whose pickup is next: the first not picked up whose pickup is not past."""
    for cycle in sorted(facts.cycles, key=lambda c: c.anchor):
        done = any(s is PickupStatus.FULFILLED for _, s in cycle.outcomes)
        if not done and cycle.pickup_day >= today:
            return cycle
    raise CycleNotFoundError("no pickup ahead to check in for")


@dataclass(frozen=True, slots=True)
class PickupRecorded:
    anchor: date
    status: PickupStatus
    created: int


def record_pickup(
    engine: Engine,
    patient_id: str,
    anchor: date,
    status: PickupStatus,
    day: date,
    *,
    dispensed: bool = True,
    defaults: CycleSettings | None = None,
    now: datetime | None = None,
) -> PickupRecorded:
    """A pickup picked up (fulfilled) or missed (noshow) on `day`. `dispensed`: the pickup's
    dispenses are recorded with it, which rolls the enrollment forward to its next cycle."""
    stamp = now or datetime.now(UTC)
    with write_transaction(engine) as connection:
        row, state, facts = _load(connection, patient_id)
        cycle = _cycle(facts, anchor)
        if any(s is PickupStatus.FULFILLED for _, s in cycle.outcomes):
            raise ActionRefusedError("this pickup is already recorded as picked up")
        changed = replace(cycle, outcomes=(*cycle.outcomes, (day, status)))
        if status is PickupStatus.FULFILLED and dispensed:
            changed = replace(changed, dispensed_on=day)
        facts = _replace_cycle(facts, changed)
        created = save_facts(connection, row, state, facts, day, stamp, defaults)
        if status is PickupStatus.FULFILLED:
            store.close_item(connection, cycle_item_id(patient_id, ItemKind.PICKUP, anchor), stamp)
    return PickupRecorded(anchor, status, created)


@dataclass(frozen=True, slots=True)
class PreparationState:
    item_id: str
    status: str
    reason: str | None


def set_preparation_status(
    engine: Engine,
    item_id: str,
    status: str,
    *,
    reason: str | None = None,
    expected: str | None = None,
    version: int | None = None,
    now: datetime | None = None,
) -> PreparationState:
    """Move a prepare-fills Task: requested -> in-progress -> completed, or on-hold with a
    reason (waiting for a renewal, out of stock), or cancelled. `expected`: the state the
    caller saw; another state refuses the change. `version`: the stored Task's version the
    caller saw (an If-Match); another refuses it too. The stored Task follows the change."""
    stamp = now or datetime.now(UTC)
    _, kind, _, _ = _parse(item_id)
    if kind is not ItemKind.PREPARE:
        raise ActionRefusedError("only a preparation Task changes state")
    if status == "on-hold" and not reason:
        raise ActionRefusedError("a preparation put on hold needs its reason")
    with write_transaction(engine) as connection:
        stored = _stored_item(connection, item_id)
        current = _entry(stored).task_status or "requested"
        if version is not None and version != cycle_resources.preparation_task_version(
            connection, item_id
        ):
            raise VersionMismatchError("the Task has changed since that version")
        if expected is not None and expected != current:
            raise VersionMismatchError(f"the Task is {current}, not {expected}")
        if status not in PREP_NEXT.get(current, frozenset()):
            raise ActionRefusedError(f"a preparation Task cannot go from {current} to {status}")
        store.set_item_state(connection, item_id, status, reason, stamp)
        cycle_resources.update_preparation_task(
            connection, item_id, status, reason, stamp, expected_version=version
        )
    return PreparationState(item_id, status, reason)


def _stored_item(connection: Connection, item_id: str) -> store.StoredItem:
    stored = store.get_item(connection, item_id)
    if stored is None:
        raise CycleNotFoundError(f"no cycle item {item_id}")
    return stored


def _open_item(connection: Connection, item_id: str, refusal: str) -> store.StoredItem:
    """The stored item, refused with `refusal` when staff already closed it."""
    stored = _stored_item(connection, item_id)
    if stored.state != "open":
        raise ActionRefusedError(refusal)
    return stored


def _parse(item_id: str) -> tuple[str, ItemKind, date, tuple[str, ...]]:
    try:
        return parse_item_id(item_id)
    except ValueError:
        raise CycleNotFoundError(f"no cycle item {item_id}") from None


def patient_entries(engine: Engine, patient_id: str) -> Sequence[WorklistEntry]:
    """Every item of the patient, by day (the patient's cycle history)."""
    with engine.connect() as connection:
        return [_entry(r) for r in store.patient_items(connection, patient_id)]


@dataclass(frozen=True, slots=True)
class RenewalFollowedUp:
    item_id: str
    task: str | None  # `Task/<id>` changed; None when the plan has no open renewal Task
    note: str


@dataclass(frozen=True, slots=True)
class ReturnedToStock:
    item_id: str
    anchor: date
    fills: int


def follow_up_renewal(
    engine: Engine, item_id: str, day: date, *, now: datetime | None = None
) -> RenewalFollowedUp:
    """A renewal request sent again, or escalated, on `day`: the renewal Task of the order
    gets a new version (mappings/outbound/renewal_follow_up.py: priority asap and a dated note
    for a resend, urgent for an escalation), so the prescriber's system and the pharmacist see
    it, and the item is closed. A later re-plan builds the Task afresh from the plan."""
    from fhir_sync.services.indexing import resource_row, without_meta
    from fhir_sync.store.patient_pages import patient_bodies
    from fhir_sync.store.resources import read_resource, save_resources
    from mappings.outbound.renewal_follow_up import followed_up_task

    stamp = now or datetime.now(UTC)
    patient_id, kind, _, _ = _parse(item_id)
    if kind not in (ItemKind.RENEWAL_RESEND, ItemKind.RENEWAL_ESCALATE):
        raise ActionRefusedError(f"a {kind.value} item does not follow up a renewal")
    with write_transaction(engine) as connection:
        stored = _open_item(connection, item_id, "the item is already done")
        item = replace(load_item(stored.item), day=day)
        focus = f"MedicationRequest/{item.order_id}"
        changed = None
        note = ""
        for _, body in patient_bodies(connection, patient_id, ("Task",)):
            task = orjson.loads(body)
            if (task.get("focus") or {}).get("reference") != focus:
                continue
            if task.get("status") != "requested":
                continue
            served = read_resource(connection, "Task", task["id"])
            updated = followed_up_task(without_meta(task), item)
            note = str(updated["note"][-1]["text"])
            version = (served.version_id if served else 0) + 1
            payer = served.payer if served else None
            row = resource_row(updated, version_id=version, last_updated=stamp, payer=payer)
            save_resources(connection, [row])
            changed = f"Task/{task['id']}"
            break
        store.close_item(connection, item_id, stamp)
    return RenewalFollowedUp(item_id, changed, note)


def return_to_stock(
    engine: Engine, item_id: str, day: date, *, now: datetime | None = None
) -> ReturnedToStock:
    """The fills of a pickup not picked up returned to stock on `day`: a dated fact of the
    cycle (`Cycle.returned_on`, kept with the enrollment's facts) and the item closed."""
    stamp = now or datetime.now(UTC)
    patient_id, kind, anchor, _ = _parse(item_id)
    if kind is not ItemKind.RETURN_TO_STOCK:
        raise ActionRefusedError(f"a {kind.value} item is not a return to stock")
    with write_transaction(engine) as connection:
        _open_item(connection, item_id, "the item is already done")
        row, state, facts = _load(connection, patient_id)
        cycle = _cycle(facts, anchor)
        facts = _replace_cycle(facts, replace(cycle, returned_on=day))
        save_facts(connection, row, state, facts, day, stamp, None)
        store.close_item(connection, item_id, stamp)
    return ReturnedToStock(item_id, anchor, len(cycle.fills))
