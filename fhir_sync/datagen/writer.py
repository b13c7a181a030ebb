"""Writing the stream to Bulk Data style NDJSON files.

Files are written under a `.partial` name and renamed only when complete, so an interrupted
run never leaves a truncated file that looks like a finished dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from fhir_sync.datagen.generator import patient_batches

RESOURCE_TYPES = ("Patient", "MedicationRequest", "MedicationDispense")
BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class DatasetStats:
    """Lines written per file (bad lines included), how many were bad, and total bytes."""

    patients: int
    medication_requests: int
    medication_dispenses: int
    bad_lines: int
    bytes: int

    @property
    def lines(self) -> int:
        """All lines in all files."""
        return self.patients + self.medication_requests + self.medication_dispenses


def write_dataset(
    out_dir: Path,
    patients: int,
    seed: int,
    today: date,
    *,
    bad_records: bool = True,
    progress: Callable[[int], None] | None = None,
) -> DatasetStats:
    """Write Patient, MedicationRequest and MedicationDispense NDJSON files into `out_dir`.

    `progress` is called with the number of patients written so far after each patient.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(RESOURCE_TYPES, 0)
    bad = 0
    size = 0
    partials = {name: out_dir / f"{name}.ndjson.partial" for name in RESOURCE_TYPES}
    with ExitStack() as stack:
        files: dict[str, BinaryIO] = {
            name: stack.enter_context(path.open("wb", buffering=BUFFER_BYTES))
            for name, path in partials.items()
        }
        for done, batch in enumerate(
            patient_batches(patients, seed, today, bad_records=bad_records), start=1
        ):
            grouped: dict[str, list[bytes]] = {name: [] for name in RESOURCE_TYPES}
            for line in batch:
                grouped[line.resource_type].append(line.data)
                bad += line.bad
            for name, datas in grouped.items():
                if datas:
                    chunk = b"\n".join(datas) + b"\n"
                    files[name].write(chunk)
                    counts[name] += len(datas)
                    size += len(chunk)
            if progress is not None:
                progress(done)
    for name, path in partials.items():
        path.replace(out_dir / f"{name}.ndjson")
    return DatasetStats(
        patients=counts["Patient"],
        medication_requests=counts["MedicationRequest"],
        medication_dispenses=counts["MedicationDispense"],
        bad_lines=bad,
        bytes=size,
    )
