"""The pharmacy's dispensing-rule settings, declared once for every way of giving them.

Each setting has one entry in `FILL_SETTINGS`: its `fhir-sync plan`/`sync` flag, its key in the
`[sync]` table of the TOML file (and the FHIR_SYNC_<KEY> variable), its `$plan`/`$enroll`
parameter, and the parser that turns any of them into the engine's `Preferences` field. The
rules themselves are in docs/fill-dates.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

from fhir_sync.engine import Preferences
from fhir_sync.engine.types import MAX_TOLERANCE_DAYS, MAX_WINDOW_DAYS, MIN_REFILL_THRESHOLD


@dataclass(frozen=True, slots=True)
class FillSetting:
    """One setting: `key` is the Preferences field and the TOML key."""

    key: str
    flag: str
    parameter: str
    parse: Callable[[Any], Any]
    help: str


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = int(value) if isinstance(value, int | str) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return number

    return parse


def parse_threshold(value: Any) -> Fraction:
    """ "0.80", 0.8 or "80%" -> Fraction(4, 5), exactly (ceil(t x D) must not round)."""
    if isinstance(value, bool):
        raise ValueError("must be a share such as 0.80 or 80%")
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = Fraction(text.removesuffix("%").strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError("must be a share such as 0.80 or 80%") from None
    if percent:
        number /= 100
    if not MIN_REFILL_THRESHOLD <= number <= 1:
        raise ValueError("must be between 0.50 and 1.00")
    return number


def parse_form_thresholds(value: Any) -> tuple[tuple[str, Fraction], ...]:
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
    found = {str(form).strip().lower(): parse_threshold(share) for form, share in pairs}
    return tuple(sorted(found.items()))


def _daily_limit(value: Any) -> int | None:
    number = _int_in(0, 100_000)(value)
    return number or None


FILL_SETTINGS: tuple[FillSetting, ...] = (
    FillSetting(
        "window_days",
        "--window-days",
        "windowDays",
        _int_in(0, MAX_WINDOW_DAYS),
        "Grouping window: a fill due this many days after a pickup is dispensed at it "
        "when the payer pays it then (default 3).",
    ),
    FillSetting(
        "tolerance_days",
        "--tolerance-days",
        "toleranceDays",
        _int_in(0, MAX_TOLERANCE_DAYS),
        "Days a patient may go without a medicine when a fill moves off a closed day (default 0).",
    ),
    FillSetting(
        "refill_threshold",
        "--refill-threshold",
        "refillThreshold",
        parse_threshold,
        "Share of the previous days supply the payer wants used before a refill (default 0.80).",
    ),
    FillSetting(
        "form_thresholds",
        "--form-threshold",
        "formThreshold",
        parse_form_thresholds,
        "Per dose-form group, FORM=SHARE, comma-separated (default ophthalmic=0.70).",
    ),
    FillSetting(
        "daily_limit",
        "--daily-limit",
        "dailyLimit",
        _daily_limit,
        "Pickups an open day can take; 0 means no limit (default 40).",
    ),
    FillSetting(
        "priming_units",
        "--priming-units",
        "primingUnits",
        _int_in(0, 20),
        "Insulin units primed before each pen injection (safety test on pen labels; default 2).",
    ),
    FillSetting(
        "drops_per_ml",
        "--drops-per-ml",
        "dropsPerMl",
        _int_in(10, 40),
        "Eye drops per mL when figuring days supply (default 20).",
    ),
)
# The monthly cycle's settings (engine.cycle_types.CycleSettings fields; docs/cycle.md). The
# lead days are the enrollment's own `leadDays`; these are given like the fill settings.
CYCLE_SETTINGS: Final = (
    FillSetting(
        "prep_days",
        "--prep-days",
        "prepDays",
        _int_in(0, 29),
        "Days before the pickup the fills are prepared (a prepare-fills Task; default 3).",
    ),
    FillSetting(
        "call_retries",
        "--call-retries",
        "callRetries",
        _int_in(0, 10),
        "Calls made again, a day apart, after no answer or a wrong number (default 2).",
    ),
    FillSetting(
        "renewal_follow_up_business_days",
        "--renewal-follow-up-days",
        "renewalFollowUpDays",
        _int_in(1, 60),
        "Business days without the prescriber's answer before a renewal is sent again (default 3).",
    ),
    FillSetting(
        "renewal_escalation_business_days",
        "--renewal-escalation-days",
        "renewalEscalationDays",
        _int_in(1, 60),
        "Further business days without an answer before a renewal is escalated (default 2).",
    ),
    FillSetting(
        "return_to_stock_days",
        "--return-to-stock-days",
        "returnToStockDays",
        _int_in(1, 60),
        "Days after a missed pickup before its fills go back to stock (default 10).",
    ),
    FillSetting(
        "unconfirmed_pickup_days",
        "--unconfirmed-pickup-days",
        "unconfirmedPickupDays",
        _int_in(1, 60),
        "Days after a pickup with no dispense recorded before it is a pharmacist's item "
        "(default 2).",
    ),
)
CYCLE_KEYS: Final = frozenset(s.key for s in CYCLE_SETTINGS)
FILL_SETTINGS = FILL_SETTINGS + CYCLE_SETTINGS
BY_KEY: Final = {s.key: s for s in FILL_SETTINGS}
BY_PARAMETER: Final = {s.parameter: s for s in FILL_SETTINGS}


def apply_fill_settings(prefs: Preferences, values: Mapping[str, Any]) -> Preferences:
    """`prefs` with the settings given (by key, already parsed); None values are skipped,
    except `daily_limit`, where None is the parsed 'no limit'."""
    changes = {
        k: v
        for k, v in values.items()
        if k in BY_KEY and k not in CYCLE_KEYS and (v is not None or k == "daily_limit")
    }
    return replace(prefs, **changes) if changes else prefs


def parse_fill_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse raw values by key; raises ValueError naming the setting's flag."""
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        setting = BY_KEY[key]
        try:
            parsed[key] = setting.parse(value)
        except ValueError as exc:
            raise ValueError(f"{setting.flag}: {exc}") from None
    return parsed


def stored_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed settings as JSON values that `parse_fill_settings` reads back to the same."""
    stored: dict[str, Any] = {}
    for key, value in values.items():
        if key == "form_thresholds":
            stored[key] = {form: str(share) for form, share in value}
        elif key == "daily_limit":
            stored[key] = value or 0
        elif isinstance(value, Fraction):
            stored[key] = str(value)
        else:
            stored[key] = value
    return stored


def cycle_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The cycle settings among parsed settings (CycleSettings keyword arguments)."""
    return {k: v for k, v in values.items() if k in CYCLE_KEYS and v is not None}
