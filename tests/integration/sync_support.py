"""Shared by the sync integration tests: test data for the peers, the CLI, reading plans back.

Plans are read back with fhirpy (a third-party FHIR client), not with fhir-sync's own client,
so the tests see what another system reading the EHR would see.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from fhirpy import AsyncFHIRClient
from typer.testing import CliRunner

from bench.peer_loading import load_resources, ndjson_resources
from fhir_sync.cli import app
from fhir_sync.datagen import generate
from mappings.profile import (
    EXT_ANCHOR_DATE,
    EXT_PLAN_DIGEST,
    SID_RENEWAL_TASK,
    SID_SYNC_APPOINTMENT,
    SID_SYNC_PLAN,
)
from tests.conftest import shared_data

Resource = dict[str, Any]
runner = CliRunner()


def generated(patients: int, seed: int, today: date) -> list[Resource]:
    """Patients, orders and fills from the project's generator (no deliberately bad records)."""
    return [orjson.loads(line) for _, line in generate(patients, seed, today, bad_records=False)]


def clinosim(patients: int) -> list[Resource]:
    """The first `patients` clinosim patients and all their MedicationRequests (no fills)."""
    folder = shared_data("clinosim-r4")
    chosen = list(itertools.islice(ndjson_resources(folder / "Patient.ndjson"), patients))
    subjects = {f"Patient/{p['id']}" for p in chosen}
    orders = [
        r
        for r in ndjson_resources(folder / "MedicationRequest.ndjson")
        if r["subject"]["reference"] in subjects
    ]
    return chosen + orders


def load(base_url: str, resources: Iterable[Resource], token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return load_resources(base_url, resources, batch=300, headers=headers)


def patient_ids(resources: Iterable[Resource]) -> list[str]:
    return sorted(r["id"] for r in resources if r["resourceType"] == "Patient")


def sync_cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sync", *args])
    return result.exit_code, result.output


def summary_counts(output: str) -> dict[str, int]:
    """The summary table's rows as {label: count} (rows whose value is a number)."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            counts[cells[0]] = int(cells[1])
    return counts


def identifier_value(resource: Resource, system: str) -> str | None:
    for item in resource.get("identifier") or []:
        if item.get("system") == system:
            return str(item.get("value"))
    return None


def extension(resource: Resource, url: str) -> Any:
    for item in resource.get("extension") or []:
        if item.get("url") == url:
            return next(v for k, v in item.items() if k.startswith("value"))
    return None


@dataclass
class Written:
    """What the server holds of fhir-sync's output, as a third-party client reads it."""

    careplans: list[Resource] = field(default_factory=list)
    appointments: list[Resource] = field(default_factory=list)
    tasks: list[Resource] = field(default_factory=list)

    def by_identifier(self, kind: str) -> dict[str, Resource]:
        resources, system = self._of(kind)
        return {identifier_value(r, system) or "": r for r in resources}

    def duplicates(self) -> dict[str, list[str]]:
        """Identifier values held by more than one resource, per type (must stay empty)."""
        out: dict[str, list[str]] = {}
        for kind in ("CarePlan", "Appointment", "Task"):
            resources, system = self._of(kind)
            counts = Counter(identifier_value(r, system) for r in resources)
            dupes = sorted(str(v) for v, n in counts.items() if n > 1)
            if dupes:
                out[kind] = dupes
        return out

    def versions(self) -> dict[str, str]:
        """`<type>|<identifier value>` -> versionId of everything written."""
        out = {}
        for kind in ("CarePlan", "Appointment", "Task"):
            resources, system = self._of(kind)
            for r in resources:
                out[f"{kind}|{identifier_value(r, system)}"] = r["meta"]["versionId"]
        return out

    def _of(self, kind: str) -> tuple[list[Resource], str]:
        return {
            "CarePlan": (self.careplans, SID_SYNC_PLAN),
            "Appointment": (self.appointments, SID_SYNC_APPOINTMENT),
            "Task": (self.tasks, SID_RENEWAL_TASK),
        }[kind]


def read_back(base_url: str, token: str | None = None) -> Written:
    """Every CarePlan, Appointment and Task with a fhir-sync identifier, via fhirpy."""

    async def fetch(kind: str, system: str) -> list[Resource]:
        client = AsyncFHIRClient(base_url, authorization=f"Bearer {token}" if token else None)
        found = await client.resources(kind).search(identifier=f"{system}|").limit(500).fetch_all()
        return [r.serialize() for r in found]

    async def everything() -> Written:
        careplans, appointments, tasks = await asyncio.gather(
            fetch("CarePlan", SID_SYNC_PLAN),
            fetch("Appointment", SID_SYNC_APPOINTMENT),
            fetch("Task", SID_RENEWAL_TASK),
        )
        return Written(careplans, appointments, tasks)

    return asyncio.run(everything())


def plan_files(resources: Iterable[Resource], folder: Path) -> Path:
    """The resources as NDJSON files, the orders as a per-patient search returns them
    (active and on-hold only), for `fhir-sync plan` to compare against."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[bytes]] = {}
    for r in resources:
        if r["resourceType"] == "MedicationRequest" and r.get("status") not in (
            "active",
            "on-hold",
        ):
            continue
        by_type.setdefault(r["resourceType"], []).append(orjson.dumps(r))
    for kind, lines in by_type.items():
        (folder / f"{kind}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def planned_bundles(folder: Path) -> dict[str, Resource]:
    return {p.stem: orjson.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))}


def entries(bundle: Resource, kind: str) -> Iterator[Resource]:
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == kind:
            yield entry["resource"]


__all__ = [
    "EXT_ANCHOR_DATE",
    "EXT_PLAN_DIGEST",
    "SID_RENEWAL_TASK",
    "SID_SYNC_APPOINTMENT",
    "SID_SYNC_PLAN",
]
