"""The daily cycle run (`fhir-sync cycle run`) for N enrolled patients against the pure
engine derivation of the same days, measured in the same run.

* **run**: `run_cycle_day` on a migrated database (SQLite file, or PostgreSQL with
  `--postgres URL`): reads every active enrollment and its cycle facts in batches, derives the
  day, inserts the new items and stores the facts, one transaction per batch.
* **baseline**: the same derivation (`derive_and_roll`) over the same facts, in memory, for
  the same day: the rules' own cost, with no database.

The ratio run / baseline is what storing the cycle costs on top of deciding it. The first day
(every enrollment's facts created) is reported apart from the steady days that follow.

    python -m bench.cycle_bench --patients 10000 [--days 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from fhir_sync.services.cycle_facts import load_facts
from fhir_sync.services.cycle_run import cycle_settings_of, derive_and_roll, run_cycle_day
from fhir_sync.store import cycle as store
from fhir_sync.store.database import open_engine
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.tables import Enrollment

START = date(2027, 1, 1)


def enroll_patients(url: str, patients: int) -> None:
    """`patients` active enrollments `b0000000`... on a migrated database, the i-th anchored
    on START + i % 30 (one cycle's pickups spread over its days)."""
    engine = open_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [
        {
            "patient_id": f"b{i:07d}",
            "status": "active",
            "cycle_days": 30,
            "anchor_date": START + timedelta(days=i % 30),
            "closed_weekdays": "",
            "lead_days": 7,
            "enrolled_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i in range(patients)
    ]
    with engine.begin() as connection:
        for i in range(0, len(rows), 5000):
            connection.execute(insert(ENROLLMENT), rows[i : i + 5000])
    engine.dispose()


def _baseline(url: str, day: date) -> float:
    """The pure derivation of `day` for every stored enrollment's facts (read beforehand)."""
    engine = open_engine(url)
    with engine.connect() as connection:
        rows = [Enrollment(**r) for r in connection.execute(ENROLLMENT.select()).mappings().all()]
        states = store.get_states(connection, [r.patient_id for r in rows])
    engine.dispose()
    work = [(load_facts(states[r.patient_id].facts), cycle_settings_of(r)) for r in rows]
    began = time.perf_counter()
    for facts, settings in work:
        derive_and_roll(facts, day, day, settings)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite:///{Path(folder) / 'cycle.sqlite3'}"
        enroll_patients(url, args.patients)
        engine = open_engine(url)
        began = time.perf_counter()
        first = run_cycle_day(engine, START)
        first_seconds = time.perf_counter() - began
        runs, baselines, created = [], [], first.items_created
        for offset in range(1, args.days + 1):
            day = START + timedelta(days=offset)
            began = time.perf_counter()
            summary = run_cycle_day(engine, day)
            runs.append(time.perf_counter() - began)
            created += summary.items_created
            baselines.append(_baseline(url, day))
        began = time.perf_counter()
        rerun = run_cycle_day(engine, START + timedelta(days=args.days))
        rerun_seconds = time.perf_counter() - began
        engine.dispose()
    steady = sum(runs) / len(runs)
    baseline = sum(baselines) / len(baselines)
    print(
        json.dumps(
            {
                "database": "postgresql" if args.postgres else "sqlite",
                "patients": args.patients,
                "first_day_s": round(first_seconds, 2),
                "steady_day_s": round(steady, 2),
                "baseline_day_s": round(baseline, 3),
                "ratio": round(steady / baseline, 1),
                "rerun_day_s": round(rerun_seconds, 2),
                "rerun_items_created": rerun.items_created,
                "items_created": created,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
