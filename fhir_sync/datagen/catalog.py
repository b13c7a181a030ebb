"""The drugs the generator prescribes, with real RxNorm codes and ordinary adult regimens.

The table itself is data, one drug a row in drugs.csv (and the dose forms in forms.csv), so
that adding or correcting a drug is editing a row, not a call of a dozen arguments; this module
reads it once, at import, into the frozen records below.

Codes and displays are RxNorm SCD concepts checked against Synthea's medication cost table and
the CMS eCQM value-set expansions (dementia, anticoagulant, antidepressant, controlled-drug
lists). Those whose note says "unconfirmed" come from memory only; replace them before anyone relies
on them. Regimens are typical outpatient sigs chosen to exercise the engine (daily, twice daily,
every 12 hours, at bedtime, PRN), not clinical advice.

Deliberately different from the codes once suggested for this table: 966222 is levothyroxine
0.075 MG (not 0.05 MG), 312940 is sertraline 25 MG (50 MG is 312941), and atorvastatin 20 MG is
617310 (617312 is not the generic 20 MG tablet). No omeprazole is listed because no code for it
could be confirmed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files


class Kind(StrEnum):
    """How a drug is taken, which decides its fill pattern."""

    MAINTENANCE = "maintenance"
    PRN = "prn"
    ACUTE = "acute"
    SEASONAL = "seasonal"


@dataclass(frozen=True, slots=True)
class Form:
    """A dose unit as FHIR quantities and a pharmacist's sig both spell it."""

    unit: str
    ucum: str
    noun: str
    nouns: str
    verb: str
    route_code: str
    route_display: str
    route_words: str


@dataclass(frozen=True, slots=True)
class Regimen:
    """One dosing pattern: `dose` units, `frequency` times per `period` `period_unit`."""

    dose: float
    frequency: int
    period: float
    period_unit: str
    sig: str
    # Written as two concurrent instructions (sequence 1 and 2): morning and evening doses.
    split: tuple[float, float] | None = None
    # A second, as-needed instruction on top of the scheduled one ("1 more if swollen").
    extra_prn: str | None = None
    # Doses per administration site (2 for "in both eyes").
    sites: int = 1

    @property
    def per_day(self) -> float:
        """Units taken a day when taken exactly as written."""
        per_period = self.dose * self.frequency * self.sites
        if self.period_unit == "h":
            return per_period * 24 / self.period
        if self.period_unit == "wk":
            return per_period / (7 * self.period)
        return per_period / self.period


@dataclass(frozen=True, slots=True)
class Drug:
    """A prescribable product and how the generator may order it.

    `package` is the size of a pack that cannot be split (inhaler, pen carton, bottle of drops)
    in `form` units; `fill_quantity` is what one PRN fill hands over; `course_days` are the
    lengths an acute course may have; `max_age` keeps, say, stimulants away from 90-year-olds.
    """

    code: str
    display: str
    form: Form
    kind: Kind
    regimens: tuple[Regimen, ...]
    weight: int = 1
    schedule: str | None = None
    package: float | None = None
    fill_quantity: float | None = None
    course_days: tuple[int, ...] = ()
    max_age: int | None = None
    reason: str = ""
    # What a pharmacy counts: `per_unit` dose units in one `dispense_unit` (2.5 mg a tablet,
    # 100 insulin units a mL, 20 drops a mL, 60 actuations an inhaler); None: the dose unit.
    per_unit: float = 1.0
    dispense_unit: str | None = None
    dispense_ucum: str | None = None
    # PRN said only in the sig text, without asNeededBoolean (as some EHRs send it).
    prn_in_text_only: bool = False


# What a pharmacy counts a drug in, as FHIR spells the unit (drugs.csv's `dispense=`).
DISPENSE_UCUM = {"inhaler": "{inhaler}", "mL": "mL", "tablet": "{tbl}"}
# The sig of a regimen the table gives no words for: DOSExTIMES/d and DOSEx1/Nh.
TIMES_A_DAY = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}


def _rows(name: str) -> list[list[str]]:
    """The rows of one of this package's tables, without its comments and blank lines."""
    text = files("fhir_sync.datagen").joinpath(name).read_text(encoding="utf-8")
    return list(csv.reader(line for line in text.splitlines() if line and line[0] != "#"))


def _number(text: str) -> float:
    """`2` as the int 2 and `2.5` as a float: as the table writes it, so that a sig or a
    quantity prints the same as before the table moved out of code."""
    return float(text) if "." in text else int(text)


def _regimen(text: str) -> Regimen:
    """`DOSExTIMES/[PERIOD]UNIT[:sig][:split=M+E][:prn=...][:sites=N]` (see drugs.csv)."""
    timing, *words = text.split(":")
    dose, _, rate = timing.partition("x")
    times, _, per = rate.partition("/")
    unit = per.lstrip("0123456789.")
    frequency, period = int(times), _number(per.removesuffix(unit) or "1")
    if words:
        sig = words[0]
    elif unit == "d" and period == 1:
        sig = TIMES_A_DAY[frequency]
    elif unit == "h" and frequency == 1:
        sig = f"every {period} hours"
    else:
        raise ValueError(f"a regimen without words needs a sig: {text}")
    extra = dict(word.split("=", 1) for word in words[1:])
    morning, _, evening = extra.pop("split", "").partition("+")
    regimen = Regimen(
        _number(dose),
        frequency,
        period,
        unit,
        sig,
        split=(_number(morning), _number(evening)) if morning else None,
        extra_prn=extra.pop("prn", None),
        sites=int(extra.pop("sites", "1")),
    )
    if extra:
        raise ValueError(f"unknown regimen words: {sorted(extra)}")
    return regimen


def _drug(row: list[str], forms: dict[str, Form]) -> Drug:
    """One row of drugs.csv (its group and note already read off)."""
    code, display, form, kind, weight, regimens, options = row
    opts = dict(option.partition("=")[::2] for option in options.split())
    number = {key: _number(opts.pop(key)) for key in ("package", "fill") if key in opts}
    dispense = opts.pop("dispense", None)
    drug = Drug(
        code,
        display,
        forms[form],
        Kind(kind),
        tuple(_regimen(regimen) for regimen in regimens.split(" | ")),
        int(weight),
        schedule=opts.pop("schedule", None),
        package=number.get("package"),
        fill_quantity=number.get("fill"),
        course_days=tuple(int(days) for days in opts.pop("course", "").split("/") if days),
        max_age=int(opts.pop("max_age")) if "max_age" in opts else None,
        reason=opts.pop("reason", ""),
        per_unit=_number(opts.pop("per_unit")) if "per_unit" in opts else 1.0,
        dispense_unit=dispense,
        dispense_ucum=None if dispense is None else DISPENSE_UCUM[dispense],
        prn_in_text_only=opts.pop("prn_in_text_only", None) is not None,
    )
    if opts:
        raise ValueError(f"unknown options of {code}: {sorted(opts)}")
    return drug


def _groups() -> dict[str, tuple[Drug, ...]]:
    forms = {name: Form(*fields) for name, *fields in _rows("forms.csv")}
    groups: dict[str, list[Drug]] = {}
    for group, *row, _note in _rows("drugs.csv"):
        groups.setdefault(group, []).append(_drug(row, forms))
    return {group: tuple(drugs) for group, drugs in groups.items()}


_GROUPS = _groups()
MAINTENANCE = _GROUPS["maintenance"]
UNBREAKABLE = _GROUPS["unbreakable"]  # packs a pharmacy cannot split
BY_STRENGTH = _GROUPS["by_strength"]  # dosed in mg, dispensed by strength or concentration
PRN = _GROUPS["prn"]
ACUTE = _GROUPS["acute"]
SEASONAL = _GROUPS["seasonal"]
CONTROLLED = _GROUPS["controlled"]  # federal schedules C-II to C-V

ALL_DRUGS: tuple[Drug, ...] = (
    MAINTENANCE + UNBREAKABLE + BY_STRENGTH + PRN + ACUTE + SEASONAL + CONTROLLED
)
BY_CODE: dict[str, Drug] = {drug.code: drug for drug in ALL_DRUGS}
