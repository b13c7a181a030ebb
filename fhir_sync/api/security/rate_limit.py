"""Token buckets for the token endpoint: so many requests a minute per key (a client id, an
address), refilled continuously, with the wait until the next one is allowed for `Retry-After`.

Per process: with N server processes a caller gets up to N times the rate, which still bounds
what a guessing or flooding caller costs. Memory is bounded: when the table grows past
`max_keys`, buckets that have refilled completely (idle callers) are dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(per_minute)
        self._refill = per_minute / 60.0  # tokens per second
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def wait(self, key: str) -> int:
        """0 when `key` may go ahead now (and its request is counted), otherwise the whole
        seconds until it may. A limit of 0 a minute means no limit."""
        if self._capacity <= 0:
            return 0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - at) * self._refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self._max_keys:
                    self._forget_idle(now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._refill))

    def _forget_idle(self, now: float) -> None:
        full = [
            key
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self._refill >= self._capacity
        ]
        for key in full:
            del self._buckets[key]
