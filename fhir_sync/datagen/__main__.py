"""`python -m fhir_sync.datagen`: write a synthetic dataset without the main CLI.

`--today` is required on purpose: defaulting to the clock would make two runs differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from fhir_sync.datagen.writer import write_dataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fhir_sync.datagen",
        description="Write synthetic FHIR R4 Patient, MedicationRequest and MedicationDispense "
        "NDJSON files.",
    )
    parser.add_argument("--patients", type=int, default=20, help="number of patients")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        required=True,
        help="the day the data is 'as of' (YYYY-MM-DD); nothing is dispensed on or after it",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--no-bad-records",
        dest="bad_records",
        action="store_false",
        help="leave out the deliberately invalid lines",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; prints a one-line summary to stderr."""
    args = _parser().parse_args(argv)
    if args.patients < 0:
        _parser().error("--patients must be zero or more")
    step = max(1, args.patients // 10)

    def report(done: int) -> None:
        if done % step == 0 and sys.stderr.isatty():
            print(f"\r{done}/{args.patients} patients", end="", file=sys.stderr)

    started = time.perf_counter()
    stats = write_dataset(
        args.out,
        args.patients,
        args.seed,
        args.today,
        bad_records=args.bad_records,
        progress=report,
    )
    elapsed = time.perf_counter() - started
    print(
        f"\r{stats.patients} patients, {stats.medication_requests} MedicationRequest, "
        f"{stats.medication_dispenses} MedicationDispense lines ({stats.bad_lines} bad), "
        f"{stats.bytes:,} bytes in {elapsed:.1f} s -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
