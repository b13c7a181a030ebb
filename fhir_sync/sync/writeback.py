"""Writing a patient's sync-plan Bundle: to a FHIR server, or to a folder for a dry run.

On a server that supports transactions the Bundle goes in one request: all of the patient's
resources change together or not at all, and since every entry is a PUT (conditional, or by id
with If-Match) a retry after a lost response cannot create anything twice.

Without transactions the entries go one by one, ordered so that an interruption is repaired
by the next run: the CarePlan, which carries the plan digest, is written last and with the
version check, so a half-written plan never looks "unchanged". A CarePlan that does not exist
yet is first created without digest, because the Appointment and Tasks must name its id.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Protocol

from adapters.files import write_json_file
from adapters.http import FhirClient, FhirError, WriteResult
from fhir_sync.sync.stored_plan import StoredPlan
from mappings.fhir_literals import JsonObject
from mappings.profile import EXT_PLAN_DIGEST


class PlanWriter(Protocol):
    async def write(self, patient_id: str, bundle: JsonObject, stored: StoredPlan | None) -> None:
        """Writes the (digest-stamped) Bundle; raises FhirError when it could not."""
        ...


def pin_careplan(bundle: JsonObject, stored: StoredPlan | None) -> JsonObject:
    """The Bundle with its CarePlan entry written by id against the version read, if any.

    A conditional PUT cannot carry a version check on every server (sekmet ignores
    `request.ifMatch` on conditional entries), a PUT by id with `ifMatch` can: a concurrent
    writer then makes the transaction fail with 412 instead of being overwritten silently.
    """
    if stored is None:
        return bundle
    entries = list(bundle["entry"])
    first = dict(entries[0])
    resource = dict(first["resource"], id=stored.id)
    request: JsonObject = {"method": "PUT", "url": f"CarePlan/{stored.id}"}
    if stored.version is not None:
        request["ifMatch"] = f'W/"{stored.version}"'
    first["resource"] = resource
    first["request"] = request
    entries[0] = first
    return {**bundle, "entry": entries}


class FhirPlanWriter:
    """Writes to a FHIR server: a transaction when it supports them, else entry by entry."""

    def __init__(self, client: FhirClient) -> None:
        self._client = client

    async def write(self, patient_id: str, bundle: JsonObject, stored: StoredPlan | None) -> None:
        if await self._client.supports_transactions():
            await self._client.transaction(pin_careplan(bundle, stored))
        else:
            await write_entries(self._client, bundle, stored)


class DirectoryPlanWriter:
    """A dry run: `<dir>/<patient id>.json`, the Bundle exactly as it would be posted."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir

    async def write(self, patient_id: str, bundle: JsonObject, stored: StoredPlan | None) -> None:
        # plan_bundle checked the id (a FHIR id: no path separators), so it is a safe name.
        write_json_file(self._out_dir / f"{patient_id}.json", pin_careplan(bundle, stored))


async def write_entries(client: FhirClient, bundle: JsonObject, stored: StoredPlan | None) -> None:
    """The Bundle as individual conditional updates, CarePlan last (see the module doc)."""
    careplan_entry, *others = bundle["entry"]
    careplan = careplan_entry["resource"]
    resolved: dict[str, str] = {}
    if stored is None and not others:
        await _conditional_put(client, careplan_entry, careplan)
        return
    if stored is None:
        draft = _without_local_links(_without_digest(careplan))
        created = await _conditional_put(client, careplan_entry, draft)
        careplan_id, version = _written_id(created, "CarePlan"), created.version_id
    else:
        careplan_id, version = stored.id, stored.version
    resolved[careplan_entry["fullUrl"]] = f"CarePlan/{careplan_id}"
    for entry in others:
        resource = _resolve(entry["resource"], resolved)
        result = await _conditional_put(client, entry, resource)
        kind = resource["resourceType"]
        resolved[entry["fullUrl"]] = f"{kind}/{_written_id(result, kind)}"
    final = dict(_resolve(careplan, resolved), id=careplan_id)
    await client.update(final, if_match=version)


async def _conditional_put(
    client: FhirClient, entry: JsonObject, resource: JsonObject
) -> WriteResult:
    resource_type, _, query = str(entry["request"]["url"]).partition("?")
    return await client.conditional_update(resource_type, query, resource)


def _written_id(result: WriteResult, resource_type: str) -> str:
    if result.resource_id is None:
        raise FhirError(f"PUT {resource_type} returned no id", status=result.status)
    return result.resource_id


def _without_digest(careplan: JsonObject) -> JsonObject:
    draft = dict(careplan)
    draft["extension"] = [e for e in careplan.get("extension", []) if e["url"] != EXT_PLAN_DIGEST]
    return draft


def _without_local_links(careplan: JsonObject) -> JsonObject:
    """Drops activities that point at entries not written yet (the Appointment's urn:uuid)."""
    activities = [
        a
        for a in careplan.get("activity", [])
        if not str(a.get("reference", {}).get("reference", "")).startswith("urn:")
    ]
    draft = dict(careplan)
    if activities:
        draft["activity"] = activities
    else:
        draft.pop("activity", None)
    return draft


def _resolve(resource: JsonObject, resolved: dict[str, str]) -> JsonObject:
    """A copy with every reference to a written entry's urn:uuid replaced by `Type/id`."""
    copied: JsonObject = copy.deepcopy(resource)
    _rewrite(copied, resolved)
    return copied


def _rewrite(node: Any, resolved: dict[str, str]) -> None:
    if isinstance(node, dict):
        target = node.get("reference")
        if isinstance(target, str) and target in resolved:
            node["reference"] = resolved[target]
        for value in node.values():
            _rewrite(value, resolved)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, resolved)
