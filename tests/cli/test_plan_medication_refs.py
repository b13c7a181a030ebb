"""`fhir-sync plan` reads Medications present in its input files and uses them for the orders
that name them by reference, as it uses a contained one, wherever the Medication is in the
input (before or after the order, another file) and however many workers share the work.

Worked example (docs/dispensing-rules.md, "Where the facts come from"; domain.md section 7):
atorvastatin 20 mg once a day, the Medication says 20 MG per Oral Tablet, so the daily dose
is 20 mg / 20 mg per tablet = 1 tablet; the patient was never dispensed it, so everything is
filled now for a full 30-day cycle: 30 x 1 = 30 tablets, and 30 tablets every cycle after.
Without the Medication, a dose in mg with nothing saying what is dispensed is left out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_sync.engine import Preferences
from fhir_sync.planning.run import plan_files
from mappings.profile import EXT_CYCLE_QUANTITY
from tests.sync.test_medication_fetch import atorvastatin, order

TODAY = date(2026, 3, 2)
PATIENT = {"resourceType": "Patient", "id": "p1"}


def _write(path: Path, resources: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))


def _details(out: Path) -> dict[str, dict[str, Any]]:
    bundle = orjson.loads((out / "p1.json").read_bytes())
    careplan = bundle["entry"][0]["resource"]
    return {
        a["detail"]["productCodeableConcept"].get("text", ""): a["detail"]
        for a in careplan.get("activity", [])
        if "detail" in a
    }


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("medication_first", [True, False])
def test_a_medication_in_the_files_sizes_the_order_that_references_it(
    tmp_path: Path, jobs: int, medication_first: bool
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    referencing = order("rx1", "atorva")
    resources = [PATIENT, referencing, atorvastatin()]
    if medication_first:
        resources = [PATIENT, atorvastatin(), referencing]
    _write(src / "all.ndjson", resources)
    out = tmp_path / "out"

    report = plan_files([src], out, TODAY, Preferences(), jobs=jobs)

    assert report.synced == 1
    (detail,) = _details(out).values()
    assert detail["status"] == "scheduled"
    assert detail["quantity"]["value"] == 30  # 30 days x 1 tablet (20 mg / 20 mg per tablet)
    assert detail["quantity"]["unit"] == "tablet"
    cycle = next(e["valueQuantity"] for e in detail["extension"] if e["url"] == EXT_CYCLE_QUANTITY)
    assert cycle["value"] == 30


def test_without_the_medication_the_order_is_left_out_naming_what_is_missing(
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "all.ndjson", [PATIENT, order("rx1", "atorva")])

    report = plan_files([src], tmp_path / "out", TODAY, Preferences())

    assert report.synced == 0
    (detail,) = _details(tmp_path / "out").values()
    assert detail["status"] == "not-started"
    assert "the dose is in mg" in detail["statusReason"]["text"]
