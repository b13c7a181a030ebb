"""The terms a plan is made on, checked by one function wherever they are given (`fhir-sync
plan`'s and `sync`'s flags, the TOML `[sync]` table, `FHIR_SYNC_CYCLE_DAYS`, the parameters of
`$plan`/`$enroll`): the refill cycles fhir-sync supports and the weekday names of closed days
(`sat,sun`); each caller adds the name it was given by."""

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


WEEKDAYS: Final = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
CONTROLLED_HELP: Final = (
    "Controlled substances: sync (all; a renewal Task for every Schedule II fill), "
    "skip-cii (leave Schedule II out of the sync) or skip-all (leave Schedules II-V out)."
)


def parse_closed_days(text: str) -> frozenset[int]:
    """`sat,sun` -> {5, 6}; full names and any case accepted."""
    days: set[int] = set()
    for part in text.split(","):
        word = part.strip().lower()[:3]
        if not word:
            continue
        if word not in WEEKDAYS:
            raise ValueError(f"--closed: unknown weekday {part.strip()!r} (use mon,tue,...,sun)")
        days.add(WEEKDAYS[word])
    if len(days) == 7:
        raise ValueError("--closed: the pharmacy must be open at least one day a week")
    return frozenset(days)
