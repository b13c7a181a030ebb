"""`fhir-sync plan` end to end against the cost of merely parsing and serializing its data.

Baseline, measured in the same run on the same files: `orjson.loads` of every input line plus
`orjson.dumps` of every output resource. The ratio says how much the whole job (mapping,
planning, FHIR output, writing files, process start-up) costs on top of touching the bytes.

    python -m bench.plan_bench --patients 20000
"""

from __future__ import annotations

import argparse
import json
import resource
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


def run_plan(inputs: Path, outputs: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of the real command in its own process."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_sync",
            "plan",
            str(inputs),
            "--out",
            str(outputs),
            "--today",
            TODAY.isoformat(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fhir-sync-bench-") as tmp:
        inputs, outputs = Path(tmp) / "in", Path(tmp) / "out"
        print(f"generating {args.patients} patients...", file=sys.stderr)
        write_dataset(inputs, args.patients, args.seed, TODAY, bad_records=False)
        size = sum(f.stat().st_size for f in inputs.glob("*.ndjson"))
        print("running fhir-sync plan...", file=sys.stderr)
        plan_s, peak_kib = run_plan(inputs, outputs)
        print("measuring the orjson baseline...", file=sys.stderr)
        base_s, lines, written = baseline(inputs, outputs)
    figures = {
        "patients": args.patients,
        "input_lines": lines,
        "input_mib": round(size / 2**20, 1),
        "output_resources": written,
        "plan_seconds": round(plan_s, 2),
        "patients_per_second": round(args.patients / plan_s),
        "baseline_seconds": round(base_s, 2),
        "ratio": round(plan_s / base_s, 2),
        "peak_rss_mib": round(peak_kib / 1024),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
