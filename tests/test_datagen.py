"""The synthetic data generator: deterministic, valid FHIR R4B, and realistic enough to test on.

Rates are checked on a few hundred patients with bounds wide enough to survive a change of
weights, but narrow enough to catch a scenario that silently disappeared or took over.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient

from fhir_sync.datagen import DatasetStats, generate, write_dataset
from fhir_sync.datagen import __main__ as cli
from fhir_sync.datagen.catalog import ALL_DRUGS, Kind

TODAY = date(2026, 11, 22)
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z))?")
REQUEST_STATUSES = {
    "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
    "unknown",
}  # fmt: skip
DISPENSE_STATUSES = {
    "preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error",
    "stopped", "declined", "unknown",
}  # fmt: skip
SCHEDULE = "https://fhir-sync.org/StructureDefinition/controlled-substance-schedule"
PACKAGE = "https://fhir-sync.org/StructureDefinition/package-size"
MAINTENANCE_CODES = {d.code for d in ALL_DRUGS if d.kind is Kind.MAINTENANCE and d.schedule is None}

JSON = dict[str, Any]


@dataclass
class Dataset:
    """Parsed lines; bad lines are sorted out by the same tests an importer would apply."""

    lines: int = 0
    patients: dict[str, JSON] = field(default_factory=dict)
    requests: list[JSON] = field(default_factory=list)
    dispenses: list[JSON] = field(default_factory=list)
    bad: Counter[str] = field(default_factory=Counter)

    @property
    def orders(self) -> list[JSON]:
        """Well-formed orders for a known patient with a valid status."""
        return [r for r in self.requests if _problem(r, self.patients) is None]

    @property
    def fills(self) -> list[JSON]:
        """Well-formed dispenses."""
        return [d for d in self.dispenses if _problem(d, self.patients) is None]


def _problem(resource: JSON, patients: dict[str, JSON]) -> str | None:
    kind = resource["resourceType"]
    if kind == "MedicationRequest":
        if "subject" not in resource:
            return "request-without-subject"
        if resource["subject"]["reference"].removeprefix("Patient/") not in patients:
            return "request-for-unknown-patient"
        if resource["status"] not in REQUEST_STATUSES:
            return "request-with-invalid-status"
    if kind == "MedicationDispense":
        handed = resource.get("whenHandedOver")
        if handed is not None and not DATE_TIME.fullmatch(handed):
            return "dispense-with-non-date"
        if resource["status"] not in DISPENSE_STATUSES:
            return "dispense-with-invalid-status"
    return None


def parse(lines: Iterable[tuple[str, bytes]]) -> Dataset:
    data = Dataset()
    for resource_type, line in lines:
        data.lines += 1
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError:
            data.bad["invalid-json"] += 1
            continue
        assert resource["resourceType"] == resource_type
        if resource_type == "Patient":
            data.patients[resource["id"]] = resource
        elif resource_type == "MedicationRequest":
            data.requests.append(resource)
        else:
            data.dispenses.append(resource)
    for resource in data.requests + data.dispenses:
        problem = _problem(resource, data.patients)
        if problem is not None:
            data.bad[problem] += 1
    return data


@pytest.fixture(scope="module")
def small() -> Dataset:
    return parse(generate(50, 11, TODAY))


@pytest.fixture(scope="module")
def large() -> Dataset:
    return parse(generate(500, 3, TODAY))


def _code(resource: JSON) -> str:
    code: str = resource["medicationCodeableConcept"]["coding"][0]["code"]
    return code


def _day(stamp: str) -> date:
    return date.fromisoformat(stamp[:10])


def _coded(resource: JSON, element: str) -> str | None:
    value = resource.get(element)
    if value is None:
        return None
    code: str = value["coding"][0]["code"]
    return code


def _extension(resource: JSON, url: str) -> Any:
    for extension in resource.get("extension", []):
        if extension["url"] == url:
            return extension.get("valueCode", extension.get("valueQuantity"))
    return None


def _counted_fills(data: Dataset) -> Counter[str]:
    """Fills per order, a partial fill and its completion counting once."""
    return Counter(
        d["authorizingPrescription"][0]["reference"].removeprefix("MedicationRequest/")
        for d in data.fills
        if d["status"] == "completed" and _coded(d, "type") not in ("FFC", "RFC")
    )


# Determinism and files


def test_same_seed_and_day_give_identical_bytes(tmp_path: Path) -> None:
    first = write_dataset(tmp_path / "a", 30, 5, TODAY)
    second = write_dataset(tmp_path / "b", 30, 5, TODAY)
    assert first == second
    for name in ("Patient", "MedicationRequest", "MedicationDispense"):
        assert (tmp_path / "a" / f"{name}.ndjson").read_bytes() == (
            tmp_path / "b" / f"{name}.ndjson"
        ).read_bytes()


def test_files_hold_exactly_what_generate_yields(tmp_path: Path) -> None:
    seen: list[int] = []
    stats = write_dataset(tmp_path, 12, 5, TODAY, progress=seen.append)
    assert seen == list(range(1, 13))
    expected: dict[str, list[bytes]] = defaultdict(list)
    for resource_type, line in generate(12, 5, TODAY):
        expected[resource_type].append(line)
    for name, lines in expected.items():
        assert (tmp_path / f"{name}.ndjson").read_bytes() == b"".join(x + b"\n" for x in lines)
    assert stats == DatasetStats(
        patients=12,
        medication_requests=len(expected["MedicationRequest"]),
        medication_dispenses=len(expected["MedicationDispense"]),
        bad_lines=1,
        bytes=sum(len(x) + 1 for lines in expected.values() for x in lines),
    )
    assert not list(tmp_path.glob("*.partial"))


def test_other_seed_or_day_changes_the_data_but_patients_do_not_depend_on_count() -> None:
    base = list(generate(20, 5, TODAY))
    assert base != list(generate(20, 6, TODAY))
    assert base != list(generate(20, 5, TODAY - timedelta(days=1)))
    assert list(generate(40, 5, TODAY))[: len(base)] == base


def test_committed_demo_fixture_is_what_the_documented_command_writes(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
    write_dataset(tmp_path, 20, 7, date(2026, 11, 22), bad_records=False)
    for name in ("Patient", "MedicationRequest", "MedicationDispense"):
        assert (demo / f"{name}.ndjson").read_bytes() == (
            tmp_path / f"{name}.ndjson"
        ).read_bytes(), (
            "fixtures/demo is stale: run fhir-sync generate --patients 20 --seed 7 "
            "--today 2026-11-22 --no-bad-records --out fixtures/demo"
        )


def test_no_bad_records_when_switched_off() -> None:
    data = parse(generate(60, 11, TODAY, bad_records=False))
    assert not data.bad


def test_module_entry_point_writes_the_files(tmp_path: Path) -> None:
    argv = ["--patients", "3", "--seed", "2", "--today", "2026-11-22", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert len((tmp_path / "Patient.ndjson").read_bytes().splitlines()) == 3


def test_generator_stays_independent_of_engine_mappings_and_adapters() -> None:
    """It must describe what EHRs send, so it may not borrow our own parsing or rules."""
    code = (
        "import sys, fhir_sync.datagen, fhir_sync.datagen.__main__; "
        "print([m for m in sys.modules if m.startswith(('fhir_sync.engine', 'mappings', "
        "'adapters', 'fhir.resources'))])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# Validity


def test_every_well_formed_resource_validates_as_r4b(small: Dataset) -> None:
    for resource in small.patients.values():
        Patient.model_validate(resource)
    for resource in small.orders:
        MedicationRequest.model_validate(resource)
    for resource in small.fills:
        MedicationDispense.model_validate(resource)
    assert len(small.orders) > 200
    assert len(small.fills) > 800


def test_ids_identifiers_and_references(small: Dataset) -> None:
    resources = [*small.patients.values(), *small.requests, *small.dispenses]
    ids = [r["id"] for r in resources]
    assert len(ids) == len(set(ids))
    for resource in resources:
        assert ID.fullmatch(resource["id"])
        assert resource["identifier"]
        for identifier in resource["identifier"]:
            assert identifier["system"].startswith("https://fhir-sync.org/sid/demo-")
    for order in small.orders:
        assert order["requester"]["reference"].startswith("Practitioner/")
        assert DATE_TIME.fullmatch(order["authoredOn"])


def test_bad_records_are_all_present_and_rare(small: Dataset, large: Dataset) -> None:
    kinds = {
        "invalid-json",
        "request-without-subject",
        "request-for-unknown-patient",
        "dispense-with-non-date",
        "request-with-invalid-status",
    }
    assert set(small.bad) == kinds
    assert all(count == 1 for count in small.bad.values())
    assert 0 < sum(large.bad.values()) < 0.005 * large.lines


# Time and referential consistency


def test_nothing_is_dispensed_on_or_after_today(large: Dataset) -> None:
    for dispense in large.fills:
        for element in ("whenHandedOver", "whenPrepared"):
            if element in dispense:
                assert _day(dispense[element]) < TODAY
    for order in large.orders:
        assert _day(order["authoredOn"]) <= TODAY


def test_dispenses_point_to_an_order_of_the_same_patient(large: Dataset) -> None:
    orders = {o["id"]: o for o in large.orders}
    for dispense in large.fills:
        (reference,) = dispense["authorizingPrescription"]
        order = orders[reference["reference"].removeprefix("MedicationRequest/")]
        assert order["subject"]["reference"] == dispense["subject"]["reference"]
        assert _code(order) == _code(dispense)
        if dispense["status"] == "completed":
            handed = _day(dispense["whenHandedOver"])
            assert handed >= _day(order["authoredOn"])
            assert handed >= date.fromisoformat(order["dispenseRequest"]["validityPeriod"]["start"])


def test_no_order_is_filled_more_often_than_it_allows(large: Dataset) -> None:
    fills = _counted_fills(large)
    for order in large.orders:
        assert fills[order["id"]] <= order["dispenseRequest"]["numberOfRepeatsAllowed"] + 1


# Scenarios


def test_order_mix(large: Dataset) -> None:
    orders = large.orders
    n = len(orders)
    per_patient = Counter(o["subject"]["reference"] for o in orders if o["status"] == "active")
    assert 3 <= sum(per_patient.values()) / len(large.patients) <= 7
    courses = Counter(_coded(o, "courseOfTherapyType") for o in orders)
    assert courses["continuous"] > 0.5 * n
    assert courses["acute"] > 0.03 * n
    assert courses["seasonal"] > 0
    maintenance = [o for o in orders if _code(o) in MAINTENANCE_CODES]
    uncoded = [o for o in maintenance if "courseOfTherapyType" not in o]
    assert 0.05 < len(uncoded) / len(maintenance) < 0.3
    assert all(
        o["category"][0]["coding"][0]["system"]
        == "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
        for o in orders
    )
    assert Counter(o["category"][0]["coding"][0]["code"] for o in orders)["inpatient"] > 0


def test_dosage_shapes(large: Dataset) -> None:
    orders = large.orders
    n = len(orders)

    def timed(o: JSON) -> bool:
        return "timing" in o["dosageInstruction"][0]

    def supplied(o: JSON) -> bool:
        request = o["dispenseRequest"]
        return "quantity" in request and "expectedSupplyDuration" in request

    full = [o for o in orders if timed(o)]
    fallback = [o for o in orders if not timed(o) and supplied(o)]
    neither = [o for o in orders if not timed(o) and not supplied(o)]
    assert len(full) > 0.8 * n
    assert 0.02 < len(fallback) / n < 0.15
    assert 0 < len(neither) / n < 0.05
    for order in full:
        # One instruction, or AM and PM (sequence 1 and 2), or a scheduled one and a PRN one.
        dosage, *more = order["dosageInstruction"]
        assert len(more) <= 1
        assert set(dosage["timing"]["repeat"]) == {"frequency", "period", "periodUnit"}
        assert dosage["doseAndRate"][0]["doseQuantity"]["value"] > 0
    durations = Counter(
        o["dispenseRequest"]["expectedSupplyDuration"]["value"] for o in orders if supplied(o)
    )
    assert durations[30] > durations[90] > 0.15 * n
    for order in orders:
        if supplied(order):
            duration = order["dispenseRequest"]["expectedSupplyDuration"]
            assert (duration["unit"], duration["system"], duration["code"]) == (
                "days",
                "http://unitsofmeasure.org",
                "d",
            )


def test_prn_acute_and_status_variety(large: Dataset) -> None:
    orders = large.orders
    n = len(orders)
    prn = [o for o in orders if o["dosageInstruction"][0].get("asNeededBoolean")]
    assert 0.03 < len(prn) / n < 0.25
    acute = [o for o in orders if _coded(o, "courseOfTherapyType") == "acute"]
    assert all(
        3 <= o["dispenseRequest"]["expectedSupplyDuration"]["value"] <= 10
        for o in acute
        if "expectedSupplyDuration" in o["dispenseRequest"]
    )
    assert any(_code(o) == "308192" for o in acute)  # amoxicillin 500 MG
    statuses = Counter(o["status"] for o in orders)
    for status in ("active", "completed", "stopped", "draft", "on-hold"):
        assert statuses[status] > 0, status
    intents = Counter(o["intent"] for o in orders)
    assert intents["plan"] > 0
    assert intents["proposal"] > 0
    assert intents["order"] > 0.9 * n


def test_duplicate_orders_from_two_prescribers(large: Dataset) -> None:
    by_drug: dict[tuple[str, str], set[str]] = defaultdict(set)
    for order in large.orders:
        if order["status"] == "active" and order["intent"] == "order":
            key = (order["subject"]["reference"], _code(order))
            by_drug[key].add(order["requester"]["reference"])
    duplicates = [key for key, requesters in by_drug.items() if len(requesters) > 1]
    assert 0.01 * len(large.patients) < len(duplicates) < 0.3 * len(large.patients)


def test_controlled_substances_obey_federal_limits(large: Dataset) -> None:
    schedules: dict[str, list[JSON]] = defaultdict(list)
    for order in large.orders:
        schedule = _extension(order, SCHEDULE)
        if schedule is not None:
            schedules[schedule].append(order)
    assert set(schedules) <= {"CII", "CIII", "CIV", "CV"}
    assert schedules["CII"]
    assert schedules["CIV"]
    for order in schedules["CII"]:
        assert order["dispenseRequest"]["numberOfRepeatsAllowed"] == 0
    for order in schedules["CIII"] + schedules["CIV"]:
        request = order["dispenseRequest"]
        assert request["numberOfRepeatsAllowed"] <= 5
        period = request["validityPeriod"]
        span = date.fromisoformat(period["end"]) - date.fromisoformat(period["start"])
        assert span <= timedelta(days=184)
    # Schedule II series: prescriptions written on one day with later earliest-fill dates.
    assert any(
        date.fromisoformat(o["dispenseRequest"]["validityPeriod"]["start"])
        > _day(o["authoredOn"]) + timedelta(days=20)
        for o in schedules["CII"]
    )


def test_unbreakable_packages_are_in_dispense_units(large: Dataset) -> None:
    """Packages, prescribed and dispensed quantities are what a pharmacy counts (inhalers,
    mL of pens and drops, tablets of a blister, patches), whole packages at a time; doses stay
    in the prescriber's units (puffs, insulin units, drops)."""
    packaged = [o for o in large.orders if _extension(o, PACKAGE) is not None]
    assert 0.02 < len(packaged) / len(large.orders) < 0.2
    units = set()
    dose_units = set()
    for order in packaged:
        package = _extension(order, PACKAGE)
        units.add(package["unit"])
        dosage = order["dosageInstruction"][0]
        if "doseAndRate" in dosage:
            dose_units.add(dosage["doseAndRate"][0]["doseQuantity"]["unit"])
        if "quantity" in order["dispenseRequest"]:
            quantity = order["dispenseRequest"]["quantity"]
            assert quantity["unit"] == package["unit"]
            assert round(quantity["value"] / package["value"], 6) % 1 == 0
    assert {"inhaler", "mL", "tablet", "patch"} <= units
    assert {"actuation", "unit", "drop"} <= dose_units


def test_orders_about_to_run_out(large: Dataset) -> None:
    fills = _counted_fills(large)
    active = [o for o in large.orders if o["status"] == "active" and o["intent"] == "order"]
    expiring = [
        o
        for o in active
        if TODAY
        <= date.fromisoformat(o["dispenseRequest"]["validityPeriod"]["end"])
        <= TODAY + timedelta(days=62)
    ]
    last_refills = [
        o
        for o in active
        if fills[o["id"]] and fills[o["id"]] >= o["dispenseRequest"]["numberOfRepeatsAllowed"]
    ]
    never_filled = [o for o in active if not fills[o["id"]]]
    assert 0.03 < len(expiring) / len(active) < 0.3
    assert 0.05 < len(last_refills) / len(active) < 0.5
    assert 0.03 < len(never_filled) / len(active) < 0.3


def test_dispense_shapes(large: Dataset) -> None:
    fills = large.fills
    statuses = Counter(d["status"] for d in fills)
    assert statuses["completed"] > 0.95 * len(fills)
    assert len(statuses) >= 3
    completed = [d for d in fills if d["status"] == "completed"]
    for dispense in completed:
        assert "whenHandedOver" in dispense
        assert dispense["quantity"]["value"] > 0
        if "daysSupply" in dispense:
            supply = dispense["daysSupply"]
            assert (supply["unit"], supply["code"]) == ("days", "d")
    without_days = [d for d in completed if "daysSupply" not in d]
    assert 0.02 < len(without_days) / len(completed) < 0.2
    types = Counter(_coded(d, "type") for d in completed)
    assert types["FFP"] + types["RFP"] > 0
    assert types["FFC"] + types["RFC"] > 0


def test_partial_fills_are_completed_a_few_days_later(large: Dataset) -> None:
    by_order: dict[str, list[JSON]] = defaultdict(list)
    for dispense in large.fills:
        if dispense["status"] == "completed":
            by_order[dispense["authorizingPrescription"][0]["reference"]].append(dispense)
    completed_pairs = 0
    for dispenses in by_order.values():
        dispenses.sort(key=lambda d: d["whenHandedOver"])
        for first, second in pairwise(dispenses):
            if _coded(first, "type") in ("FFP", "RFP"):
                assert _coded(second, "type") in ("FFC", "RFC", "RF", None)
                if _coded(second, "type") in ("FFC", "RFC"):
                    gap = _day(second["whenHandedOver"]) - _day(first["whenHandedOver"])
                    assert timedelta(days=1) <= gap <= timedelta(days=7)
                    completed_pairs += 1
    assert completed_pairs > 0


def test_adherence_patterns(large: Dataset) -> None:
    """On-time, early and late refills, and patients who stopped filling, all occur."""
    by_therapy: dict[tuple[str, str], list[JSON]] = defaultdict(list)
    for dispense in large.fills:
        if dispense["status"] == "completed" and _coded(dispense, "type") not in ("FFC", "RFC"):
            by_therapy[(dispense["subject"]["reference"], _code(dispense))].append(dispense)
    early = late = on_time = 0
    for dispenses in by_therapy.values():
        dispenses.sort(key=lambda d: d["whenHandedOver"])
        for first, second in pairwise(dispenses):
            if "daysSupply" not in first or _coded(first, "type") in ("FFP", "RFP"):
                continue
            supply = first["daysSupply"]["value"]
            gap = (_day(second["whenHandedOver"]) - _day(first["whenHandedOver"])).days
            if gap < 0.9 * supply:
                early += 1
            elif gap > supply + 7:
                late += 1
            else:
                on_time += 1
    assert on_time > early > 0
    assert on_time > late > 0
    last_fill: dict[str, date] = {}
    for dispense in large.fills:
        if dispense["status"] == "completed":
            patient = dispense["subject"]["reference"]
            day = _day(dispense["whenHandedOver"])
            last_fill[patient] = max(day, last_fill.get(patient, day))
    stopped = [p for p, day in last_fill.items() if day < TODAY - timedelta(days=60)]
    assert 0.02 < len(stopped) / len(large.patients) < 0.3
