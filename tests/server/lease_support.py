"""Lease-queue tests' shared race: several workers claiming one queue at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

WORKERS = 4


def claimed_by_racing_workers(claim: Callable[[str], Sequence[object]]) -> list[object]:
    """Everything `WORKERS` threads, released together, claim batch by batch (`claim(name)`:
    the keys of one batch, empty when the queue is drained), repeats included."""
    claimed: dict[str, list[object]] = {}
    barrier = threading.Barrier(WORKERS)

    def work(name: str) -> None:
        barrier.wait()
        mine: list[object] = []
        while batch := claim(name):
            mine.extend(batch)
        claimed[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return [key for keys in claimed.values() for key in keys]
