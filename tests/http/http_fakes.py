"""Fakes and FHIR document builders for the HTTP client unit tests."""

from __future__ import annotations

import time
from typing import Any

BASE = "https://ehr.example.test/fhir"


class SleepRecorder:
    """Stands in for asyncio.sleep: records the requested delays and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FakeClock:
    """Wall clock that only moves when told; starts at the real time so JWTs validate."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now


def bundle(
    resources: list[dict[str, Any]],
    *,
    next_url: str | None = None,
    included: list[dict[str, Any]] | None = None,
    total: int | None = None,
    last_updated: str | None = None,
) -> dict[str, Any]:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included or []]
    doc: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    doc["link"] = [{"relation": "self", "url": f"{BASE}/x"}]
    if next_url:
        doc["link"].append({"relation": "next", "url": next_url})
    if total is not None:
        doc["total"] = total
    if last_updated:
        doc["meta"] = {"lastUpdated": last_updated}
    return doc


def outcome(
    code: str = "exception", diagnostics: str = "Patient/secret-123 broke"
) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def med_request(
    rid: str, updated: str = "2024-01-01T00:00:00.000Z", version: str = "1"
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "meta": {"versionId": version, "lastUpdated": updated},
        "status": "active",
    }
