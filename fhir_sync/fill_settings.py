"""The pharmacy's dispensing-rule settings as a registry, read from their declarations.

Each rule is one row of `fhir_sync.settings.sync.RULES`, a field of `SyncSection` (its check,
default and help text, its `fhir-sync plan`/`sync`/`cycle run` flag, its `[sync]` key and
FHIR_SYNC_<KEY> variable, and its `$plan`/`$enroll` parameter); this module lists them for the
operations, the CLI and the stored enrollments, and applies them to the engine's
`Preferences`. The rules themselves are in docs/fill-dates.md and docs/cycle.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any, Final

from fhir_sync.engine import Preferences
from fhir_sync.engine.cycle_types import CycleSettings
from fhir_sync.settings.sync import SyncSection


@dataclass(frozen=True, slots=True)
class FillSetting:
    """One setting: `key` is the Preferences (or CycleSettings) field and the TOML key."""

    key: str
    flag: str
    parameter: str
    parse: Callable[[Any], Any]
    help: str


FILL_SETTINGS: Final = tuple(
    FillSetting(key, flag.name, declared.parameter, declared.parse, declared.help)
    for key, declared, flag in SyncSection.flags()
    if declared.parameter is not None
)
#: The monthly cycle's settings (CycleSettings fields; docs/cycle.md), given like the others.
CYCLE_KEYS: Final = frozenset(s.key for s in FILL_SETTINGS) & {
    f.name for f in fields(CycleSettings)
}
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
