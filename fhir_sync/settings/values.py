"""The checks of layered settings (`fhir-sync sync`'s keys, the endpoint tables): each turns a
raw value from a flag, a variable or a TOML file into the setting's type, or raises ValueError
with the message that follows the origin (`--page-size: must be 1 or more`).

A message never repeats the value: a token given where a number belongs must not be printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any, TypeVar

from adapters.http import Quirk
from fhir_sync.engine import ControlledPolicy
from fhir_sync.engine.types import MIN_REFILL_THRESHOLD
from fhir_sync.settings.layers import KeyedError
from fhir_sync.settings.terms import parse_closed_days, supported_cycle
from mappings.fhir_literals import local_reference
from mappings.pickup_hours import PickupHours, pickup_hours

T = TypeVar("T")


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def url(value: Any) -> str:
    found = text(value)
    if not found.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return found


def whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("must be a whole number")


def within(check: Callable[[Any], T], ok: Callable[[T], bool], message: str) -> Callable[[Any], T]:
    """`check`, then `ok` of its result (`message` otherwise)."""

    def parse(value: Any) -> T:
        found = check(value)
        if not ok(found):
            raise ValueError(message)
        return found

    return parse


positive_int = within(whole, lambda n: n >= 1, "must be 1 or more")
non_negative_int = within(whole, lambda n: n >= 0, "must be 0 or more")


def cycle_days(value: Any) -> int:
    return supported_cycle(positive_int(value))


def number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError("must be a number")


positive_float = within(number, lambda n: n > 0, "must be more than 0")
non_negative_float = within(number, lambda n: n >= 0, "must be 0 or more")


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def day(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a date (YYYY-MM-DD)")


def words(value: Any) -> tuple[str, ...]:
    """A TOML list, a repeated flag, or one string separated by spaces or commas."""
    items = value if isinstance(value, list | tuple) else [value]
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("must be strings")
        found.extend(w for w in item.replace(",", " ").split() if w)
    return tuple(dict.fromkeys(found))


def closed(value: Any) -> frozenset[int]:
    joined = ",".join(words(value)) if value else ""
    try:
        return parse_closed_days(joined)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("--closed: ")) from None


def controlled(value: Any) -> ControlledPolicy:
    name = text(value).lower()
    try:
        return ControlledPolicy(name)
    except ValueError:
        known = ", ".join(p.value for p in ControlledPolicy)
        raise ValueError(f"unknown policy {name!r} (known: {known})") from None


def quirks(value: Any) -> frozenset[Quirk]:
    known = {q.value: q for q in Quirk}
    chosen = words(value)
    unknown = [q for q in chosen if q not in known]
    if unknown:
        raise ValueError(f"unknown quirk(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return frozenset(known[q] for q in chosen)


def one_of(*names: str, upper: bool = False) -> Callable[[Any], str]:
    """A word among `names` (any case), as `names` spell it."""
    message = "must be " + ", ".join(names[:-1]) + f" or {names[-1]}"

    def parse(value: Any) -> str:
        found = text(value).upper() if upper else text(value).lower()
        if found not in names:
            raise ValueError(message)
        return found

    return parse


def location(value: Any) -> str:
    return local_reference(text(value), "Location")


def pickup(hours: str | None, zone: str | None) -> PickupHours:
    """The pickup window of `hours` in `zone`; a KeyedError names the key at fault
    (`pickup_hours` when given, else `time_zone`), for `[sync]` and the server alike."""
    try:
        return pickup_hours(hours, zone)
    except ValueError as exc:
        raise KeyedError("pickup_hours" if hours else "time_zone", str(exc)) from None


# ---------------------------------------------------------------- dispensing rules


def int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            found = int(value) if isinstance(value, int | str) else None
        except ValueError:
            found = None
        if found is None or not low <= found <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return found

    return parse


def threshold(value: Any) -> Fraction:
    """ "0.80", 0.8 or "80%" -> Fraction(4, 5), exactly (ceil(t x D) must not round)."""
    if isinstance(value, bool):
        raise ValueError("must be a share such as 0.80 or 80%")
    share = str(value).strip()
    percent = share.endswith("%")
    try:
        found = Fraction(share.removesuffix("%").strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError("must be a share such as 0.80 or 80%") from None
    if percent:
        found /= 100
    if not MIN_REFILL_THRESHOLD <= found <= 1:
        raise ValueError("must be between 0.50 and 1.00")
    return found


def form_thresholds(value: Any) -> tuple[tuple[str, Fraction], ...]:
    """ "ophthalmic=0.70" (comma-separated), a list of those, or a TOML table."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        pairs = []
        for item in items:
            form, sep, share = str(item).partition("=")
            if not sep or not form.strip():
                raise ValueError("use FORM=SHARE, e.g. ophthalmic=0.70")
            pairs.append((form, share))
    found = {str(form).strip().lower(): threshold(share) for form, share in pairs}
    return tuple(sorted(found.items()))


def daily_limit(value: Any) -> int | None:
    """Pickups a day; 0 is no limit (None)."""
    return int_in(0, 100_000)(value) or None
