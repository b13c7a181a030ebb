"""Plain, immutable inputs and outputs of the engine.

The mappings layer fills these from FHIR; nothing here knows FHIR JSON. Fields hold the raw
facts (dose, frequency, period) rather than derived numbers so that every rule about
deriving them lives in the engine and is tested there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from fractions import Fraction
from typing import Any

from fhir_sync.engine.products import ProductFacts

DEFAULT_WINDOW_DAYS = 3
MAX_WINDOW_DAYS = 14
MAX_TOLERANCE_DAYS = 7
DEFAULT_REFILL_THRESHOLD = Fraction(4, 5)
MIN_REFILL_THRESHOLD = Fraction(1, 2)
OPHTHALMIC = "ophthalmic"
DEFAULT_FORM_THRESHOLDS: tuple[tuple[str, Fraction], ...] = ((OPHTHALMIC, Fraction(7, 10)),)
DEFAULT_DAILY_LIMIT = 40


def exact(value: Any) -> Any:
    """A number as an exact Fraction (a float by its decimal spelling); None stays None."""
    kind = type(value)
    if kind is Fraction or value is None:
        return value
    if kind is int:
        return Fraction(value)
    if kind is float:
        if value.is_integer():
            return Fraction(int(value))  # most doses and quantities; 3x cheaper than parsing
        return Fraction(repr(value))
    return Fraction(value)


class Schedule(StrEnum):
    """US DEA controlled-substance schedule (21 CFR 1308). NONE for uncontrolled drugs."""

    NONE = "none"
    CII = "CII"
    CIII = "CIII"
    CIV = "CIV"
    CV = "CV"


class Exclusion(StrEnum):
    """Why an order is not synchronized, as a stable code (the words are in OrderPlan.reason)."""

    INACTIVE = "inactive"
    NOT_AN_ORDER = "not-an-order"
    INPATIENT = "inpatient"
    DISCHARGE = "discharge"
    AS_NEEDED = "as-needed"
    ACUTE = "acute"
    SEASONAL = "seasonal"
    EXPIRED = "expired"
    AS_NEEDED_TEXT = "as-needed-text"
    NO_DAILY_DOSE = "no-daily-dose"
    NO_DISPENSE_UNIT = "no-dispense-unit"
    DUPLICATE = "duplicate"
    REPLACED = "replaced"
    TITRATING = "titrating"
    SERIES = "cii-series"
    CONTROLLED = "controlled"


class ControlledPolicy(StrEnum):
    """Which controlled substances a pharmacy synchronizes (some state programs leave them out).

    SYNC: all, with a renewal Task for every Schedule II fill; SKIP_CII: all but Schedule II;
    SKIP_ALL: no controlled substance (Schedule II to V).
    """

    SYNC = "sync"
    SKIP_CII = "skip-cii"
    SKIP_ALL = "skip-all"


@dataclass(frozen=True, slots=True)
class Bounds:
    """How long the dosage instructions of one sequence group last (timing.repeat.bounds[x]
    or count): `days` after the course starts, or until `end`; both None for no bound."""

    sequence: int
    days: float | None = None
    end: date | None = None


@dataclass(frozen=True, slots=True)
class Dosage:
    """One dosageInstruction: `dose` units taken `frequency` times every `period` days.

    `period_days` is already converted to days by the caller (h -> 1/24, wk -> 7, ...).
    Numbers are exact (floats given are read by their decimal spelling). `dose_unit` is the
    unit the dose is written in (mg, puff, drop, unit, tablet; None for a bare count).
    `sequence` groups concurrent instructions; `bounded` says the instruction stops (a
    `boundsDuration`, `count`...), which makes sequences sequential rather than concurrent.
    `both_eyes` doubles the dose (site or text "both eyes", "OU"). `prn_text` marks an
    instruction whose text alone says it is taken as needed.
    """

    dose: Fraction | None
    frequency: Fraction
    period_days: Fraction | None
    as_needed: bool = False
    sequence: int = 0
    dose_unit: str | None = None
    bounded: bool = False
    both_eyes: bool = False
    prn_text: bool = False

    def __post_init__(self) -> None:
        if type(self.dose) is not Fraction and self.dose is not None:
            object.__setattr__(self, "dose", exact(self.dose))
        if type(self.frequency) is not Fraction:
            object.__setattr__(self, "frequency", exact(self.frequency))
        if type(self.period_days) is not Fraction and self.period_days is not None:
            object.__setattr__(self, "period_days", exact(self.period_days))


@dataclass(frozen=True, slots=True)
class Order:
    """A medication order (prescription) as the engine needs it.

    `drug_key` identifies the drug for duplicate detection (RxNorm code when known);
    `category` holds MedicationRequest.category codes (community, inpatient, ...);
    `course` is courseOfTherapyType (continuous, acute, seasonal) or None when absent.
    `repeats_allowed` is dispenseRequest.numberOfRepeatsAllowed (None: not stated).
    `package_size` is the `package-size` extension's value: units in one package that cannot
    be split, read as dispense units when no product fact says more. `supply_unit` is the unit
    of `supply_quantity`. `facts` are what the Medication, the drug name and the extension say
    about the product, most trusted first (see products.resolve_product).
    `form` is the dose-form group a payer may treat apart for refill-too-soon (e.g.
    "ophthalmic"); None when unknown or ordinary.
    `name` is the medication's name text (RxNorm display, text, or its ingredients) from which
    ingredient, strength and form are read; `codes` every coding as `system|code` (RxNorm,
    NDC...) so that a dispense coded another way is still recognized; `author` the
    prescriber's reference; `earliest_fill` the first day it may be filled (initialFill or an
    earliest-fill extension; validity_start also bounds it); `bounds` the bounded dosage groups.
    """

    id: str
    drug_key: str
    status: str = "active"
    intent: str = "order"
    category: tuple[str, ...] = ()
    course: str | None = None
    dosages: tuple[Dosage, ...] = ()
    authored_on: date | None = None
    validity_start: date | None = None
    validity_end: date | None = None
    repeats_allowed: int | None = None
    supply_quantity: Fraction | None = None
    supply_days: Fraction | None = None
    package_size: Fraction | None = None
    schedule: Schedule = Schedule.NONE
    form: str | None = None
    name: str | None = None
    codes: tuple[str, ...] = ()
    author: str | None = None
    earliest_fill: date | None = None
    bounds: tuple[Bounds, ...] = ()
    supply_unit: str | None = None
    facts: tuple[ProductFacts, ...] = ()

    def __post_init__(self) -> None:
        for name in ("supply_quantity", "supply_days", "package_size"):
            value = getattr(self, name)
            if value is not None and type(value) is not Fraction:
                object.__setattr__(self, name, exact(value))


@dataclass(frozen=True, slots=True)
class Fill:
    """A completed dispense. `order_id` is the authorizing order when known.

    `completes_partial` marks the completion of a partial fill (v3 FFC/RFC...), which does not
    use another refill; `days_supply` or `quantity` (in `unit`) say how long it lasts. They are
    kept as given (a million fills are mapped; few are divided) and read exactly when used.
    `partial` marks a partial fill (v3 FFP/RFP): the rest of the prescribed quantity is owed.
    `pending` marks a fill prepared and waiting for pickup (in-progress or preparation with
    whenPrepared): supply the patient is about to have. `name` and `codes` as on Order.
    """

    id: str
    handed_over: date
    order_id: str | None = None
    drug_key: str | None = None
    days_supply: float | Fraction | None = None
    quantity: float | Fraction | None = None
    completes_partial: bool = False
    partial: bool = False
    pending: bool = False
    name: str | None = None
    codes: tuple[str, ...] = ()
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    """How the pharmacy and patient want refills lined up.

    `anchor_day`: preferred day of month (1-31) or None to let the engine choose.
    `anchor_date`: the anchor a synced patient already has; the plan keeps its cycle (the first
    occurrence `anchor_date + k * cycle_days` at least `lead_days` ahead). Wins over
    `anchor_day`. Keeping it matters: with unbreakable packages several days can be equally
    good, and a patient should not be moved between them.
    `closed_weekdays`: Python weekday numbers (Monday 0) when the pharmacy is closed.
    `lead_days`: how far ahead outreach and preparation happen.
    `window_days`: the grouping window; a fill due this many days after a pickup (or after
    another fill) is dispensed at that pickup when the payer accepts it that early.
    `tolerance_days`: how many days a patient may go without a medicine because a fill moved
    off a closed day (the pharmacy's stated tolerance; 0 means never).
    `refill_threshold`: the share of the previous days supply a payer wants used before it pays
    a refill (earliest = F + ceil(t x D)); `form_thresholds` overrides it per `Order.form`.
    `daily_limit`: planned pickups an open day can take; a full day is chosen only when every
    candidate day is full (None: no limit).
    `controlled`: which controlled substances are synchronized at all.
    `priming_units`: the insulin safety test before each pen injection (labels say 2 units).
    `drops_per_ml`: how many eye drops make a mL when figuring days supply (commonly 20).
    """

    cycle_days: int = 30
    anchor_day: int | None = None
    anchor_date: date | None = None
    closed_weekdays: frozenset[int] = frozenset()
    lead_days: int = 7
    window_days: int = DEFAULT_WINDOW_DAYS
    tolerance_days: int = 0
    refill_threshold: Fraction = DEFAULT_REFILL_THRESHOLD
    form_thresholds: tuple[tuple[str, Fraction], ...] = DEFAULT_FORM_THRESHOLDS
    daily_limit: int | None = DEFAULT_DAILY_LIMIT
    controlled: ControlledPolicy = ControlledPolicy.SYNC
    priming_units: int = 2
    drops_per_ml: int = 20

    def __post_init__(self) -> None:
        if not 7 <= self.cycle_days <= 366:
            # At least a week, so that every anchor window holds an open day.
            raise ValueError("cycle_days must be between 7 and 366")
        if self.anchor_day is not None and not 1 <= self.anchor_day <= 31:
            raise ValueError("anchor_day must be a day of month, 1 to 31")
        if not self.closed_weekdays <= frozenset(range(7)) or len(self.closed_weekdays) == 7:
            raise ValueError("closed_weekdays must be weekday numbers 0-6, leaving one open")
        if not 0 <= self.lead_days <= 90:
            raise ValueError("lead_days must be between 0 and 90")
        if not 0 <= self.priming_units <= 20:
            raise ValueError("priming_units must be between 0 and 20")
        if not 10 <= self.drops_per_ml <= 40:
            raise ValueError("drops_per_ml must be between 10 and 40")
        if not 0 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(f"window_days must be between 0 and {MAX_WINDOW_DAYS}")
        if not 0 <= self.tolerance_days <= MAX_TOLERANCE_DAYS:
            raise ValueError(f"tolerance_days must be between 0 and {MAX_TOLERANCE_DAYS}")
        for threshold in (self.refill_threshold, *(t for _, t in self.form_thresholds)):
            if not MIN_REFILL_THRESHOLD <= threshold <= 1:
                raise ValueError("refill thresholds must be between 0.5 and 1")
        if self.daily_limit is not None and self.daily_limit < 1:
            raise ValueError("daily_limit must be at least 1 (or None: no limit)")

    def threshold_for(self, form: str | None) -> Fraction:
        """The refill-too-soon share for a dose-form group."""
        for name, threshold in self.form_thresholds:
            if name == form:
                return threshold
        return self.refill_threshold


@dataclass(frozen=True, slots=True)
class Renewal:
    """A new prescription the prescriber must write, `due` = `needed_by` - lead days."""

    order_id: str
    needed_by: date
    due: date
    reason: str


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """What happens to one order.

    Synced orders: `next_fill` is when the next dispense happens, covering `fill_days` days
    with `quantity` units, so that supply runs to `sync_date` (the anchor date, or a later
    occurrence of it for an order whose supply lasts past the first one). `short_fill` is
    True when that dispense is a prorated one-time fill; otherwise it is the full-cycle refill
    on the anchor. `cycle_quantity` is what every refill after that dispenses.
    Orders not synced carry only `reason` and its code, `exclusion`.
    `refills_left` counts the dispenses the order still authorizes before the next one (the
    original fill included when it was never dispensed); None when the order does not say.
    `note` is what the pharmacist should know beside the reason (a fill waiting for pickup, a
    partial fill's owed balance, an order this one replaced, the next of a C-II series).
    An order not synced may still carry a `renewal` (an expired maintenance prescription).

    Quantities and `daily_dose` are in `unit`, the dispense unit (None: a bare count), and are
    whole multiples of `increment`. `package` describes a package sold whole; one that lasts
    `cycles_per_fill` > 1 cycles is dispensed only on the anchors in `carrying` (the next
    ones). `sources` names where each fact came from (`unit`, `strength`, `package`, `daily`);
    `flags` are (code, note) pairs for the pre-pickup call; `fitting_cycle` is a cycle length
    that whole packages would fit when the chosen one does not.
    """

    order_id: str
    synced: bool
    reason: str
    exclusion: Exclusion | None = None
    daily_dose: Fraction | None = None
    run_out: date | None = None
    next_fill: date | None = None
    sync_date: date | None = None
    short_fill: bool = False
    fill_days: int = 0
    quantity: Fraction = Fraction(0)
    cycle_quantity: Fraction = Fraction(0)
    refills_left: int | None = None
    renewal: Renewal | None = None
    unit: str | None = None
    increment: Fraction | None = None
    package: str | None = None
    cycles_per_fill: int = 1
    carrying: tuple[date, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    flags: tuple[tuple[str, str], ...] = ()
    fitting_cycle: int | None = None
    earliest_fill: date | None = None
    clarification: tuple[str, ...] = ()
    fills: tuple[PlannedFill, ...] = ()
    own_date: bool = False
    gap_days: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedFill:
    """One dispense the plan foresees and what its claim needs.

    `earliest` is the first day the payer pays it (refill-too-soon, NCPDP reject 79);
    `clarification` the NCPDP Submission Clarification Codes (420-DK) the claim carries:
    47 shortened days supply, 48 fill after a shortened days supply, 61 synchronization.
    """

    day: date
    days_supply: int
    quantity: Fraction
    earliest: date
    clarification: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True, slots=True)
class Visit:
    """One trip to the pharmacy: the orders whose next dispense is handed over that day."""

    day: date
    order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PatientPlan:
    """The sync plan for one patient. `anchor` is None when no order is synced."""

    patient_id: str
    today: date
    cycle_days: int
    anchor: date | None
    orders: tuple[OrderPlan, ...] = field(default_factory=tuple)
    visits: tuple[Visit, ...] = ()
    anchor_fills: int = 0

    @property
    def synced(self) -> tuple[OrderPlan, ...]:
        return tuple(o for o in self.orders if o.synced)

    @property
    def renewals(self) -> tuple[Renewal, ...]:
        return tuple(o.renewal for o in self.orders if o.renewal is not None)

    @property
    def short_fills(self) -> tuple[OrderPlan, ...]:
        return tuple(o for o in self.orders if o.short_fill)

    @property
    def transition_visits(self) -> tuple[Visit, ...]:
        """The trips before the first synchronized pickup."""
        if self.anchor is None:
            return ()
        anchor = self.anchor
        return tuple(v for v in self.visits if v.day < anchor)
