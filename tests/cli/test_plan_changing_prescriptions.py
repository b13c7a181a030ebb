"""`fhir-sync plan` on prescriptions as they change: what a pharmacist reads in the Bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from fhir_sync.cli import app

TODAY = "2026-11-22"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _order(oid: str, code: str, name: str, written: str, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": written,
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": name}]
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": 5, "quantity": {"value": 30}},
    }
    resource.update(extra)
    return resource


def _dispense(did: str, oid: str, code: str, when: str, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": did,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authorizingPrescription": [{"reference": f"MedicationRequest/{oid}"}],
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "quantity": {"value": 30},
        "daysSupply": {"value": 30, "code": "d", "system": "http://unitsofmeasure.org"},
        "whenHandedOver": when,
    }
    resource.update(extra)
    return resource


def _activities(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    careplan = bundle["entry"][0]["resource"]
    out = {}
    for activity in careplan["activity"]:
        detail = activity.get("detail")
        if detail is not None:
            ref = detail["extension"][0]["valueReference"]["reference"]
            out[ref.removeprefix("MedicationRequest/")] = detail
    return out


def test_plan_reads_replacements_expiry_series_and_will_call_like_a_pharmacist(
    tmp_path: Path,
) -> None:
    expired_validity = {"validityPeriod": {"end": "2026-11-15"}, "numberOfRepeatsAllowed": 5}
    resources = [
        # atorvastatin 20 mg, then 40 mg written 2026-11-17: the 20 mg is replaced
        _order("ator20", "617312", "atorvastatin 20 MG Oral Tablet", "2026-05-01"),
        _order("ator40", "617311", "atorvastatin 40 MG Oral Tablet", "2026-11-17"),
        _dispense("d1", "ator20", "617312", "2026-11-02"),
        # lisinopril expired 2026-11-15, dispensed 2026-11-02 for 30 days: renew by 2026-12-02
        _order(
            "lis",
            "314076",
            "lisinopril 10 MG Oral Tablet",
            "2025-11-15",
            dispenseRequest=expired_validity,
        ),
        _dispense("d2", "lis", "314076", "2026-11-02"),
        # amlodipine: a refill prepared 2026-11-21 waits in will-call
        _order("aml", "197361", "amlodipine 5 MG Oral Tablet", "2026-06-01"),
        _dispense("d3", "aml", "197361", "2026-10-23"),
        _dispense(
            "d4",
            "aml",
            "197361",
            "2026-11-21",
            status="in-progress",
            whenHandedOver=None,
            whenPrepared="2026-11-21",
        ),
        # prednisone taper, 12 days, no course of therapy stated
        _order(
            "pred",
            "312615",
            "predniSONE 10 MG Oral Tablet",
            "2026-11-20",
            dosageInstruction=[
                {
                    "timing": {
                        "repeat": {
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                            "boundsDuration": {"value": 12, "code": "d"},
                        }
                    },
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                }
            ],
        ),
    ]
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["plan", str(source), "--out", str(out), "--today", TODAY])
    assert result.exit_code == 0, result.output
    bundle = orjson.loads((out / "p1.json").read_bytes())
    Bundle.model_validate(bundle)
    activities = _activities(bundle)

    assert activities["ator20"]["statusReason"]["text"] == (
        "replaced by MedicationRequest/ator40 on 2026-11-17: confirm it is stopped"
    )
    assert activities["ator40"]["status"] == "scheduled"
    assert "expired on 2026-11-15" in activities["lis"]["statusReason"]["text"]
    notes = {
        oid: next((e["valueString"] for e in d["extension"] if e["url"].endswith("plan-note")), "")
        for oid, d in activities.items()
    }
    assert notes["lis"] == "needs a new prescription by 2026-12-02"
    assert "waiting for pickup" in notes["aml"]
    # 2026-10-23 + 30 = 2026-11-22, then the prepared 30 days: supply to 2026-12-22
    assert activities["aml"]["scheduledPeriod"]["start"] >= "2026-12-15"
    assert "acute course" in activities["pred"]["statusReason"]["text"]
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    lis_task = next(t for t in tasks if t["focus"]["reference"] == "MedicationRequest/lis")
    assert lis_task["restriction"]["period"] == {"start": TODAY, "end": "2026-12-02"}


def test_plan_controlled_flag_leaves_schedule_ii_out(tmp_path: Path) -> None:
    oxy = _order("oxy", "1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "2026-11-20")
    oxy["dispenseRequest"] = {"numberOfRepeatsAllowed": 0}
    source = tmp_path / "in.ndjson"
    source.write_bytes(orjson.dumps(oxy) + b"\n")
    for policy, status in (("sync", "scheduled"), ("skip-cii", "not-started")):
        out = tmp_path / policy
        args = ["plan", str(source), "--out", str(out), "--today", TODAY, "--controlled", policy]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert _activities(orjson.loads((out / "p1.json").read_bytes()))["oxy"]["status"] == status
    bad = CliRunner().invoke(
        app, ["plan", str(source), "--out", str(tmp_path), "--controlled", "x"]
    )
    assert bad.exit_code == 2
