"""The whole `fhir-sync plan` pipeline over the shared real-world-shaped data sets: every
quantity written is one a pharmacy can hand over (never mg, puffs, drops or insulin units),
and what cannot be sized is left out saying what is missing."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_sync.engine import Preferences
from fhir_sync.engine.units import DOSE_ONLY, canonical
from fhir_sync.planning.run import plan_files
from mappings.profile import EXT_CYCLE_QUANTITY
from tests.conftest import shared_data

# Each set's own present: clinosim's prescriptions were written in 2025 and expire in 2026.
TODAY = {"synthea-r4": date(2026, 11, 22), "clinosim-r4": date(2025, 7, 1)}
# Clinosim names inhalers and depot injections by ingredient only (no strength or device).
CLINOSIM_DEVICES = ("tiotropium", "fluticasone", "salbutamol", "albuterol", "leuprorelin")


def _activities(out: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(out.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        careplan = bundle["entry"][0]["resource"]
        found.extend(a["detail"] for a in careplan.get("activity", []) if "detail" in a)
    return found


def _quantities(detail: dict[str, Any]) -> list[dict[str, Any]]:
    cycle = next(e["valueQuantity"] for e in detail["extension"] if e["url"] == EXT_CYCLE_QUANTITY)
    return [detail["quantity"], cycle, detail.get("dailyAmount", {})]


@pytest.mark.parametrize("data_set", ["synthea-r4", "clinosim-r4"])
def test_no_synced_quantity_is_in_a_dose_unit(data_set: str, tmp_path: Path) -> None:
    report = plan_files([Path(shared_data(data_set))], tmp_path, TODAY[data_set], Preferences())
    activities = _activities(tmp_path)
    assert report.patients > 0 and len(activities) == report.synced + report.not_synced
    units: Counter[str] = Counter()
    for detail in activities:
        if detail["status"] != "scheduled":
            continue
        name = detail["productCodeableConcept"].get("text", "").lower()
        for quantity in _quantities(detail):
            unit = quantity.get("unit")
            units[str(unit)] += 1
            assert canonical(unit) not in DOSE_ONLY, (name, quantity)
        value = detail["quantity"]["value"]
        if any(word in name for word in CLINOSIM_DEVICES):
            assert float(value).is_integer(), (name, detail["quantity"])  # whole devices
    # Before this rule clinosim's community orders (dose in mg, no strength, no quantity) were
    # synced as "300 mg"; now each is left out naming what is missing.
    left_out = [
        d["statusReason"]["text"]
        for d in activities
        if d["status"] == "not-started" and "cannot size a dispense" in d["statusReason"]["text"]
    ]
    assert len(left_out) == report.reasons.get("no-dispense-unit", 0)
    if data_set == "clinosim-r4":
        assert left_out, "clinosim's mg doses without strengths must be left out, not guessed"
        assert all(
            "nothing says what is dispensed" in r or "no amount" in r or "no frequency" in r
            for r in left_out
        )


def test_every_generated_form_is_planned_in_its_dispense_unit(tmp_path: Path) -> None:
    """The demo fixtures hold pens, inhalers, drops, blisters, kits, patches, mg-dosed tablets
    and solutions: each synced one is in its dispense unit and whole packages stay whole."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
    report = plan_files([fixtures], tmp_path, date(2026, 11, 22), Preferences())
    units: Counter[str] = Counter()
    for detail in _activities(tmp_path):
        if detail["status"] != "scheduled":
            continue
        for quantity in _quantities(detail):
            assert canonical(quantity.get("unit")) not in DOSE_ONLY, quantity
        units[detail["quantity"]["unit"]] += 1
        package = next(
            (e["extension"] for e in detail["extension"] if e["url"].endswith("/package")), None
        )
        if package is not None:
            size = next(p["valueQuantity"]["value"] for p in package if p["url"] == "size")
            assert (detail["quantity"]["value"] / size) % 1 == 0, detail  # whole packages
    assert report.synced > 0
    assert {"tablet", "mL", "inhaler"} <= set(units), units
