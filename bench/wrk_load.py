"""Load from wrk, a C load generator in its own process, at a fixed number of connections.

wrk keeps `connections` requests in flight (closed loop) and measures each one's latency; a
small Lua script cycles through a file of request paths (so reads hit many different ids) and
prints the figures as JSON when done. A Python load generator on the same two cores would
spend more CPU producing the load than the servers spend answering it.

wrk comes from Debian (`apt-get install -y wrk`); only the benchmark needs it, not CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

_SCRIPT: Final = r"""
local paths = {}
local next_path = 0

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  next_path = tonumber(args[2]) % #paths
end

request = function()
  next_path = next_path % #paths + 1
  return wrk.format(nil, paths[next_path])
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\n{"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx_3xx": %d, '
    .. '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    mib_per_second: float


@dataclass(frozen=True, slots=True)
class Load:
    """`connections` in flight from `threads` wrk threads for `seconds`."""

    connections: int = 32
    threads: int = 1
    seconds: float = 20.0
    warmup_seconds: float = 3.0


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("the server benchmark needs wrk: apt-get install -y wrk")
    return found


def run_wrk(
    base_url: str,
    paths: Sequence[str],
    work: Path,
    load: Load,
    *,
    headers: dict[str, str] | None = None,
    name: str = "load",
) -> LoadResult:
    """Warm up, then measure: `paths` (absolute paths with their queries) against the origin of
    `base_url`, cycled through from a different place by each run."""
    wrk = require_wrk()
    if not paths:
        raise ValueError("no request paths")
    script = work / "paths.lua"
    script.write_text(_SCRIPT)
    path_file = work / f"{name}.paths"
    path_file.write_text("\n".join(paths) + "\n")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    header_args = [
        arg for key, value in (headers or {}).items() for arg in ("-H", f"{key}: {value}")
    ]

    def once(seconds: float, start: int) -> LoadResult:
        command = [
            wrk,
            f"-t{load.threads}",
            f"-c{load.connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            *header_args,
            "-s",
            str(script),
            origin,
            "--",
            str(path_file),
            str(start),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return _parse(done.stdout)

    if load.warmup_seconds > 0:
        once(load.warmup_seconds, 0)
    return once(load.seconds, len(paths) // 2)


def _parse(output: str) -> LoadResult:
    line = next(text for text in reversed(output.splitlines()) if text.startswith("{"))
    figures = json.loads(line)
    seconds = figures["duration_us"] / 1e6
    return LoadResult(
        requests=figures["requests"],
        seconds=round(seconds, 2),
        requests_per_second=round(figures["requests"] / seconds, 1),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        errors=figures["non_2xx_3xx"] + figures["socket_errors"],
        mib_per_second=round(figures["bytes"] / seconds / 2**20, 2),
    )
