"""`fhir-sync plan` end to end against the cost of merely parsing and serializing its data.

Baseline, measured in the same run on the same files: `orjson.loads` of every input line plus
`orjson.dumps` of every output resource. The ratio says how much the whole job (mapping,
planning, FHIR output, writing files, process start-up) costs on top of touching the bytes.

    python -m bench.plan_bench --patients 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson

from fhir_sync.datagen import write_dataset

TODAY = date(2026, 11, 22)


def baseline(inputs: Path, outputs: Path) -> tuple[float, int, int]:
    """Seconds to loads every input line and dumps every output resource; and their counts."""
    lines = [line for f in sorted(inputs.glob("*.ndjson")) for line in f.read_bytes().splitlines()]
    resources = [
        entry["resource"]
        for f in sorted(outputs.glob("*.json"))
        for entry in orjson.loads(f.read_bytes())["entry"]
    ]
    loads, dumps = orjson.loads, orjson.dumps
    start = time.perf_counter()
    for line in lines:
        loads(line)
    for res in resources:
        dumps(res)
    return time.perf_counter() - start, len(lines), len(resources)


def run_plan(inputs: Path, outputs: Path, jobs: int) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, of the largest process) of the real command.

    Each run writes into a directory of its own after the disk has settled (`sync`):
    replacing files and writing back the generated input cost the file system more than
    planning a patient, and would land on whichever run came next.
    """
    os.sync()
    command = [sys.executable, "-m", "fhir_sync", "plan", str(inputs), "--out", str(outputs)]
    command += ["--today", TODAY.isoformat(), "--jobs", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"fhir-sync plan failed with status {status}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the median counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fhir-sync-bench-") as tmp:
        inputs, outputs = Path(tmp) / "in", Path(tmp) / "out"
        print(f"generating {args.patients} patients...", file=sys.stderr)
        write_dataset(inputs, args.patients, args.seed, TODAY, bad_records=False)
        size = sum(f.stat().st_size for f in inputs.glob("*.ndjson"))
        timings: dict[int, list[tuple[float, int]]] = {}
        for round_number in range(args.rounds):
            for jobs in sorted({1, os.cpu_count() or 1}):
                print(f"round {round_number + 1}: fhir-sync plan --jobs {jobs}...", file=sys.stderr)
                out = outputs / f"round-{round_number}-jobs-{jobs}"
                timings.setdefault(jobs, []).append(run_plan(inputs, out, jobs))
        runs = {jobs: sorted(times)[len(times) // 2] for jobs, times in timings.items()}
        print("measuring the orjson baseline...", file=sys.stderr)
        base_s, lines, written = min(
            baseline(inputs, outputs / "round-0-jobs-1") for _ in range(args.rounds)
        )
    figures = {
        "patients": args.patients,
        "input_lines": lines,
        "input_mib": round(size / 2**20, 1),
        "output_resources": written,
        "baseline_seconds": round(base_s, 2),
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "runs": [
            {
                "jobs": jobs,
                "plan_seconds": round(seconds, 2),
                "all_rounds_seconds": [round(t, 2) for t, _ in timings[jobs]],
                "patients_per_second": round(args.patients / seconds),
                "ratio_to_baseline": round(seconds / base_s, 2),
                "peak_rss_mib_per_process": round(peak_kib / 1024),
            }
            for jobs, (seconds, peak_kib) in runs.items()
        ],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
