"""A FHIR resource -> the row that stores it: the served bytes and the values searches use.

This is the one place that knows which elements each search parameter reads, matching the
table in search_params.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fhir_sync.server.fhir_dates import instant_text, time_range
from fhir_sync.server.fhirjson import dumps
from fhir_sync.store.resources import ResourceRow

JsonObject = dict[str, Any]


def with_meta(resource: JsonObject, version_id: int, last_updated: datetime) -> JsonObject:
    """The resource as served: `resourceType`, `id` and `meta` first, then the rest."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant_text(last_updated)
    served: JsonObject = {"resourceType": resource["resourceType"], "id": resource["id"]}
    served["meta"] = meta
    served.update((k, v) for k, v in resource.items() if k not in served)
    return served


def without_meta(resource: JsonObject) -> JsonObject:
    return {k: v for k, v in resource.items() if k != "meta"}


def resource_row(
    resource: JsonObject, *, version_id: int, last_updated: datetime, payer: str | None
) -> ResourceRow:
    served = with_meta(resource, version_id, last_updated)
    kind = served["resourceType"]
    start, end = _date_range(kind, served)
    return ResourceRow(
        resource_type=kind,
        id=served["id"],
        version_id=version_id,
        last_updated=last_updated,
        body=dumps(served),
        patient_id=_patient_id(kind, served),
        payer=payer,
        status=served.get("status") if isinstance(served.get("status"), str) else None,
        date_start=start,
        date_end=end,
        tokens=tuple(_tokens(kind, served)),
    )


def _patient_id(kind: str, resource: JsonObject) -> str | None:
    if kind == "Patient":
        return str(resource["id"])
    if kind == "CarePlan":
        return _patient_of(resource.get("subject"))
    if kind == "Task":
        return _patient_of(resource.get("for"))
    if kind == "Appointment":
        for participant in resource.get("participant") or ():
            found = _patient_of(participant.get("actor"))
            if found is not None:
                return found
    return None


def _patient_of(reference: object) -> str | None:
    if isinstance(reference, dict):
        text = reference.get("reference")
        if isinstance(text, str) and text.startswith("Patient/"):
            return text.removeprefix("Patient/")
    return None


def _tokens(kind: str, resource: JsonObject) -> list[tuple[str, str, str]]:
    tokens = [
        ("identifier", item.get("system") or "", item["value"])
        for item in resource.get("identifier") or ()
        if isinstance(item.get("value"), str)
    ]
    if kind == "CarePlan":
        for category in resource.get("category") or ():
            tokens.extend(
                ("category", coding.get("system") or "", coding["code"])
                for coding in category.get("coding") or ()
                if isinstance(coding.get("code"), str)
            )
        for activity in resource.get("activity") or ():
            target = (activity.get("reference") or {}).get("reference")
            if isinstance(target, str) and target.startswith("Appointment/"):
                tokens.append(("activity-reference", "", target))
    if kind == "Task":
        for basis in resource.get("basedOn") or ():
            target = basis.get("reference")
            if isinstance(target, str) and target.startswith("CarePlan/"):
                tokens.append(("based-on", "", target))
    return tokens


def _date_range(kind: str, resource: JsonObject) -> tuple[datetime | None, datetime | None]:
    """The `date` parameter's range, half-open; (None, None) when the type has none."""
    if kind == "CarePlan":
        period = resource.get("period") or {}
        start = period.get("start")
        if not isinstance(start, str):
            return None, None
        end = period.get("end")
        return time_range(start)[0], time_range(end)[1] if isinstance(end, str) else None
    if kind == "Appointment":
        start, end = resource.get("start"), resource.get("end")
        if not isinstance(start, str):
            return None, None
        low = time_range(start)[0]
        high = time_range(end)[0] if isinstance(end, str) else low + timedelta(seconds=1)
        return low, max(high, low + timedelta(microseconds=1))
    return None, None
