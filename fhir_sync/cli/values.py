"""Parsing of command-line values; a ValueError's message is what the usage error says."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from fhir_sync.services.plan_terms import parse_closed_days
from fhir_sync.settings.terms import CONTROLLED_HELP as CONTROLLED_HELP

__all__ = ["AUTO_JOBS_MIN_BYTES", "auto_jobs", "parse_closed_days", "parse_today"]

AUTO_JOBS_MIN_BYTES = 32 * 2**20


def auto_jobs(sources: list[Path]) -> int:
    """One worker per CPU when the input is large enough to repay starting them."""
    size = 0
    for source in sources:
        if source.is_file():
            size += source.stat().st_size
        elif source.is_dir():
            size += sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    return max(1, os.cpu_count() or 1) if size >= AUTO_JOBS_MIN_BYTES else 1


def parse_today(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--today: {text!r} is not a date (YYYY-MM-DD)") from None
