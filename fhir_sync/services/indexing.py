"""A FHIR resource -> the row that stores it: the served bytes and the values searches use.

Which elements each search parameter reads is declared with the type in mappings/kinds.py;
this module applies those declarations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fhir_sync.services.fhir_dates import instant_text, time_range
from fhir_sync.services.fhir_json import dumps
from fhir_sync.store.resources import ResourceRow
from mappings.kinds import IDENTIFIER, KINDS

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
    registered = KINDS.get(kind)
    if registered is None or registered.patient is None:
        return None
    return registered.patient(resource)


def _tokens(kind: str, resource: JsonObject) -> list[tuple[str, str, str]]:
    registered = KINDS.get(kind)
    params = registered.search_params if registered is not None else (IDENTIFIER,)
    lookups = registered.lookups if registered is not None else ()
    return [
        (param.name, system, code)
        for param in params
        if param.extract is not None
        for system, code in param.extract(resource)
    ] + [
        (lookup.param, system, code)
        for lookup in lookups
        for system, code in lookup.extract(resource)
    ]


def _date_range(kind: str, resource: JsonObject) -> tuple[datetime | None, datetime | None]:
    """The `date` parameter's range, half-open; (None, None) when the type has none."""
    registered = KINDS.get(kind)
    path = registered.date if registered is not None else None
    if path is None:
        return None, None
    start, end = _element(resource, path.start), _element(resource, path.end)
    if not isinstance(start, str):
        return None, None
    low = time_range(start)[0]
    if not path.end_is_instant:
        return low, time_range(end)[1] if isinstance(end, str) else None
    high = time_range(end)[0] if isinstance(end, str) else low + timedelta(seconds=1)
    return low, max(high, low + timedelta(microseconds=1))


def _element(resource: JsonObject, path: tuple[str, ...]) -> object:
    node: object = resource
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node
