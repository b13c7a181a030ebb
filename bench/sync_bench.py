"""`fhir-sync sync` end to end against a bare-HTTP baseline doing the same requests.

A sekmet peer is loaded once with N generated patients (orders and a year of fills), through
large transactions with validation off, into an SQLite file on /dev/shm; each measured run gets
its own copy of that file behind its own sekmet process (validation on, as a real EHR), so the
sync and the baseline start from the same state.

* **sync**: `python -m fhir_sync sync --ehr <copy A>` as a subprocess (start-up included):
  lists the Patients, and per patient searches orders, fills and the stored CarePlan, plans,
  and POSTs one transaction Bundle.
* **baseline**: a bare `httpx.AsyncClient` at the same concurrency sends the same requests to
  copy B: the same Patient pages, the same three searches per patient (at once, as the sync
  does), following next links, and POSTs the very Bundles the sync writes (taken from a
  `--dry-run` on copy B beforehand). No mapping, no planning, no checks.

The ratio sync / baseline is what fhir-sync costs on top of the HTTP work the job needs.

    python -m bench.sync_bench --patients 2000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.peer_loading import load_resources
from bench.server_processes import sekmet_serve
from fhir_sync.datagen import generate
from mappings.profile import SID_SYNC_PLAN

TODAY = date(2026, 3, 2)
SEED = 1
ORDER_STATUSES = "active,on-hold"
SEARCH_HEADERS = {
    "Accept": "application/fhir+json",
    "Prefer": "handling=strict",
    "User-Agent": "baseline",
}
Params = list[tuple[str, str]]
POST_HEADERS = {
    "Accept": "application/fhir+json",
    "Content-Type": "application/fhir+json",
    "Prefer": "return=representation",
    "User-Agent": "baseline",
}


def scratch_dir() -> Path:
    """On tmpfs when there is one: the peers' SQLite commits then measure sekmet, not a disk."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="sync-bench-", dir=shm if shm.is_dir() else None))


def load_seed_db(work: Path, patients: int) -> tuple[Path, int, float]:
    """The loaded database file, the number of resources and the seconds loading took."""
    resources = (
        orjson.loads(line) for _, line in generate(patients, SEED, TODAY, bad_records=False)
    )
    db = work / "seed.db"
    with sekmet_serve(work / "loader", db, validation={"inbound": "off"}) as peer:
        start = time.perf_counter()
        count = load_resources(peer, resources, batch=1000, timeout=600)
        seconds = time.perf_counter() - start
    # sekmet runs SQLite in WAL mode and is stopped without a checkpoint: fold the log into
    # the file, or copies of the file would lack the last transactions.
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, count, seconds


def copy_db(seed: Path, name: str) -> Path:
    target = seed.with_name(f"{name}.db")
    shutil.copyfile(seed, target)
    return target


def run_sync(base_url: str, concurrency: int, page_size: int, dry_run: Path | None = None) -> float:
    command = [
        sys.executable,
        "-m",
        "fhir_sync",
        "sync",
        "--ehr",
        base_url,
        "--today",
        TODAY.isoformat(),
        "--concurrency",
        str(concurrency),
        "--page-size",
        str(page_size),
    ]
    if dry_run is not None:
        command += ["--dry-run", str(dry_run)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"fhir-sync sync failed ({result.returncode}):\n{result.stdout.decode()}"
            f"\n{result.stderr.decode()}"
        )
    return seconds


def compact_bundles(folder: Path) -> dict[str, bytes]:
    """Patient id -> the Bundle as the sync POSTs it (compact JSON)."""
    return {
        path.stem: orjson.dumps(orjson.loads(path.read_bytes())) for path in folder.glob("*.json")
    }


async def baseline(
    base_url: str, bundles: dict[str, bytes], concurrency: int, page_size: int
) -> float:
    """Seconds for the same requests with a bare client; see the module docstring."""
    size = concurrency + 2
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    permits = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120.0, limits=limits) as http:

        async def get(url: str, params: Params | None = None) -> dict[str, Any]:
            async with permits:
                response = await http.get(
                    url, params=tuple(params) if params else None, headers=SEARCH_HEADERS
                )
            response.raise_for_status()
            body: dict[str, Any] = orjson.loads(response.content)
            return body

        async def pages(kind: str, params: Params) -> list[dict[str, Any]]:
            found = [await get(f"{base_url}/{kind}", params)]
            while (link := _next_link(found[-1])) is not None:
                found.append(await get(link))
            return found

        async def one_patient(patient_id: str) -> None:
            subject = f"Patient/{patient_id}"
            await asyncio.gather(
                pages(
                    "MedicationRequest",
                    [
                        ("patient", subject),
                        ("status", ORDER_STATUSES),
                        ("_include", "MedicationRequest:medication"),
                        ("_count", str(page_size)),
                    ],
                ),
                pages(
                    "MedicationDispense",
                    [
                        ("patient", subject),
                        ("_include", "MedicationDispense:medication"),
                        ("_count", str(page_size)),
                    ],
                ),
                pages(
                    "CarePlan", [("identifier", f"{SID_SYNC_PLAN}|{patient_id}"), ("_count", "2")]
                ),
            )
            async with permits:
                response = await http.post(
                    base_url, content=bundles[patient_id], headers=POST_HEADERS
                )
            response.raise_for_status()

        start = time.perf_counter()
        await get(f"{base_url}/metadata")
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=concurrency * 2)

        async def worker() -> None:
            while (patient_id := await queue.get()) is not None:
                await one_patient(patient_id)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        page = await get(f"{base_url}/Patient", [("_count", str(page_size))])
        while True:
            for entry in page.get("entry", []):
                await queue.put(entry["resource"]["id"])
            link = _next_link(page)
            if link is None:
                break
            page = await get(link)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        return time.perf_counter() - start


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            return str(link["url"])
    return None


def careplans(base_url: str) -> int:
    response = httpx.get(
        f"{base_url}/CarePlan",
        params={"identifier": f"{SID_SYNC_PLAN}|", "_count": "1"},
        timeout=60,
    )
    response.raise_for_status()
    return int(orjson.loads(response.content)["total"])


def measure_round(
    work: Path, seed_db: Path, number: int, patients: int, concurrency: int, page_size: int
) -> dict[str, float]:
    """One baseline run and one sync run, each on a fresh copy of the loaded database."""
    base_db, sync_db = copy_db(seed_db, f"base{number}"), copy_db(seed_db, f"sync{number}")
    bundles_dir = work / f"bundles{number}"
    with (
        sekmet_serve(work / f"base{number}", base_db) as base,
        sekmet_serve(work / f"sync{number}", sync_db) as synced,
    ):
        # The same warm-up on both peers: a dry run reads what a run reads and writes nothing.
        run_sync(base, concurrency, page_size, dry_run=bundles_dir)
        run_sync(synced, concurrency, page_size, dry_run=work / f"warm{number}")
        bundles = compact_bundles(bundles_dir)
        if len(bundles) != patients:
            raise SystemExit(f"the dry run planned {len(bundles)} of {patients} patients")
        print(f"round {number}: baseline...", file=sys.stderr)
        base_seconds = asyncio.run(baseline(base, bundles, concurrency, page_size))
        print(f"round {number}: fhir-sync sync...", file=sys.stderr)
        sync_seconds = run_sync(synced, concurrency, page_size)
        written = careplans(base), careplans(synced)
        if written != (patients, patients):
            raise SystemExit(f"CarePlans written (baseline, sync): {written}, expected {patients}")
    return {"baseline_seconds": base_seconds, "sync_seconds": sync_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1, help="baseline/sync pairs; medians")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    work = scratch_dir()
    try:
        print(f"loading {args.patients} generated patients into sekmet...", file=sys.stderr)
        seed_db, resources, load_seconds = load_seed_db(work, args.patients)
        rounds = [
            measure_round(work, seed_db, n, args.patients, args.concurrency, args.page_size)
            for n in range(1, args.rounds + 1)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(r["baseline_seconds"] for r in rounds)
    sync = statistics.median(r["sync_seconds"] for r in rounds)
    figures = {
        "patients": args.patients,
        "resources_loaded": resources,
        "load_seconds": round(load_seconds, 1),
        "concurrency": args.concurrency,
        "page_size": args.page_size,
        "rounds": len(rounds),
        "baseline_seconds": round(base, 2),
        "baseline_patients_per_second": round(args.patients / base, 1),
        "sync_seconds": round(sync, 2),
        "sync_patients_per_second": round(args.patients / sync, 1),
        # Each round's pair ran back to back under the same machine load: the median of the
        # per-round ratios is steadier than the ratio of the medians.
        "ratio": round(
            statistics.median(r["sync_seconds"] / r["baseline_seconds"] for r in rounds), 3
        ),
        "ratio_of_medians": round(sync / base, 3),
        "all_rounds": [
            {
                **{k: round(v, 2) for k, v in r.items()},
                "ratio": round(r["sync_seconds"] / r["baseline_seconds"], 3),
            }
            for r in rounds
        ],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
