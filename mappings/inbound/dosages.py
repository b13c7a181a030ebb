"""dosageInstruction -> engine Dosage: the raw dose, frequency and period in days.

The engine derives units per day; this module only normalizes the many ways FHIR Timing
can say "how often" into one (frequency, period_days) pair, so that the rules for that
live in one tested place.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any, Final

from fhir_sync.engine.types import Dosage, exact
from mappings.bounds import (
    MAX_DOSE,
    MAX_FREQUENCY,
    MAX_PERIOD_DAYS,
    MIN_PERIOD_DAYS,
    out_of_range,
)
from mappings.contract import require_fields
from mappings.errors import MappingError
from mappings.fhir_values import (
    JsonObject,
    get_bool,
    get_code,
    get_int,
    get_list,
    get_number,
    get_object,
    get_str,
    item_object,
    list_objects,
    show_code,
)
from mappings.inbound.medications import concept_text
from mappings.profile import V3_GTS_ABBREVIATION

require_fields(
    Dosage,
    (
        "dose",
        "frequency",
        "period_days",
        "as_needed",
        "sequence",
        "dose_unit",
        "bounded",
        "both_eyes",
        "prn_text",
    ),
)

# "as needed" said only in words: the common English and Latin spellings on US sigs.
_PRN_TEXT: Final = re.compile(
    r"\b(?:as needed|as-needed|prn|p\.r\.n\.?|when required|as required|if needed|"
    r"when needed|as directed for (?:pain|anxiety|sleep))\b",
    re.IGNORECASE,
)
_BOTH_EYES: Final = re.compile(r"\b(?:both eyes|each eye|ou|o\.u\.|bilateral)\b", re.IGNORECASE)
_BOUNDS: Final = ("boundsDuration", "boundsPeriod", "boundsRange", "count")


@lru_cache(maxsize=4096)
def says_prn(text: str) -> bool:
    """Whether an instruction's words say it is taken as needed."""
    return _PRN_TEXT.search(text) is not None


@lru_cache(maxsize=4096)
def says_both_eyes(text: str) -> bool:
    return _BOTH_EYES.search(text) is not None


# v3-GTSAbbreviation timing codes (the R4 timing-abbreviation value set) as
# (frequency, period in days); used only when Timing has no `repeat`.
_F = Fraction
TIMING_CODES: Final[dict[str, tuple[Fraction, Fraction]]] = {
    "QD": (_F(1), _F(1)),
    "AM": (_F(1), _F(1)),
    "PM": (_F(1), _F(1)),
    "BED": (_F(1), _F(1)),
    "BID": (_F(2), _F(1)),
    "TID": (_F(3), _F(1)),
    "QID": (_F(4), _F(1)),
    "QOD": (_F(1), _F(2)),
    "Q1H": (_F(1), _F(1, 24)),
    "Q2H": (_F(1), _F(2, 24)),
    "Q3H": (_F(1), _F(3, 24)),
    "Q4H": (_F(1), _F(4, 24)),
    "Q6H": (_F(1), _F(6, 24)),
    "Q8H": (_F(1), _F(8, 24)),
    "WK": (_F(1), _F(7)),
    "MO": (_F(1), _F(30)),
}
# periodUnit in days, exactly (1 h is 1/24 of a day, not 0.041666...).
_PERIOD_DAYS: Final[dict[str, Fraction]] = {
    "s": _F(1, 86400),
    "min": _F(1, 1440),
    "h": _F(1, 24),
    "d": _F(1),
    "wk": _F(7),
    "mo": _F(30),
    "a": _F(365),
}
_ONE: Final = _F(1)


def map_dosages(items: list[Any], where: str) -> tuple[tuple[Dosage, ...], str | None]:
    """All dosage instructions, and the dose unit of the first one that states a unit."""
    dosages = []
    unit = None
    for index in range(len(items)):
        item = item_object(items, index, where, "dosageInstruction")
        try:
            dosage, dose_unit = map_dosage(item)
        except MappingError as error:
            raise error.under(f"{where}.dosageInstruction[{index}]") from None
        dosages.append(dosage)
        if unit is None:
            unit = dose_unit
    return tuple(dosages), unit


def map_dosage(item: JsonObject) -> tuple[Dosage, str | None]:
    """One Dosage; errors carry paths relative to the instruction (`.timing.repeat...`).

    Common well-typed values are checked inline; the get_* readers run only to check (and
    report) the unusual ones, which saves a call per element on the hot path.
    """
    sequence = item.get("sequence", 0)
    if type(sequence) is not int:
        sequence = get_int(item, "sequence", "", minimum=-(2**31)) or 0
    as_needed = item.get("asNeededBoolean", False)
    if type(as_needed) is not bool:
        as_needed = get_bool(item, "asNeededBoolean", "") is True
    if not as_needed and item.get("asNeededCodeableConcept") is not None:
        get_object(item, "asNeededCodeableConcept", "")
        as_needed = True
    dose, unit = None, None
    rates = item.get("doseAndRate")
    if rates is not None:
        if type(rates) is not list:
            get_list(item, "doseAndRate", "")
        dose, unit = _dose(rates)
    timing = item.get("timing")
    bounded = False
    frequency: Fraction
    period_days: Fraction | None
    if timing is None:
        frequency, period_days = _ONE, None
    elif type(timing) is dict:
        frequency, period_days = _timing(timing)
        repeat = timing.get("repeat")
        bounded = type(repeat) is dict and any(key in repeat for key in _BOUNDS)
    else:
        raise MappingError("timing must be a JSON object", ".timing", "structure")
    text = item.get("text")
    if text is not None and type(text) is not str:
        text = get_str(item, "text", "")
    prn_text = False
    both_eyes = False
    if text:
        prn_text = not as_needed and says_prn(text)
        both_eyes = says_both_eyes(text)
    if not both_eyes and item.get("site") is not None:
        site = get_object(item, "site", "")
        both_eyes = site is not None and says_both_eyes(concept_text(site) or "")
    return Dosage(  # positional: see the require_fields above
        exact(dose), frequency, period_days, as_needed, sequence, unit, bounded, both_eyes, prn_text
    ), unit


def _dose(rates: list[Any]) -> tuple[float | None, str | None]:
    """The first dose of doseAndRate (doseQuantity, or doseRange high/low) and its unit."""
    for index in range(len(rates)):
        rate = item_object(rates, index, "", "doseAndRate")
        try:
            found = _rate_dose(rate)
        except MappingError as error:
            raise error.under(f".doseAndRate[{index}]") from None
        if found is not None:
            return found
    return None, None


def _rate_dose(rate: JsonObject) -> tuple[float | None, str | None] | None:
    quantity = rate.get("doseQuantity")
    where = ".doseQuantity"
    if quantity is None:
        dose_range = get_object(rate, "doseRange", "")
        if dose_range is None:
            return None
        quantity = get_object(dose_range, "high", ".doseRange")
        where = ".doseRange.high"
        if quantity is None:
            quantity = get_object(dose_range, "low", ".doseRange")
            where = ".doseRange.low"
            if quantity is None:
                return None
    elif type(quantity) is not dict:
        raise MappingError("doseQuantity must be a JSON object", where, "structure")
    value = quantity.get("value")
    if type(value) is int or type(value) is float:
        if value < 0:
            get_number(quantity, "value", where)
        value = float(value)
    elif value is not None:
        get_number(quantity, "value", where)
    if value is not None and value > MAX_DOSE:
        raise out_of_range("value", where, 0, MAX_DOSE)
    unit = quantity.get("unit")
    if type(unit) is not str or not unit:
        unit = get_str(quantity, "unit", where) or get_code(quantity, "code", where)
    return value, unit


def _timing(timing: JsonObject) -> tuple[Fraction, Fraction | None]:
    repeat = timing.get("repeat")
    if repeat is None:
        return _timing_code(timing)
    where = ".timing.repeat"
    if type(repeat) is not dict:
        raise MappingError("repeat must be a JSON object", where, "structure")
    frequency = repeat.get("frequency")
    if frequency is not None and (type(frequency) is not int or frequency < 1):
        get_int(repeat, "frequency", where, minimum=1)
    period = repeat.get("period")
    period_days = None
    if period is not None:
        if ((type(period) is not int and type(period) is not float) or period <= 0) and get_number(
            repeat, "period", where
        ) == 0:
            raise MappingError("period must be positive", f"{where}.period", "value")
        unit = repeat.get("periodUnit")
        factor = _PERIOD_DAYS.get(unit) if type(unit) is str else None
        if factor is None:
            unit = get_code(repeat, "periodUnit", where)
            if unit is None:
                raise MappingError(
                    "periodUnit is required with period", f"{where}.periodUnit", "required"
                )
            raise MappingError(
                f"unknown periodUnit {show_code(unit)}", f"{where}.periodUnit", "code-invalid"
            )
        period_days = (_F(period) if type(period) is int else _F(repr(period))) * factor
        if not MIN_PERIOD_DAYS <= period_days <= MAX_PERIOD_DAYS:
            raise MappingError(
                "period must be between one minute and ten years", f"{where}.period", "value"
            )
    if "when" in repeat or "timeOfDay" in repeat:
        times = _count(repeat, "when") or _count(repeat, "timeOfDay")
        if times:
            if frequency is None:
                frequency = times
            if period_days is None:
                period_days = _ONE
    if frequency is None:
        frequency = 1
    elif frequency > MAX_FREQUENCY:
        raise out_of_range("frequency", where, 1, MAX_FREQUENCY)
    exact_frequency = _F(frequency)
    if "dayOfWeek" in repeat:
        week_days = _count(repeat, "dayOfWeek")
        if week_days and (period_days is None or period_days <= 1):
            exact_frequency = exact_frequency * week_days / (period_days or _ONE)
            period_days = _F(7)
    return exact_frequency, period_days


def _count(repeat: JsonObject, key: str) -> int:
    items = get_list(repeat, key, ".timing.repeat")
    if not items:
        return 0
    for index in range(len(items)):
        if type(items[index]) is not str:
            raise MappingError(
                f"{key} entries must be codes or times",
                f".timing.repeat.{key}[{index}]",
                "structure",
            )
    return len(items)


def _timing_code(timing: JsonObject) -> tuple[Fraction, Fraction | None]:
    code = get_object(timing, "code", ".timing")
    if code is None:
        return _ONE, None
    for index, coding in list_objects(code, "coding", ".timing.code"):
        where = f".timing.code.coding[{index}]"
        system = get_str(coding, "system", where)
        value = get_code(coding, "code", where)
        if value is not None and system in (None, V3_GTS_ABBREVIATION):
            known = TIMING_CODES.get(value)
            if known is not None:
                return known
    return _ONE, None
