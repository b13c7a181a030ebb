"""The refill cycles fhir-sync supports, checked by one function wherever a cycle is given
(`fhir-sync plan`'s and `sync`'s flags, the TOML `[sync] cycle_days`, `FHIR_SYNC_CYCLE_DAYS`,
the `cycleDays` parameter of `$plan`/`$enroll`); each caller adds the name it was given by."""

from __future__ import annotations

from typing import Final

# The engine can plan any cycle from 7 to 366 days; these are the ones pharmacies and payers
# run med sync on (domain.md), and the only ones accepted.
SUPPORTED_CYCLES: Final = (28, 30, 90)
CYCLES_TEXT: Final = ", ".join(map(str, SUPPORTED_CYCLES[:-1])) + f" or {SUPPORTED_CYCLES[-1]}"


def supported_cycle(days: int) -> int:
    """`days` when it is a supported cycle; ValueError("must be 28, 30 or 90") otherwise."""
    if days not in SUPPORTED_CYCLES:
        raise ValueError(f"must be {CYCLES_TEXT}")
    return days
