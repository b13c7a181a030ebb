"""Readers for FHIR JSON primitives and datatypes, checked by hand.

The inbound hot path maps over a million resources, so these readers avoid pydantic and
allocate little: each gets the parent object, the key and the path of the parent relative
to the resource (a constant such as ".dispenseRequest", or "" for the resource itself), and
builds the full path only when it raises; the resource mapper prefixes the resource type
(see MappingError.under). JSON `null` counts as absent. Messages name the element and the
expected format, never the value (it may be personal data).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any, Final, TypeVar

from mappings.errors import MappingError
from mappings.profile import UCUM

JsonObject = dict[str, Any]
CodeEnum = TypeVar("CodeEnum", bound=Enum)

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# FHIR date / dateTime / instant: a time needs seconds and a zone (FHIR R4 dateTime regex,
# with range checks on the numbers done after the match).
_DATE_TIME: Final = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(?:Z|[+-]([0-9]{2}):([0-9]{2})))?)?)?",
    re.ASCII,
)

# Timing.repeat.periodUnit (UnitsOfTime, required binding) in days.
PERIOD_UNIT_DAYS: Final[dict[str, float]] = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}

# Duration units by UCUM code and by the words senders put in `unit` (lower case).
DURATION_UNIT_DAYS: Final[dict[str, float]] = {
    **PERIOD_UNIT_DAYS,
    "sec": 1 / 86400,
    "second": 1 / 86400,
    "seconds": 1 / 86400,
    "minute": 1 / 1440,
    "minutes": 1 / 1440,
    "hr": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "day": 1.0,
    "days": 1.0,
    "week": 7.0,
    "weeks": 7.0,
    "month": 30.0,
    "months": 30.0,
    "yr": 365.0,
    "year": 365.0,
    "years": 365.0,
}


def show_code(code: str) -> str:
    """Quote an offending code for a message, cut short so that junk cannot flood logs."""
    return repr(code if len(code) <= 40 else code[:40] + "...")


def required_code(res: JsonObject, key: str, allowed: AbstractSet[str]) -> str:
    """The resource's code element `key`, which must be present and one of `allowed`."""
    code = get_code(res, key, "")
    if code is None:
        raise MappingError(f"{key} is required", f".{key}", "required")
    if code not in allowed:
        raise MappingError(f"unknown {key} {show_code(code)}", f".{key}", "code-invalid")
    return code


def member_of(kind: type[CodeEnum], code: str, what: str, where: str) -> CodeEnum:
    """The member of the enum `kind` whose value is `code`; a code-invalid error naming
    `what` (the code quoted, cut short) otherwise."""
    try:
        return kind(code)
    except ValueError:
        raise MappingError(f"unknown {what} {show_code(code)}", where, "code-invalid") from None


def _wrong_type(where: str, key: str, expected: str) -> MappingError:
    return MappingError(f"{key} must be {expected}", f"{where}.{key}", "structure")


def get_object(obj: JsonObject, key: str, where: str) -> JsonObject | None:
    value = obj.get(key)
    if value is None or type(value) is dict:
        return value
    raise _wrong_type(where, key, "a JSON object")


def get_list(obj: JsonObject, key: str, where: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None or type(value) is list:
        return value
    raise _wrong_type(where, key, "a JSON array")


def get_str(obj: JsonObject, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is str and value:
        return value
    raise _wrong_type(where, key, "a non-empty string")


def get_code(obj: JsonObject, key: str, where: str) -> str | None:
    """A FHIR code: non-empty, no leading or trailing whitespace."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is str and value and value.strip() == value:
        return value
    raise _wrong_type(where, key, "a code (a string without surrounding spaces)")


def get_bool(obj: JsonObject, key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None or type(value) is bool:
        return value
    raise _wrong_type(where, key, "true or false")


def get_number(obj: JsonObject, key: str, where: str) -> float | None:
    """A FHIR decimal that must not be negative (every decimal the mappings read is a count)."""
    value = obj.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind is float or kind is int:
        if value < 0:
            raise MappingError(f"{key} must not be negative", f"{where}.{key}", "value")
        return float(value)
    raise _wrong_type(where, key, "a number")


def get_int(obj: JsonObject, key: str, where: str, minimum: int = 0) -> int | None:
    """A FHIR integer / unsignedInt (minimum 0) / positiveInt (minimum 1)."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is int:
        if value < minimum:
            raise MappingError(f"{key} must be at least {minimum}", f"{where}.{key}", "value")
        return value
    raise _wrong_type(where, key, "an integer")


def item_object(items: list[Any], index: int, where: str, key: str) -> JsonObject:
    """Element `index` of the array `where.key`, which must be a JSON object."""
    value = items[index]
    if type(value) is dict:
        return value
    raise MappingError(
        f"{key}[{index}] must be a JSON object", f"{where}.{key}[{index}]", "structure"
    )


def list_objects(obj: JsonObject, key: str, where: str) -> Iterator[tuple[int, JsonObject]]:
    """(index, item) for each element of the array `where.key`, none when it is absent;
    each must be a JSON object. The index is for the caller's path, built only on an error."""
    items = get_list(obj, key, where) or []
    for index in range(len(items)):
        yield index, item_object(items, index, where, key)


# The dateTime almost every sender writes (seconds and a zone, as FHIR requires with a time),
# with the same range checks as `_parse_by_parts` written into the pattern so that one match
# does them all; the calendar part goes through a small table of days already seen.
_FULL_DATE_TIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)"
    r"(?:\.[0-9]{1,9})?(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])",
    re.ASCII,
)
_full_match: Final = _FULL_DATE_TIME.fullmatch
_days_seen: dict[str, date] = {}


def parse_fhir_date(text: str) -> date:
    """The calendar date of a FHIR date, dateTime or instant, as written.

    The date is not converted to UTC: `2025-03-01T23:30:00-05:00` is March 1, the day the
    prescriber or pharmacist saw. Partial dates stand for their first day (`2025` -> Jan 1,
    `2025-03` -> Mar 1). Raises ValueError for anything else. A dispense history holds a
    million timestamps but only a few thousand days, so days are remembered by their text.
    """
    if len(text) > 19 and _full_match(text) is not None:
        key = text[:10]
        day = _days_seen.get(key)
        if day is None:
            day = date(int(key[:4]), int(key[5:7]), int(key[8:]))
            if len(_days_seen) >= 65536:
                _days_seen.clear()
            _days_seen[key] = day
        return day
    return _parse_by_parts(text)


@lru_cache(maxsize=16384)
def _parse_by_parts(text: str) -> date:
    """parse_fhir_date for every form: the reference the fast path must agree with."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError("not a FHIR date or dateTime")
    year, month, day, hour, minute, second, zone_hour, zone_minute = match.groups()
    if hour is not None and (
        int(hour) > 23
        or int(minute) > 59
        or int(second) > 60
        or (zone_hour is not None and (int(zone_hour) > 14 or int(zone_minute) > 59))
    ):
        raise ValueError("time out of range")
    return date(int(year), int(month) if month else 1, int(day) if day else 1)


def get_date(obj: JsonObject, key: str, where: str) -> date | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is str:
        try:
            return parse_fhir_date(value)
        except ValueError:
            pass
    raise MappingError(
        f"{key} must be a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
        "YYYY-MM-DDThh:mm:ss with a time zone)",
        f"{where}.{key}",
        "value",
    )


def duration_days(duration: JsonObject, where: str) -> float | None:
    """A Duration (or a daysSupply SimpleQuantity) in days; None when it has no value.

    The UCUM code wins over the unit text; with neither, days are assumed since that is what
    every sender of a supply duration means.
    """
    value = get_number(duration, "value", where)
    if value is None:
        return None
    code = get_code(duration, "code", where)
    unit = get_str(duration, "unit", where)
    if code is None and unit is None:
        return value
    factor = None
    if code is not None:
        system = get_str(duration, "system", where)
        if system is None or system == UCUM:
            factor = PERIOD_UNIT_DAYS.get(code)
    if factor is None and unit is not None:
        factor = DURATION_UNIT_DAYS.get(unit.strip().lower())
    if factor is None:
        if code is not None:
            raise MappingError(
                f"unknown time unit {show_code(code)}", f"{where}.code", "code-invalid"
            )
        raise MappingError(
            f"unknown time unit {show_code(unit or '')}", f"{where}.unit", "code-invalid"
        )
    return value * factor


def reference_id(reference: str, resource_type: str) -> str | None:
    """The id in `Type/id` or `<base URL>/Type/id` (ignoring `/_history/n`), else None."""
    cut = reference.find("/_history/")
    if cut >= 0:
        reference = reference[:cut]
    head, slash, rid = reference.rpartition("/")
    if not slash or ID_PATTERN.fullmatch(rid) is None:
        return None
    if head == resource_type or ("://" in head and head.endswith("/" + resource_type)):
        return rid
    return None


def resource_id(res: JsonObject, resource_type: str) -> str:
    """Check that `res` is a `resource_type` with a valid id, and return the id."""
    if type(res) is not dict:
        raise MappingError("resource must be a JSON object", "", "structure")
    kind = res.get("resourceType")
    if kind != resource_type:
        shown = show_code(kind) if type(kind) is str else "missing"
        raise MappingError(f"resourceType {shown} is not {resource_type}", "", "structure")
    rid = res.get("id")
    if rid is None:
        raise MappingError("id is required", ".id", "required")
    if type(rid) is not str or ID_PATTERN.fullmatch(rid) is None:
        raise MappingError("id must match [A-Za-z0-9-.]{1,64}", ".id", "value")
    return rid


def subject_patient_id(res: JsonObject) -> str:
    """The Patient id of `subject`, which every mapped resource needs."""
    subject = get_object(res, "subject", "")
    if subject is not None:
        reference = get_str(subject, "reference", ".subject")
        if reference is not None:
            pid = reference_id(reference, "Patient")
            if pid is not None:
                return pid
    raise MappingError("subject is not a Patient reference", ".subject.reference", "value")
