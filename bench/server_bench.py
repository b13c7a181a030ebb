"""`fhir-sync serve` under load against the sekmet peer serving the same CarePlans.

Loads an enrolled population into SQLite and into PostgreSQL (straight through the store
layer, see server_population.py) and the same CarePlans into sekmet (through its own store),
timed, then drives each server with wrk (a separate process, fixed connections) in three
scenarios:

* `read`: `GET CarePlan/<id>` over many different plans;
* `search`: `GET CarePlan?patient=<id>`;
* `payer pages`: one payer's CarePlans, page after page of 50 (the next links the server
  gave), by a payer client whose token makes fhir-sync filter to its members. On sekmet the
  payer is a `meta.tag` (`_tag=`), as it has no enrollments. With `--auth off` fhir-sync cannot
  know a caller is a payer, so both servers page through all CarePlans to the same depth.

fhir-sync runs with tokens (`--auth tokens`, the default): read and search by an EHR client,
pages by a payer client, each registered with `fhir-sync clients add`; every access is audited.
sekmet runs without authorization, as configured in the integration tests.

    python -m bench.server_bench --patients 100000 --json bench-server.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from bench.bench_tokens import BenchClient, register
from bench.peer_loading import store_resources
from bench.server_population import (
    PAYER_TAG,
    Population,
    Template,
    load_population,
    peer_careplans,
    plan_templates,
)
from bench.server_processes import fhir_sync_serve, fresh_database, sekmet_serve
from bench.wrk_load import Load, LoadResult, require_wrk, run_wrk
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.store.database import open_engine

POSTGRES_ADMIN: Final = "postgresql://postgres@127.0.0.1:5432/test"
PAGE: Final = 50
SAMPLE: Final = 20_000  # distinct patients the read and search scenarios cycle through
SCENARIOS: Final = ("read", "search", "payer pages")


@dataclass(frozen=True, slots=True)
class Run:
    server: str
    database: str
    workers: int
    scenario: str
    result: LoadResult
    load_average_before: float


@dataclass(frozen=True, slots=True)
class Paths:
    """The request paths of each scenario on one server."""

    read: list[str]
    search: list[str]
    pages: list[str]

    def of(self, scenario: str) -> list[str]:
        return {"read": self.read, "search": self.search, "payer pages": self.pages}[scenario]


def main() -> None:
    args = _arguments()
    require_wrk()
    population = Population(args.patients, args.payers, templates=args.templates)
    load = Load(args.connections, args.threads, args.seconds, args.warmup)
    work = Path(tempfile.mkdtemp(prefix="fhir-sync-server-bench-"))
    _say(f"planning {population.templates} template patients...")
    templates = plan_templates(population.templates, population.seed)
    sample = random.Random(7).sample(
        range(1, population.patients + 1), min(SAMPLE, population.patients)
    )
    runs: list[Run] = []
    loading: dict[str, float] = {}
    for backend in args.databases:
        with fresh_database(backend, work, args.postgres_url) as url:
            _say(f"loading {population.patients} patients into {backend}...")
            engine = open_engine(url)
            report = load_population(engine, population, templates)
            engine.dispose()
            loading[f"fhir-sync {backend}"] = round(report.seconds, 1)
            _say(f"  {report.resources} resources in {report.seconds:.0f} s")
            clients = _clients(url, work, population) if args.auth == "tokens" else None
            for workers in args.workers:
                log = work / f"serve-{backend}-{workers}.log"
                environ = {"FHIR_SYNC_AUTH": "1" if clients else "0"}
                with fhir_sync_serve(url, log, workers=workers, environ=environ) as base:
                    headers = _headers(base, clients)
                    paths = _fhir_sync_paths(base, population, sample, headers("payer pages"))
                    runs += _measure(
                        base, paths, work, load, ("fhir-sync", backend, workers), headers
                    )
    if args.peer:
        tagged = args.auth == "tokens"
        runs += _measure_peer(population, templates, sample, work, load, loading, tagged=tagged)
    figures = _figures(args, population, load, loading, runs)
    print(json.dumps(figures, indent=2))
    print(_markdown(figures), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--payers", type=int, default=10)
    parser.add_argument("--templates", type=int, default=1000, help="patients planned for real")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each")
    parser.add_argument(
        "--workers", type=_ints, default=[1, 2], help="fhir-sync server processes, e.g. 1,2"
    )
    parser.add_argument(
        "--databases", type=lambda text: text.split(","), default=["sqlite", "postgresql"]
    )
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN, help="where to create a DB")
    parser.add_argument("--auth", choices=["tokens", "off"], default="tokens")
    parser.add_argument("--no-peer", dest="peer", action="store_false")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _clients(url: str, work: Path, population: Population) -> dict[str, BenchClient]:
    """scenario -> the client that runs it: an EHR reads and searches, a payer pages."""
    ehr = register(url, work, "bench-ehr", "ehr", "system/CarePlan.rs")
    payer = register(url, work, "bench-payer", "payer", "system/CarePlan.rs", population.payer(1))
    return {"read": ehr, "search": ehr, "payer pages": payer}


Headers = Callable[[str], dict[str, str]]


def _headers(base: str, clients: dict[str, BenchClient] | None) -> Headers:
    """scenario -> request headers, with a fresh token when tokens are on."""
    root = base.removesuffix("/fhir")

    def headers(scenario: str) -> dict[str, str]:
        if clients is None:
            return {}
        return {"Authorization": f"Bearer {clients[scenario].token(root)}"}

    return headers


def _fhir_sync_paths(
    base: str, population: Population, sample: list[int], payer_headers: dict[str, str]
) -> Paths:
    read, search = _by_patient(population, sample)
    return Paths(
        read,
        search,
        _walk(base, f"/fhir/CarePlan?_count={PAGE}", _depth(population), payer_headers),
    )


def _peer_paths(base: str, population: Population, sample: list[int], *, tagged: bool) -> Paths:
    read, search = _by_patient(population, sample)
    query = {"_count": str(PAGE)}
    if tagged:
        query["_tag"] = f"{PAYER_TAG}|{population.payer(1).removeprefix('Organization/')}"
    return Paths(
        read, search, _walk(base, f"/fhir/CarePlan?{urlencode(query)}", _depth(population))
    )


def _by_patient(population: Population, sample: list[int]) -> tuple[list[str], list[str]]:
    """The read and search paths: the same patients, in the same order, on both servers."""
    ids = [population.patient_id(number) for number in sample]
    read = [f"/fhir/CarePlan/{careplan_id(pid)}" for pid in ids]
    return read, [f"/fhir/CarePlan?patient={pid}" for pid in ids]


def _depth(population: Population) -> int:
    """Pages in one payer's share of the CarePlans."""
    return population.patients // population.payers // PAGE or 1


def _walk(base: str, first: str, pages: int, headers: dict[str, str] | None = None) -> list[str]:
    """The paths of up to `pages` search pages, following the server's own next links."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    found = [first]
    with httpx.Client(timeout=120, headers=headers) as http:
        url: str | None = origin + first
        while url is not None and len(found) < pages:
            bundle: dict[str, Any] = http.get(url).raise_for_status().json()
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            if url is not None:
                parts = urlsplit(url)
                found.append(f"{parts.path}?{parts.query}")
    return found


def _measure(
    base: str,
    paths: Paths,
    work: Path,
    load: Load,
    setup: tuple[str, str, int],
    headers: Headers | None = None,
) -> list[Run]:
    server, database, workers = setup
    runs = []
    for scenario in SCENARIOS:
        _say(f"  {server} {database} x{workers}: {scenario}...")
        before = os.getloadavg()[0]
        result = run_wrk(
            base,
            paths.of(scenario),
            work,
            load,
            headers=headers(scenario) if headers else None,
            name=scenario.replace(" ", "-"),
        )
        _say(f"    {result.requests_per_second:.0f} req/s, p99 {result.p99_ms:.1f} ms")
        runs.append(Run(server, database, workers, scenario, result, round(before, 2)))
    return runs


def _measure_peer(
    population: Population,
    templates: list[Template],
    sample: list[int],
    work: Path,
    load: Load,
    loading: dict[str, float],
    *,
    tagged: bool,
) -> list[Run]:
    """sekmet with its SQLite on disk like fhir-sync's, validation on as in the integration
    tests. The CarePlans go in through sekmet's own store before it starts (the call its PUT
    handler makes after validating; sending this many over HTTP did not finish within a
    working session), which changes nothing about serving them."""
    database = work / "sekmet.db"
    _say(f"loading {population.patients} CarePlans into sekmet's store...")
    start = time.perf_counter()
    loaded = store_resources(database, peer_careplans(population, templates))
    loading["sekmet"] = round(time.perf_counter() - start, 1)
    _say(f"  {loaded} CarePlans in {loading['sekmet']:.0f} s")
    with sekmet_serve(work / "sekmet", database) as base:
        paths = _peer_paths(base, population, sample, tagged=tagged)
        return _measure(base, paths, work, load, ("sekmet", "sqlite", 1))


def _ratio(value: float, baseline: float, digits: int) -> float | None:
    """None where the peer completed no request in the measured seconds (its payer pages at
    a large size take longer than a short run): no ratio can be given, and the report says so."""
    return round(value / baseline, digits) if baseline else None


def _figures(
    args: argparse.Namespace,
    population: Population,
    load: Load,
    loading: dict[str, float],
    runs: list[Run],
) -> dict[str, Any]:
    peer = {run.scenario: run.result for run in runs if run.server == "sekmet"}
    comparisons = []
    for run in runs:
        baseline = peer.get(run.scenario)
        if run.server == "sekmet" or baseline is None:
            continue
        comparisons.append(
            {
                "scenario": run.scenario,
                "fhir_sync": f"{run.database}, {run.workers} process(es)",
                "throughput_ratio": _ratio(
                    run.result.requests_per_second, baseline.requests_per_second, 1
                ),
                "p99_ratio": _ratio(run.result.p99_ms, baseline.p99_ms, 3),
            }
        )
    return {
        "patients": population.patients,
        "payers": population.payers,
        "auth": _AUTH_NOTES[args.auth],
        "payer_pages": _PAGES_NOTES[args.auth],
        "load_generator": f"wrk, {load.threads} thread(s), {load.connections} connections, "
        f"{load.seconds:.0f} s per scenario after {load.warmup_seconds:.0f} s warm-up",
        "cpus": os.cpu_count(),
        "loading_seconds": loading,
        "runs": [
            {
                "server": run.server,
                "database": run.database,
                "workers": run.workers,
                "scenario": run.scenario,
                "load_average_before": run.load_average_before,
                **asdict(run.result),
            }
            for run in runs
        ],
        "comparisons": comparisons,
        "arguments": {key: str(value) for key, value in vars(args).items()},
    }


_AUTH_NOTES: Final = {
    "tokens": "fhir-sync: bearer tokens (EHR client; payer client for the pages), audit on; "
    "sekmet: no authorization",
    "off": "off: every caller is the anonymous pharmacy (FHIR_SYNC_AUTH=0), audit on",
}
_PAGES_NOTES: Final = {
    "tokens": "one payer's CarePlans (its token filters to its members); sekmet: _tag",
    "off": "all CarePlans, paged to a payer's depth, on both servers",
}


def _markdown(figures: dict[str, Any]) -> str:
    lines = [
        "| server | database | processes | scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in figures["runs"]:
        lines.append(
            f"| {run['server']} | {run['database']} | {run['workers']} | {run['scenario']} | "
            f"{run['requests_per_second']:.0f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
            f"{run['errors']} |"
        )
    lines += [
        "",
        "| scenario | fhir-sync | throughput / sekmet | p99 / sekmet |",
        "|---|---|---|---|",
    ]
    for item in figures["comparisons"]:
        ratio = item["throughput_ratio"]
        shown = "no peer request completed" if ratio is None else f"{ratio}x"
        lines.append(
            f"| {item['scenario']} | {item['fhir_sync']} | {shown} | {item['p99_ratio'] or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
