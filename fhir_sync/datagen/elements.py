"""FHIR R4 datatypes as plain dicts, the systems they cite, and date helpers.

Resources are built as dicts and serialized by orjson because validating or dumping through
fhir.resources models costs 20-100x more, which matters at a million lines.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

JSON = dict[str, Any]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
COURSE_OF_THERAPY = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
SCHEDULE_EXTENSION = "https://fhir-sync.org/StructureDefinition/controlled-substance-schedule"
PACKAGE_EXTENSION = "https://fhir-sync.org/StructureDefinition/package-size"
MRN_SYSTEM = "https://fhir-sync.org/sid/demo-mrn"
RX_SYSTEM = "https://fhir-sync.org/sid/demo-rx"
FILL_SYSTEM = "https://fhir-sync.org/sid/demo-fill"

COURSE_DISPLAY = {
    "continuous": "Continuous long term therapy",
    "acute": "Short course (acute) therapy",
    "seasonal": "Seasonal",
}
CATEGORY_DISPLAY = {
    "community": "Community",
    "inpatient": "Inpatient",
    "outpatient": "Outpatient",
    "discharge": "Discharge",
}
SUPPLY_TYPE_DISPLAY = {
    "FF": "First Fill",
    "FFC": "First Fill - Complete",
    "FFP": "First Fill - Part Fill",
    "RF": "Refill",
    "RFC": "Refill - Complete",
    "RFP": "Refill - Part Fill",
}


def number(value: float) -> int | float:
    """Whole numbers as JSON integers (30, not 30.0), as EHR exports write them."""
    return int(value) if float(value).is_integer() else round(value, 3)


def concept(system: str, code: str, display: str, text: str | None = None) -> JSON:
    """A CodeableConcept with one coding."""
    result: JSON = {"coding": [{"system": system, "code": code, "display": display}]}
    if text is not None:
        result["text"] = text
    return result


def quantity(value: float, unit: str, code: str) -> JSON:
    """A UCUM Quantity."""
    return {"value": number(value), "unit": unit, "system": UCUM, "code": code}


def days(value: int) -> JSON:
    """A Duration (or days-supply Quantity) in days."""
    return {"value": value, "unit": "days", "system": UCUM, "code": "d"}


def stamp(day: date, minute: int, utc_offset: str) -> str:
    """A dateTime at `minute` past local midnight."""
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00{utc_offset}"


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (validity of 6 or 12 months)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
