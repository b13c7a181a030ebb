"""What the answers of the pre-pickup check-in mean for the cycle.

The call asks about therapy changes, doctor visits and hospital stays (NCPA, APhA ABM); it is
what separates med sync from plain auto-refill, so its answers act: a hospital stay or a
new, stopped or changed medicine pulls fresh orders and re-plans, and the pharmacist reviews
it before anything is prepared; a new date re-anchors; a vacation moves this one pickup
earlier as a vacation supply (SCC 03); "stop the program" unenrolls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from fhir_sync.engine.cycle_calendar import open_on_or_before
from fhir_sync.engine.cycle_types import Change, CycleSettings


class PickupChoice(StrEnum):
    KEEP = "keep"
    DELIVERY = "delivery"
    NEW_DATE = "new-date"
    AWAY = "away"


@dataclass(frozen=True, slots=True)
class CheckInAnswers:
    """The answers, None where a question was not answered. Details are the patient's words
    for the pharmacist (never logged)."""

    answered_on: date
    taking_as_directed: bool | None = None
    missed_doses: bool | None = None
    hospital_visit: bool | None = None
    new_medicines: bool | None = None
    stopped_or_changed: bool | None = None
    side_effects: bool | None = None
    pickup: PickupChoice | None = None
    new_date: date | None = None
    away_from: date | None = None
    away_until: date | None = None
    stop_program: bool | None = None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class CheckInResult:
    """What to do. `reviews` are items for the pharmacist (Change with no order).
    `new_anchor`: re-anchor the enrollment; `early_pickup`: move only this pickup earlier,
    as a vacation supply; `delivery`: deliver instead of a pickup at the counter."""

    replan: bool = False
    reviews: tuple[Change, ...] = ()
    new_anchor: date | None = None
    early_pickup: date | None = None
    delivery: bool = False
    unenroll: bool = False


def interpret_check_in(
    answers: CheckInAnswers, pickup: date, settings: CycleSettings
) -> CheckInResult:
    """The answers' meaning for the cycle whose pickup is `pickup`."""
    reviews: list[Change] = []
    replan = False
    today = answers.answered_on

    def review(kind: str, words: str) -> None:
        reviews.append(Change(kind, None, words))

    if answers.hospital_visit:
        replan = True
        review("hospital-visit", "Hospital or emergency visit since the last pickup: reconcile")
    if answers.new_medicines:
        replan = True
        review("new-medicines", "New medicines from a prescriber: check the orders")
    if answers.stopped_or_changed:
        replan = True
        review("stopped-or-changed", "Medicines stopped or changed: confirm before preparing")
    if answers.taking_as_directed is False:
        review("not-as-directed", "Not taking every medicine as directed: counsel")
    if answers.missed_doses:
        review("missed-doses", "Missed doses since the last pickup: counsel")
    if answers.side_effects:
        review("side-effects", "Side effects reported: assess")

    new_anchor = early = None
    delivery = answers.pickup is PickupChoice.DELIVERY
    if answers.pickup is PickupChoice.NEW_DATE:
        if answers.new_date is None or answers.new_date <= today:
            review("new-date", "The patient wants another pickup date: agree on one")
        else:
            new_anchor = answers.new_date
    elif answers.pickup is PickupChoice.AWAY:
        early, words = _vacation(answers, pickup, settings)
        if words is not None:
            review("away", words)

    unenroll = bool(answers.stop_program)
    if unenroll:
        review("stop-program", "The patient leaves the program: cancel what is prepared")
    return CheckInResult(
        replan=replan,
        reviews=tuple(reviews),
        new_anchor=new_anchor,
        early_pickup=early,
        delivery=delivery,
        unenroll=unenroll,
    )


def _vacation(
    answers: CheckInAnswers, pickup: date, settings: CycleSettings
) -> tuple[date | None, str | None]:
    """The day before leaving (an open one) for a vacation over the pickup, else a review."""
    start, end = answers.away_from, answers.away_until
    if start is None or end is None or end < start:
        return None, "The patient will be away: ask for the dates"
    if not start <= pickup <= end:
        return None, None
    early = open_on_or_before(start - timedelta(days=1), settings)
    if early <= answers.answered_on:
        return None, "Away over the pickup and leaving now: arrange a vacation supply today"
    return early, None
