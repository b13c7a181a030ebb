"""dosageInstruction -> engine Dosage: the raw dose, frequency and period in days.

The engine derives units per day; this module only normalizes the many ways FHIR Timing
can say "how often" into one (frequency, period_days) pair, so that the rules for that
live in one tested place.
"""

from __future__ import annotations

from typing import Any, Final

from fhir_sync.engine.types import Dosage
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
    PERIOD_UNIT_DAYS,
    JsonObject,
    get_bool,
    get_code,
    get_int,
    get_list,
    get_number,
    get_object,
    get_str,
    item_object,
    show_code,
)
from mappings.profile import V3_GTS_ABBREVIATION

require_fields(Dosage, ("dose", "frequency", "period_days", "as_needed", "sequence"))

# v3-GTSAbbreviation timing codes (the R4 timing-abbreviation value set) as
# (frequency, period in days); used only when Timing has no `repeat`.
TIMING_CODES: Final[dict[str, tuple[float, float]]] = {
    "QD": (1.0, 1.0),
    "AM": (1.0, 1.0),
    "PM": (1.0, 1.0),
    "BED": (1.0, 1.0),
    "BID": (2.0, 1.0),
    "TID": (3.0, 1.0),
    "QID": (4.0, 1.0),
    "QOD": (1.0, 2.0),
    "Q1H": (1.0, 1 / 24),
    "Q2H": (1.0, 2 / 24),
    "Q3H": (1.0, 3 / 24),
    "Q4H": (1.0, 4 / 24),
    "Q6H": (1.0, 6 / 24),
    "Q8H": (1.0, 8 / 24),
    "WK": (1.0, 7.0),
    "MO": (1.0, 30.0),
}


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
    if timing is None:
        frequency, period_days = 1.0, None
    elif type(timing) is dict:
        frequency, period_days = _timing(timing)
    else:
        raise MappingError("timing must be a JSON object", ".timing", "structure")
    return Dosage(dose, frequency, period_days, as_needed, sequence), unit


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


def _timing(timing: JsonObject) -> tuple[float, float | None]:
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
        factor = PERIOD_UNIT_DAYS.get(unit) if type(unit) is str else None
        if factor is None:
            unit = get_code(repeat, "periodUnit", where)
            if unit is None:
                raise MappingError(
                    "periodUnit is required with period", f"{where}.periodUnit", "required"
                )
            raise MappingError(
                f"unknown periodUnit {show_code(unit)}", f"{where}.periodUnit", "code-invalid"
            )
        period_days = period * factor
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
                period_days = 1.0
    if frequency is None:
        frequency = 1
    elif frequency > MAX_FREQUENCY:
        raise out_of_range("frequency", where, 1, MAX_FREQUENCY)
    if "dayOfWeek" in repeat:
        week_days = _count(repeat, "dayOfWeek")
        if week_days and (period_days is None or period_days <= 1.0):
            frequency = frequency * week_days / (period_days or 1.0)
            period_days = 7.0
    return float(frequency), period_days


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


def _timing_code(timing: JsonObject) -> tuple[float, float | None]:
    code = get_object(timing, "code", ".timing")
    if code is None:
        return 1.0, None
    codings = get_list(code, "coding", ".timing.code") or []
    for index in range(len(codings)):
        coding = item_object(codings, index, ".timing.code", "coding")
        where = f".timing.code.coding[{index}]"
        system = get_str(coding, "system", where)
        value = get_code(coding, "code", where)
        if value is not None and system in (None, V3_GTS_ABBREVIATION):
            known = TIMING_CODES.get(value)
            if known is not None:
                return known
    return 1.0, None
