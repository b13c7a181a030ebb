"""The clinically possible range of every number and date the mappings hand to the engine.

FHIR bounds a decimal only by its digits, so `doseQuantity.value` 1e308, a `period` of 1e-300
or a daysSupply of 1e308 are valid JSON and valid FHIR; planning with them overflows. No
prescription or dispense comes near these limits, so a value past one is a data error and is
rejected as invalid input naming the element, like any other; within them the engine's
arithmetic stays finite (a property test holds it to that).
"""

from __future__ import annotations

from datetime import date
from typing import Final

from mappings.errors import MappingError
from mappings.fhir_values import JsonObject, get_date, get_int, get_number

# One administration, in any dose unit: heparin doses run to tens of thousands of units.
MAX_DOSE: Final = 1_000_000.0
# Administrations per Timing period, and the period itself in days: from once a minute to
# once in ten years.
MAX_FREQUENCY: Final = 1_000
MIN_PERIOD_DAYS: Final = 1 / 1440
MAX_PERIOD_DAYS: Final = 3650.0
# A quantity in dispense units (tablets, mL, pens, packs), and the days one supply lasts: a
# whole day at least (NCPDP's days supply is a whole number), or 0 for not known. Less than a
# day would make the daily amount (quantity / days) as large as a float can hold.
MAX_QUANTITY: Final = 100_000.0
MIN_SUPPLY_DAYS: Final = 1.0
MAX_SUPPLY_DAYS: Final = 366.0
# numberOfRepeatsAllowed: NCPDP's refills-authorized field holds 0 to 99.
MAX_REPEATS: Final = 99
# When things happen (a prescription written, a fill handed over).
EARLIEST: Final = date(1900, 1, 1)
LATEST: Final = date(2199, 12, 31)


def out_of_range(key: str, where: str, low: float | date, high: float | date) -> MappingError:
    return MappingError(f"{key} must be from {low} to {high}", f"{where}.{key}", "value")


def get_amount(obj: JsonObject, key: str, where: str, maximum: float) -> float | None:
    """A non-negative decimal at most `maximum`."""
    value = get_number(obj, key, where)
    if value is not None and value > maximum:
        raise out_of_range(key, where, 0, maximum)
    return value


def get_count(obj: JsonObject, key: str, where: str, maximum: int) -> int | None:
    """An unsignedInt at most `maximum`."""
    value = get_int(obj, key, where)
    if value is not None and value > maximum:
        raise out_of_range(key, where, 0, maximum)
    return value


def get_event_date(obj: JsonObject, key: str, where: str) -> date | None:
    """A date or dateTime between EARLIEST and LATEST."""
    value = get_date(obj, key, where)
    if value is not None and not EARLIEST <= value <= LATEST:
        raise out_of_range(key, where, EARLIEST, LATEST)
    return value


def supply_days(days: float | None, where: str) -> float | None:
    """A supply duration already in days (`where` names its value element)."""
    if days is not None and days != 0 and not MIN_SUPPLY_DAYS <= days <= MAX_SUPPLY_DAYS:
        head, _, key = where.rpartition(".")
        raise out_of_range(key, head, MIN_SUPPLY_DAYS, MAX_SUPPLY_DAYS)
    return days
