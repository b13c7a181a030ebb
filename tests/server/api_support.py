"""Test data and helpers for the API tests: demo patients as $enroll Parameters."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from datetime import date, timedelta
from functools import cache
from typing import Any

import pytest

from tests.conftest import FIXTURES

TODAY = date(2026, 11, 22)
JsonObject = dict[str, Any]


@cache
def demo_resources() -> dict[str, tuple[JsonObject, ...]]:
    """patient id -> the Patient, MedicationRequests and MedicationDispenses of the demo set."""
    by_patient: dict[str, list[JsonObject]] = defaultdict(list)
    for name in ("Patient", "MedicationRequest", "MedicationDispense"):
        for line in (FIXTURES / "demo" / f"{name}.ndjson").read_text().splitlines():
            resource = json.loads(line)
            if name == "Patient":
                owner = resource["id"]
            else:
                owner = resource["subject"]["reference"].removeprefix("Patient/")
            by_patient[owner].append(resource)
    return {pid: tuple(items) for pid, items in sorted(by_patient.items())}


def demo_patients() -> list[str]:
    return list(demo_resources())


def data_bundle(patient_id: str) -> JsonObject:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in demo_resources()[patient_id]],
    }


def parameters(*parts: JsonObject) -> JsonObject:
    return {"resourceType": "Parameters", "parameter": list(parts)}


def enroll_body(patient_id: str, *extra: JsonObject) -> JsonObject:
    return parameters(*extra, {"name": "resource", "resource": data_bundle(patient_id)})


def resources_of(bundle: JsonObject, kind: str | None = None) -> list[JsonObject]:
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if kind is None or entry["resource"]["resourceType"] == kind
    ]


def break_reads_by_id(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """Make every read by id fail with a RuntimeError(message), on either database (SQLite
    reads through the store's function, PostgreSQL through the async reads)."""

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(message)

    async def explode_async(*_args: object, **_kwargs: object) -> None:
        explode()

    monkeypatch.setattr("fhir_sync.api.read_routes.fetch_resource", explode)
    monkeypatch.setattr("fhir_sync.store.async_reads.AsyncReads.fetch_resource", explode_async)


def renewed_bundle(bundle: JsonObject, order_id: str, day: date) -> JsonObject:
    """`bundle` where the prescriber answered the renewal of `order_id` on `day`: a new
    prescription for the same drug (`<order>-r`, a year of refills) and the old one completed
    (../shared/domain.md section 1: a renewal is a new prescription for the same therapy)."""
    renewed = copy.deepcopy(bundle)
    old = next(e["resource"] for e in renewed["entry"] if e["resource"].get("id") == order_id)
    new = copy.deepcopy(old)
    new["id"] = f"{order_id}-r"
    new["identifier"] = [{"system": "https://fhir-sync.org/sid/demo-rx", "value": "3006r"}]
    new["authoredOn"] = day.isoformat()
    validity = new["dispenseRequest"].setdefault("validityPeriod", {})
    validity["start"] = day.isoformat()
    validity["end"] = (day + timedelta(days=365)).isoformat()
    new["dispenseRequest"]["numberOfRepeatsAllowed"] = 11
    old["status"] = "completed"
    renewed["entry"].append({"resource": new})
    return renewed
