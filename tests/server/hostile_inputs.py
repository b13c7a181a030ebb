"""Hostile requests, each with the 4xx it must get, for the hostile-input suite.

Each input once made `fhir-sync serve` answer 500 (and drop the connection), answer in plain
text, or accept what it must refuse. They are data, not tests, so the suite can send them to
any server; the patient they name is enrolled first (`PATIENT`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from tests.server.api_support import data_bundle, enroll_body, parameters

PATIENT = "pt-000002"  # amlodipine 2.5 mg, one tablet once a day, with fills
BODY_LIMIT = 1 << 20  # FHIR_SYNC_MAX_BODY_BYTES of the server under test
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expression: str | None = None  # a part of some issue's expression the answer must hold
    chunked: bool = False


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _operation(
    name: str,
    operation: str,
    body: JsonObject,
    status: int,
    expression: str | None = None,
    content_type: str = "application/fhir+json",
) -> Hostile:
    return Hostile(
        name,
        "POST",
        f"/fhir/Patient/{PATIENT}/${operation}",
        status,
        _json(body),
        {"Content-Type": content_type},
        expression,
    )


def _resources() -> list[JsonObject]:
    return [entry["resource"] for entry in data_bundle(PATIENT)["entry"]]


def _order(resources: list[JsonObject]) -> JsonObject:
    return next(
        r for r in resources if r["resourceType"] == "MedicationRequest" and r["status"] == "active"
    )


def _fill(resources: list[JsonObject]) -> JsonObject:
    return next(r for r in resources if r["resourceType"] == "MedicationDispense")


def _patient(resources: list[JsonObject]) -> JsonObject:
    return next(r for r in resources if r["resourceType"] == "Patient")


def _sync_with(change: Any, *extra: JsonObject) -> JsonObject:
    """$sync Parameters with the patient's resources after `change(resources)`."""
    resources = copy.deepcopy(_resources())
    change(resources)
    bundle = {"resourceType": "Bundle", "type": "collection"}
    bundle["entry"] = [{"resource": r} for r in [*resources, *extra]]
    return parameters({"name": "resource", "resource": bundle})


def _nested(depth: int) -> JsonObject:
    inner: Any = "deep"
    for _ in range(depth):
        inner = [inner]
    return {"resourceType": "Basic", "id": "deep", "extension": inner}


def _set(path: str, value: Any, pick: Any) -> Any:
    def change(resources: list[JsonObject]) -> None:
        target: Any = pick(resources)
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdecimal() else target[key]
        target[keys[-1]] = value

    return change


def _coverage(payor: str) -> JsonObject:
    return {
        "resourceType": "Coverage",
        "id": "cov-1",
        "status": "active",
        "beneficiary": {"reference": f"Patient/{PATIENT}"},
        "payor": [{"reference": payor}],
    }


def _count_inputs() -> list[Hostile]:
    values = {
        "superscript two": "%C2%B2",
        "superscript one": "%C2%B9",
        "circled one": "%E2%91%A0",
        "arabic-indic three": "%D9%A3",
        "4301 digits": "1" * 4301,
        "negative": "-1",
    }
    found = []
    for kind in ("CarePlan", "Appointment", "Task", "Patient", "Group", "AuditEvent"):
        for label, value in values.items():
            found.append(
                Hostile(f"{kind} _count {label}", "GET", f"/fhir/{kind}?_count={value}", 400)
            )
    found.append(
        Hostile("AuditEvent read by superscript id", "GET", "/fhir/AuditEvent/%C2%B2", 404)
    )
    found.append(
        Hostile(
            "AuditEvent _cursor in Unicode digits", "GET", "/fhir/AuditEvent?_cursor=%D9%A3", 400
        )
    )
    found.append(
        Hostile(
            "Appointment date in Unicode digits",
            "GET",
            "/fhir/Appointment?date=%D9%A2%D9%A0%D9%A2%D9%A6",
            400,
        )
    )
    return found


def _number_inputs() -> list[Hostile]:
    dosage = "dosageInstruction.0"
    cases = [
        (
            "dose 1e308",
            f"{dosage}.doseAndRate.0.doseQuantity.value",
            1e308,
            _order,
            "doseQuantity.value",
        ),
        ("period 1e-300", f"{dosage}.timing.repeat.period", 1e-300, _order, "timing.repeat.period"),
        (
            "frequency 10^12",
            f"{dosage}.timing.repeat.frequency",
            10**12,
            _order,
            "timing.repeat.frequency",
        ),
        (
            "repeats 10^12",
            "dispenseRequest.numberOfRepeatsAllowed",
            10**12,
            _order,
            "numberOfRepeatsAllowed",
        ),
        (
            "supply quantity 1e308",
            "dispenseRequest.quantity.value",
            1e308,
            _order,
            "dispenseRequest.quantity.value",
        ),
        ("authored in year 9999", "authoredOn", "9999-12-31", _order, "authoredOn"),
        ("days supply 1e308", "daysSupply.value", 1e308, _fill, "daysSupply.value"),
        ("handed over 9999-12-31", "whenHandedOver", "9999-12-31", _fill, "whenHandedOver"),
        (
            "fill quantity 1e308",
            "quantity.value",
            1e308,
            _fill,
            "MedicationDispense.quantity.value",
        ),
    ]
    found = [
        _operation(f"$sync {label}", "sync", _sync_with(_set(path, value, pick)), 422, where)
        for label, path, value, pick, where in cases
    ]

    def both(resources: list[JsonObject]) -> None:
        _fill(resources)["daysSupply"]["value"] = 1e308
        _fill(resources)["whenHandedOver"] = "9999-12-31"

    found.append(
        _operation(
            "$sync days supply 1e308 handed over 9999-12-31",
            "sync",
            _sync_with(both),
            422,
            "MedicationDispense.",
        )
    )
    return found


def _identity_inputs() -> list[Hostile]:
    long_value = "x" * 201
    found = [
        _operation(
            f"$sync Patient.identifier {label}",
            "sync",
            _sync_with(_set("identifier", [{"system": "urn:mrn", "value": value}], _patient)),
            422,
            "Patient.identifier[0].value",
        )
        for label, value in (("of 201 characters", long_value), ("with NUL", "a\x00b"))
    ]
    found += [
        _operation(
            f"$sync Coverage.payor {label}",
            "sync",
            _sync_with(lambda _resources: None, _coverage(payor)),
            422,
            "Coverage.payor[0].reference",
        )
        for label, payor in (
            ("of 201 characters", "Organization/" + "p" * 188),
            ("with NUL", "Organization/a b\x00c"),
        )
    ]
    for label, payor in (
        ("of 201 characters", "Organization/" + "p" * 188),
        ("with NUL", "Organization/a b\x00c"),
    ):
        body = enroll_body(PATIENT, {"name": "resource", "resource": _coverage(payor)})
        found.append(
            _operation(f"$enroll Coverage.payor {label}", "enroll", body, 422, "Coverage.payor[0]")
        )
    return found


def _body_inputs() -> list[Hostile]:
    deep = parameters({"name": "resource", "resource": _nested(300)})
    oversized = _json(
        parameters(
            {"name": "resource", "resource": {"resourceType": "Basic", "text": "x" * BODY_LIMIT}}
        )
    )
    hold = {
        "resourceType": "Parameters",
        "parameter": [{"name": "until", "valueDate": "2026-12-31"}],
    }
    return [
        _operation("$enroll nested 300 deep", "enroll", deep, 400),
        _operation("$sync nested 300 deep", "sync", deep, 400),
        _operation("$plan nested 300 deep", "plan", deep, 400),
        _operation("$hold as text/plain", "hold", hold, 415, content_type="text/plain"),
        _operation(
            "$hold as a form", "hold", hold, 415, content_type="application/x-www-form-urlencoded"
        ),
        _operation(
            "$hold valueDate a JSON integer",
            "hold",
            {"resourceType": "Parameters", "parameter": [{"name": "until", "valueDate": 20261231}]},
            400,
        ),
        Hostile(
            "$enroll body over the limit",
            "POST",
            f"/fhir/Patient/{PATIENT}/$enroll",
            413,
            oversized,
            {"Content-Type": "application/fhir+json"},
        ),
        Hostile(
            "$enroll chunked body over the limit",
            "POST",
            f"/fhir/Patient/{PATIENT}/$enroll",
            413,
            oversized,
            {"Content-Type": "application/fhir+json"},
            chunked=True,
        ),
        Hostile("/docs in production", "GET", "/docs", 404),
        Hostile("/redoc in production", "GET", "/redoc", 404),
        Hostile("/openapi.json in production", "GET", "/openapi.json", 404),
    ]


HOSTILE: list[Hostile] = [*_count_inputs(), *_number_inputs(), *_identity_inputs(), *_body_inputs()]
