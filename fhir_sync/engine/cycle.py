"""The items of the monthly cycle of one enrolled patient: whom to call, what to prepare,
who picks up, what goes back to stock, which renewals are late, what changed.

APhA's Appointment-Based Model is synchronized refills plus a call a few days before and a set
pickup day; the call is what separates med sync from plain auto-refill. Each rule below gives
an item a day and decides it from the facts dated up to that day only, so that:

* deriving a day twice gives the same items with the same identifiers (nothing twice);
* deriving a missed day later gives what deriving it on time would have given (catch-up);
* `derive_days(first, last)` is exactly the union of `derive_day` over those days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from fhir_sync.engine.cycle_calendar import (
    business_day_after,
    open_after,
    open_on_or_after,
    open_on_or_before,
)
from fhir_sync.engine.cycle_types import (
    SCC_VACATION_SUPPLY,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleItem,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
    PrepStatus,
    RenewalAnswer,
    RenewalTrack,
)

ANSWERED = frozenset({RenewalAnswer.ACCEPTED, RenewalAnswer.REJECTED, RenewalAnswer.COMPLETED})
CLOSED = frozenset({RenewalAnswer.REJECTED, RenewalAnswer.COMPLETED})


def derive_day(enrollment: Enrollment, day: date, settings: CycleSettings) -> tuple[CycleItem, ...]:
    """The items due on `day`, sorted by identifier."""
    return derive_days(enrollment, day, day, settings)


def derive_days(
    enrollment: Enrollment, first: date, last: date, settings: CycleSettings
) -> tuple[CycleItem, ...]:
    """The items due from `first` to `last` inclusive (a catch-up), sorted by (day, id).

    Raises ValueError when two cycles share an anchor (their items would share identifiers).
    """
    anchors = [c.anchor for c in enrollment.cycles]
    if len(set(anchors)) != len(anchors):
        raise ValueError("cycles must have distinct anchors")
    end = enrollment.ended_on
    found = {
        item.id: item
        for item in candidates(enrollment, settings, (first, last))
        if first <= item.day <= last and (end is None or item.day < end)
    }
    return tuple(sorted(found.values(), key=lambda i: (i.day, i.id)))


def item_id(patient_id: str, kind: ItemKind, anchor: date, *extra: str) -> str:
    """`<patient>:<kind>:<anchor>[:extra...]`, the identifier of a cycle item."""
    return ":".join((patient_id, kind.value, anchor.isoformat(), *extra))


def _item(
    pid: str, kind: ItemKind, anchor: date, day: date, *extra: str, **fields: Any
) -> CycleItem:
    return CycleItem(
        id=item_id(pid, kind, anchor, *extra),
        patient_id=pid,
        kind=kind,
        day=day,
        anchor=anchor,
        **fields,
    )


def parse_item_id(value: str) -> tuple[str, ItemKind, date, tuple[str, ...]]:
    """(patient, kind, anchor, extra) of an item identifier; ValueError when it is not one."""
    parts = value.split(":")
    if len(parts) < 3 or not parts[0]:
        raise ValueError("not a cycle item identifier")
    return parts[0], ItemKind(parts[1]), date.fromisoformat(parts[2]), tuple(parts[3:])


def outreach_day(cycle: Cycle, settings: CycleSettings) -> date:
    """`lead` days before the anchor (the open day before, if closed); the day the cycle was
    planned when that is later."""
    usual = open_on_or_before(cycle.anchor - timedelta(days=settings.lead_days), settings)
    return max(usual, cycle.planned_on)


def preparation_day(cycle: Cycle, settings: CycleSettings) -> date:
    """`prep` days before the pickup (the open day before, if closed), or when planned."""
    usual = open_on_or_before(cycle.pickup_day - timedelta(days=settings.prep_days), settings)
    return max(usual, cycle.planned_on, cycle.moved_on or cycle.planned_on)


def preparation_fills(enrollment: Enrollment, cycle: Cycle, day: date) -> tuple[CycleFill, ...]:
    """The cycle's fills on `day`: without the orders known to be stopped before that day,
    SCC 03 on a vacation supply. A stop learned on the day itself or later, up to the
    pickup, is a pull-fill item instead, so that what a day's items list never changes once
    the day has begun and a Task already written is never silently wrong."""
    stopped = {s.order_id for s in enrollment.stops if s.known_on < day}
    fills = tuple(f for f in cycle.fills if f.order_id not in stopped)
    if cycle.vacation and (cycle.moved_on is None or cycle.moved_on <= day):
        fills = tuple(replace(f, scc=SCC_VACATION_SUPPLY) for f in fills)
    return fills


# Moving a day off closed days or holidays shifts it by at most this much (closed weekdays
# leave one open day a week; holidays are assumed not to close the pharmacy for weeks).
SHIFT_SLACK = timedelta(days=21)


def candidates(
    enrollment: Enrollment, settings: CycleSettings, window: tuple[date, date] | None = None
) -> Iterator[CycleItem]:
    """Every item of the enrollment, on any day; with a `window`, cycles and renewals whose
    items all fall outside it are skipped (a year of history costs nothing per day)."""
    for cycle in enrollment.cycles:
        if window is not None and not _overlaps(_cycle_span(cycle, settings), window):
            continue
        yield from _call_items(enrollment, cycle, settings)
        yield from _preparation_items(enrollment, cycle, settings)
        yield from _pickup_items(enrollment, cycle, settings)
    for track in enrollment.renewals:
        if window is not None and not _overlaps(_renewal_span(track, settings), window):
            continue
        yield from _renewal_items(enrollment.patient_id, track, settings)
    for change_set in enrollment.change_sets:
        for change in change_set.changes:
            extra = (change.kind,) if change.order_id is None else (change.kind, change.order_id)
            yield _item(
                enrollment.patient_id,
                ItemKind.REVIEW,
                change_set.anchor,
                change_set.known_on,
                *extra,
                action=f"Review before preparing: {change.words}",
                order_id=change.order_id,
            )


def _overlaps(span: tuple[date, date], window: tuple[date, date]) -> bool:
    return span[0] <= window[1] and window[0] <= span[1]


def _cycle_span(cycle: Cycle, settings: CycleSettings) -> tuple[date, date]:
    """Days that can hold an item of the cycle: none is before it was planned, none after
    the later of the return-to-stock day, the last outcome's follow-up and the dispenses."""
    late = cycle.pickup_day + timedelta(days=settings.return_to_stock_days)
    for day, _ in cycle.outcomes:
        late = max(late, day + timedelta(days=settings.unconfirmed_pickup_days))
    if cycle.dispensed_on is not None:
        late = max(late, cycle.dispensed_on)
    return cycle.planned_on, late + SHIFT_SLACK


def _renewal_span(track: RenewalTrack, settings: CycleSettings) -> tuple[date, date]:
    business = settings.renewal_follow_up_business_days + settings.renewal_escalation_business_days
    # Two business days a week at worst (weekends) -> at most ~2x calendar days, plus slack.
    late = track.requested_on + timedelta(days=2 * (business + 2))
    for day, _ in track.answers:
        late = max(late, day)
    return track.requested_on, late + SHIFT_SLACK


def _call_items(
    enrollment: Enrollment, cycle: Cycle, settings: CycleSettings
) -> Iterator[CycleItem]:
    pid, anchor = enrollment.patient_id, cycle.anchor
    first = outreach_day(cycle, settings)
    pickup = cycle.pickup_as_of(first)
    if first > pickup:
        return
    fills = preparation_fills(enrollment, cycle, first)
    yield _item(
        pid,
        ItemKind.OUTREACH,
        anchor,
        first,
        action=(
            f"Call the patient: pickup on {pickup.isoformat()} of {len(fills)} "
            "medicines; ask the check-in questions"
        ),
        fills=fills,
        pickup=pickup,
    )
    calls = sorted(
        (
            c
            for c in enrollment.contacts
            if c.anchor == anchor and first <= c.day < cycle.pickup_as_of(c.day)
        ),
        key=lambda c: c.day,
    )
    failures = 0
    wrong_number_seen = False
    for call in calls:
        if call.outcome is ContactOutcome.REACHED:
            return
        failures += 1
        next_day = open_after(call.day, settings)
        pickup = cycle.pickup_as_of(next_day)
        if call.outcome is ContactOutcome.WRONG_NUMBER and not wrong_number_seen:
            wrong_number_seen = True
            yield _item(
                pid,
                ItemKind.UPDATE_CONTACT,
                anchor,
                next_day,
                action="Wrong number: find the patient's current phone number",
            )
        if failures <= settings.call_retries and next_day < pickup:
            yield _item(
                pid,
                ItemKind.CALL_RETRY,
                anchor,
                next_day,
                str(failures),
                action=(f"Call again (attempt {failures + 1}): pickup on {pickup.isoformat()}"),
                attempt=failures,
                fills=preparation_fills(enrollment, cycle, next_day),
                pickup=pickup,
            )
            continue
        yield _item(
            pid,
            ItemKind.UNREACHED,
            anchor,
            min(next_day, pickup),
            action=(
                f"Not reached after {failures} calls: the pickup on {pickup.isoformat()} "
                "is not confirmed; decide whether to prepare"
            ),
            urgent=True,
        )
        return


def _preparation_items(
    enrollment: Enrollment, cycle: Cycle, settings: CycleSettings
) -> Iterator[CycleItem]:
    pid, anchor, pickup = enrollment.patient_id, cycle.anchor, cycle.pickup_day
    day = preparation_day(cycle, settings)
    fills = preparation_fills(enrollment, cycle, day)
    holds = _hold_reasons(enrollment, fills, pickup, day)
    yield _item(
        pid,
        ItemKind.PREPARE,
        anchor,
        day,
        action=f"Prepare {len(fills)} fills for the pickup on {pickup.isoformat()}",
        fills=fills,
        status=PrepStatus.ON_HOLD if holds else PrepStatus.REQUESTED,
        hold_reasons=holds,
        pickup=pickup,
    )
    prepared = {f.order_id for f in fills}
    fulfilled = _first(cycle, PickupStatus.FULFILLED)
    for stop in sorted(enrollment.stops, key=lambda s: (s.known_on, s.order_id)):
        late = day <= stop.known_on <= pickup and (fulfilled is None or stop.known_on <= fulfilled)
        if late and stop.order_id in prepared:
            prepared.discard(stop.order_id)
            yield _item(
                pid,
                ItemKind.PULL_FILL,
                anchor,
                stop.known_on,
                stop.order_id,
                action="Stopped after preparation: take it out of the bag and reverse the claim",
                order_id=stop.order_id,
                urgent=True,
            )


def _hold_reasons(
    enrollment: Enrollment, fills: tuple[CycleFill, ...], pickup: date, as_of: date
) -> tuple[str, ...]:
    reasons = []
    for fill in fills:
        for track in enrollment.renewals:
            if track.order_id != fill.order_id or track.requested_on > as_of:
                continue
            if track.needed_by > pickup:
                continue
            answers = {a for d, a in track.answers if d <= as_of}
            if RenewalAnswer.COMPLETED in answers:
                continue
            if RenewalAnswer.REJECTED in answers:
                reasons.append(f"the prescriber refused the renewal of {fill.medication}")
            else:
                reasons.append(f"waiting for a renewal of {fill.medication}")
    return tuple(reasons)


def _first(cycle: Cycle, status: PickupStatus) -> date | None:
    days = [d for d, s in cycle.outcomes if s is status]
    return min(days) if days else None


def _pickup_items(
    enrollment: Enrollment, cycle: Cycle, settings: CycleSettings
) -> Iterator[CycleItem]:
    pid, anchor, pickup = enrollment.patient_id, cycle.anchor, cycle.pickup_day
    fills = preparation_fills(enrollment, cycle, pickup)
    yield _item(
        pid,
        ItemKind.PICKUP,
        anchor,
        pickup,
        action=f"Pickup today: {len(fills)} fills ready",
        fills=fills,
        pickup=pickup,
    )
    no_show = _first(cycle, PickupStatus.NO_SHOW)
    if no_show is not None:
        yield _item(
            pid,
            ItemKind.NO_SHOW_FOLLOW_UP,
            anchor,
            open_after(no_show, settings),
            action="Missed the pickup: call the patient to come in",
            fills=fills,
            pickup=pickup,
        )
    fulfilled = _first(cycle, PickupStatus.FULFILLED)
    restock = open_on_or_after(pickup + timedelta(days=settings.return_to_stock_days), settings)
    returned = fulfilled is None or fulfilled >= restock
    if returned:
        yield _item(
            pid,
            ItemKind.RETURN_TO_STOCK,
            anchor,
            restock,
            action=(
                f"Not picked up within {settings.return_to_stock_days} days: return to "
                "stock and reverse the claims"
            ),
            fills=fills,
        )
    dispensed = cycle.dispensed_on
    roll = dispensed if dispensed is not None and (not returned or dispensed < restock) else None
    if roll is None and returned:
        roll = restock
    if roll is not None:
        next_anchor = anchor + timedelta(days=enrollment.cycle_days)
        yield _item(
            pid,
            ItemKind.ROLL_FORWARD,
            anchor,
            roll,
            action=f"Plan the next cycle for {next_anchor.isoformat()} (same anchor)",
            next_anchor=next_anchor,
        )
    if fulfilled is not None:
        flag = open_on_or_after(
            fulfilled + timedelta(days=settings.unconfirmed_pickup_days), settings
        )
        if dispensed is None or dispensed >= flag:
            yield _item(
                pid,
                ItemKind.UNCONFIRMED_PICKUP,
                anchor,
                flag,
                action="Picked up, but no dispense was recorded: check the pharmacy system",
                urgent=True,
            )


def _renewal_items(pid: str, track: RenewalTrack, settings: CycleSettings) -> Iterator[CycleItem]:
    needed = track.needed_by
    answered = sorted(d for d, a in track.answers if a in ANSWERED)
    rejected = sorted(d for d, a in track.answers if a is RenewalAnswer.REJECTED)
    closed = sorted(d for d, a in track.answers if a in CLOSED)
    if rejected and (not closed or rejected[0] <= closed[0]):
        yield _item(
            pid,
            ItemKind.RENEWAL_REJECTED,
            needed,
            rejected[0],
            track.order_id,
            action="The prescriber refused the renewal: call the prescriber or the patient",
            order_id=track.order_id,
            urgent=True,
        )
    first_answer = answered[0] if answered else None
    window = business_day_after(
        track.requested_on, settings.renewal_follow_up_business_days, settings
    )
    if first_answer is not None and first_answer <= window:
        return
    resend = business_day_after(window, 1, settings)
    yield _item(
        pid,
        ItemKind.RENEWAL_RESEND,
        needed,
        resend,
        track.order_id,
        action=(
            f"No answer in {settings.renewal_follow_up_business_days} business days: send "
            f"the renewal request again (needed by {needed.isoformat()})"
        ),
        order_id=track.order_id,
    )
    second = business_day_after(resend, settings.renewal_escalation_business_days, settings)
    if first_answer is not None and first_answer <= second:
        return
    yield _item(
        pid,
        ItemKind.RENEWAL_ESCALATE,
        needed,
        business_day_after(second, 1, settings),
        track.order_id,
        action=(
            "Renewal still unanswered after it was sent again: call the prescriber's office "
            f"(needed by {needed.isoformat()})"
        ),
        order_id=track.order_id,
        urgent=True,
    )


def renewal_age(track: RenewalTrack, today: date) -> int | None:
    """Days since the request, while the prescriber has not answered; None once answered."""
    if any(a in ANSWERED and d <= today for d, a in track.answers):
        return None
    return max(0, (today - track.requested_on).days)
