"""The shared realistic data sets, read once per test run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.conftest import shared_data


@cache
def medication_request_lines(data_set: str) -> tuple[bytes, ...]:
    path = Path(shared_data(data_set)) / "MedicationRequest.ndjson"
    return tuple(line for line in path.read_bytes().splitlines() if line.strip())
