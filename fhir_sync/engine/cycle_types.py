"""Plain, immutable inputs and outputs of the monthly cycle (outreach to pickup, renewals).

The state of one enrollment is a record of dated facts (cycles planned, calls made, pickups,
dispenses, renewal answers, stops learned). The derivation reads it as it stood at the end of
a given day, so the items of a day never depend on what happened later: deriving a missed
day afterwards gives what deriving it on time would have given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class ItemKind(StrEnum):
    """What a cycle item asks for; the value is part of the item's stable identifier."""

    OUTREACH = "outreach"
    CALL_RETRY = "call-retry"
    UNREACHED = "unreached"
    UPDATE_CONTACT = "update-contact"
    PREPARE = "prepare"
    PULL_FILL = "pull-fill"
    PICKUP = "pickup"
    NO_SHOW_FOLLOW_UP = "no-show-follow-up"
    RETURN_TO_STOCK = "return-to-stock"
    ROLL_FORWARD = "roll-forward"
    UNCONFIRMED_PICKUP = "unconfirmed-pickup"
    RENEWAL_RESEND = "renewal-resend"
    RENEWAL_ESCALATE = "renewal-escalate"
    RENEWAL_REJECTED = "renewal-rejected"
    REVIEW = "review"


class ContactOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no-answer"
    WRONG_NUMBER = "wrong-number"


class PickupStatus(StrEnum):
    FULFILLED = "fulfilled"
    NO_SHOW = "noshow"


class RenewalAnswer(StrEnum):
    """The prescriber's side of a renewal Task (R4 Task.status values)."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"


class PrepStatus(StrEnum):
    REQUESTED = "requested"
    ON_HOLD = "on-hold"


# NCPDP Submission Clarification Codes (field 420-DK) the cycle writes on fills.
SCC_SHORTENED_DAYS_SUPPLY = "47"
SCC_AFTER_SHORTENED_DAYS_SUPPLY = "48"
SCC_SYNCHRONIZATION = "61"
SCC_VACATION_SUPPLY = "03"


@dataclass(frozen=True, slots=True)
class CycleSettings:
    """A pharmacy's cycle rules. `closed_weekdays` (Monday 0) and `holidays` are days the
    pharmacy is closed; business days (renewal follow-up) are Monday to Friday, not holidays."""

    lead_days: int = 7
    prep_days: int = 3
    call_retries: int = 2
    renewal_follow_up_business_days: int = 3
    renewal_escalation_business_days: int = 2
    return_to_stock_days: int = 10
    unconfirmed_pickup_days: int = 2
    closed_weekdays: frozenset[int] = frozenset()
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not 1 <= self.lead_days <= 30:
            raise ValueError("lead_days must be between 1 and 30")
        if not 0 <= self.prep_days < self.lead_days:
            raise ValueError("prep_days must be at least 0 and less than lead_days")
        if not 0 <= self.call_retries <= 10:
            raise ValueError("call_retries must be between 0 and 10")
        for name in (
            "renewal_follow_up_business_days",
            "renewal_escalation_business_days",
            "return_to_stock_days",
            "unconfirmed_pickup_days",
        ):
            if not 1 <= getattr(self, name) <= 60:
                raise ValueError(f"{name} must be between 1 and 60")
        if not self.closed_weekdays <= frozenset(range(7)) or len(self.closed_weekdays) == 7:
            raise ValueError("closed_weekdays must be weekday numbers 0-6, leaving one open")


@dataclass(frozen=True, slots=True)
class CycleFill:
    """One fill of a pickup, in the dispense unit (tablets, mL, pens...), never the dose unit.

    `earliest` is the first day the payer accepts the claim (None when there is no earlier
    fill to be too soon after); `scc` the Submission Clarification Code to send, if any.
    """

    order_id: str
    medication: str
    quantity: float
    unit: str
    days_supply: int
    earliest: date | None = None
    scc: str | None = None


@dataclass(frozen=True, slots=True)
class Cycle:
    """One pickup of the enrollment. `anchor` names the cycle (it is in every identifier);
    `pickup` is the day the patient comes, the anchor unless moved once (a vacation supply
    picked up early). `planned_on` is when the cycle became known: outreach and preparation
    fall on that day when it is later than their usual day (a first, short cycle).
    `moved_on` is when the moved `pickup` was agreed (a vacation supply, on the call): before
    it the pickup is the anchor, and a preparation whose day has passed falls on `moved_on`.
    `outcomes` are the pickup's recorded outcomes, each (day, status): a no-show may be
    followed by a late pickup. `dispensed_on` is when the pickup's dispenses were recorded.
    `returned_on` is when staff returned the fills not picked up to stock (the claims
    reversed)."""

    anchor: date
    fills: tuple[CycleFill, ...]
    planned_on: date
    pickup: date | None = None
    vacation: bool = False
    moved_on: date | None = None
    outcomes: tuple[tuple[date, PickupStatus], ...] = ()
    dispensed_on: date | None = None
    returned_on: date | None = None

    def __post_init__(self) -> None:
        if self.planned_on > self.pickup_day:
            raise ValueError("a cycle must be planned on or before its pickup day")
        if self.moved_on is not None and (self.pickup is None or self.moved_on > self.pickup):
            raise ValueError("a moved pickup needs its new day, on or after the move")

    def pickup_as_of(self, day: date) -> date:
        """The pickup day as known on `day`: the anchor until the move was agreed."""
        if self.moved_on is not None and day < self.moved_on:
            return self.anchor
        return self.pickup_day

    @property
    def pickup_day(self) -> date:
        return self.pickup if self.pickup is not None else self.anchor


@dataclass(frozen=True, slots=True)
class Contact:
    """A call (or message) made for the cycle `anchor` and what came of it."""

    anchor: date
    day: date
    outcome: ContactOutcome


@dataclass(frozen=True, slots=True)
class RenewalTrack:
    """A renewal request and the prescriber's answers so far, each (day, answer)."""

    order_id: str
    needed_by: date
    requested_on: date
    answers: tuple[tuple[date, RenewalAnswer], ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    """fhir-sync learned on `known_on` that the order is stopped (EHR, call, check-in)."""

    order_id: str
    known_on: date


@dataclass(frozen=True, slots=True)
class Change:
    """A difference between the previous plan and a new one, for the pharmacist to review."""

    kind: str
    order_id: str | None
    words: str


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The changes one re-plan found, known on `known_on`, before the cycle `anchor`."""

    anchor: date
    known_on: date
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Enrollment:
    """Everything the cycle derivation knows about one enrolled patient.

    `ended_on`: the patient left the program; nothing is derived from that day on.
    """

    patient_id: str
    cycle_days: int
    cycles: tuple[Cycle, ...]
    contacts: tuple[Contact, ...] = ()
    renewals: tuple[RenewalTrack, ...] = ()
    stops: tuple[Stop, ...] = ()
    change_sets: tuple[ChangeSet, ...] = ()
    ended_on: date | None = None


@dataclass(frozen=True, slots=True)
class CycleItem:
    """One thing to do on `day` for the cycle `anchor`.

    `id` is `<patient>:<kind>:<anchor>` with `:<order id>` or `:<attempt>` when the kind can
    occur several times in a cycle; FHIR ids never hold `:`, so it is unambiguous, and it is
    the same however often and however late the day is derived. `pickup` is the day the
    patient comes, on the items that lead to it (calls, preparation, the pickup itself).
    """

    id: str
    patient_id: str
    kind: ItemKind
    day: date
    anchor: date
    action: str
    order_id: str | None = None
    attempt: int = 0
    fills: tuple[CycleFill, ...] = field(default_factory=tuple)
    status: PrepStatus | None = None
    hold_reasons: tuple[str, ...] = ()
    urgent: bool = False
    next_anchor: date | None = None
    pickup: date | None = None
