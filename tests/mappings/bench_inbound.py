"""Micro-benchmark: mapping MedicationRequests vs parsing them (not collected by pytest).

    python -m tests.mappings.bench_inbound [path/to/MedicationRequest.ndjson]

Reports the best of several runs with the garbage collector paused, since a shared machine
makes single runs noisy.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from mappings.inbound.orders import map_medication_request

DEFAULT = Path(__file__).resolve().parents[3] / "shared/data/clinosim-r4/MedicationRequest.ndjson"


def best_of(run: Callable[[], object], repeat: int = 9) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        gc.enable()
    return min(times)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    resources = [orjson.loads(line) for line in lines]
    parse = best_of(lambda: [orjson.loads(line) for line in lines])
    mapping = best_of(lambda: [map_medication_request(res) for res in resources])
    count = len(lines)
    print(f"{count} MedicationRequests, {sum(map(len, lines)) / 1e6:.1f} MB")
    print(f"orjson.loads: {parse * 1e3:7.1f} ms  ({parse / count * 1e6:5.1f} us each)")
    print(f"map:          {mapping * 1e3:7.1f} ms  ({mapping / count * 1e6:5.1f} us each)")
    print(f"map / loads:  {mapping / parse:.2f}")


if __name__ == "__main__":
    main()
