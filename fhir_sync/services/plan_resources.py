"""A patient's plan as stored and served, and as the transaction Bundle written to EHRs.

The engine's transaction Bundle names its entries `urn:uuid:<uuid5 of the identifier>`; the
server uses that uuid as the logical id, so served references are `CarePlan/<uuid>` and turning
stored resources back into the transaction (for the outbox) is the same rewrite backwards.
A re-plan that no longer has an Appointment or a Task cancels the stored one instead of
leaving it behind (the profile's known limitation, fixed where fhir-sync owns the store).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection

from fhir_sync.services.indexing import JsonObject, resource_row, without_meta
from fhir_sync.store.resources import current_versions, ids_for_patient, save_resources
from fhir_sync.store.search import read_bodies
from mappings.fhir_literals import urn_for
from mappings.kinds import CLOSED_STATUSES, PLAN_TYPES
from mappings.outbound.plan_digest import DIGEST_PREFIX, plan_digest
from mappings.profile import SID_CYCLE_ITEM, SID_SYNC_PLAN

URN: Final = "urn:uuid:"
ACTIVE: Final = "active"
ON_HOLD: Final = "on-hold"
REVOKED: Final = "revoked"
_CLOSED: Final = CLOSED_STATUSES


def careplan_id(patient_id: str) -> str:
    """The served id of the patient's CarePlan (the uuid of its identifier)."""
    return urn_for(SID_SYNC_PLAN, patient_id).removeprefix(URN)


def resources_from_transaction(bundle: JsonObject) -> list[JsonObject]:
    """The Bundle's resources with their ids, references rewritten from URNs to ids."""
    names: dict[str, str] = {}
    resources = []
    for entry in bundle.get("entry") or ():
        resource = copy.deepcopy(entry["resource"])
        uuid = str(entry["fullUrl"]).removeprefix(URN)
        resource["id"] = uuid
        names[entry["fullUrl"]] = f"{resource['resourceType']}/{uuid}"
        resources.append(resource)
    for resource in resources:
        _rewrite(resource, names)
    return resources


def transaction_from_resources(resources: Iterable[JsonObject]) -> JsonObject:
    """The conditional-update transaction (sync-plan profile, section 2) for stored resources."""
    ordered = sorted(resources, key=_transaction_order)
    names = {f"{r['resourceType']}/{r['id']}": URN + r["id"] for r in ordered}
    entries = []
    for resource in ordered:
        body = copy.deepcopy({k: v for k, v in resource.items() if k not in ("id", "meta")})
        _rewrite(body, names)
        identifier = body["identifier"][0]
        entries.append(
            {
                "fullUrl": URN + resource["id"],
                "resource": body,
                "request": {
                    "method": "PUT",
                    "url": f"{body['resourceType']}?identifier="
                    f"{identifier['system']}|{identifier['value']}",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _transaction_order(resource: JsonObject) -> tuple[int, str]:
    return PLAN_TYPES.index(resource["resourceType"]), resource["identifier"][0]["value"]


def _rewrite(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in names:
                node[key] = names[value]
            else:
                _rewrite(value, names)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, names)


def apply_enrollment_status(resources: list[JsonObject], status: str) -> None:
    """The CarePlan shows the enrollment's status; a revoked plan's pickup and renewals are
    cancelled (nobody should act on them any more)."""
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "CarePlan":
            resource["status"] = status
        elif status == REVOKED and resource.get("status") not in _CLOSED.get(kind, ()):
            resource["status"] = "cancelled"


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """The patient's current plan resources (as served, meta included) after a change."""

    resources: list[JsonObject]
    changed: bool

    def transaction(self) -> JsonObject:
        return transaction_from_resources(self.resources)

    def careplan(self) -> JsonObject | None:
        return next((r for r in self.resources if r["resourceType"] == "CarePlan"), None)


def current_plan(connection: Connection, patient_id: str) -> list[JsonObject]:
    """The stored plan resources of a patient, as served. The monthly cycle's Tasks (its
    preparations, identified by their cycle item) are stored as Tasks too but are not part
    of the plan: never written to an EHR, never cancelled by a re-plan."""
    found: list[JsonObject] = []
    for kind in PLAN_TYPES:
        ids = ids_for_patient(connection, kind, patient_id)
        found.extend(orjson.loads(body) for _, body in read_bodies(connection, kind, ids))
    return sorted((r for r in found if not _cycle_resource(r)), key=_transaction_order)


def _cycle_resource(resource: JsonObject) -> bool:
    identifiers = resource.get("identifier") or [{}]
    return bool(identifiers[0].get("system") == SID_CYCLE_ITEM)


def store_plan(
    connection: Connection,
    patient_id: str,
    new_resources: list[JsonObject],
    *,
    payer: str | None,
    now: datetime,
    validate: Callable[[JsonObject], list[str]],
) -> StoredPlan:
    """Replace the patient's plan with `new_resources` inside the caller's transaction.

    Only resources whose content changed get a new version (and are validated, once); stored
    Appointments and Tasks the new plan lacks are cancelled.
    """
    stored = {(r["resourceType"], r["id"]): r for r in current_plan(connection, patient_id)}
    wanted = {(r["resourceType"], r["id"]): r for r in new_resources}
    for key, old in stored.items():
        closed = _CLOSED.get(key[0])
        if key not in wanted and closed is not None:
            stale = without_meta(old)
            if stale.get("status") not in closed:
                stale["status"] = "cancelled"
            wanted[key] = stale
    rows = []
    current: list[JsonObject] = []
    for (kind, rid), resource in sorted(wanted.items()):
        previous = stored.get((kind, rid))
        if previous is not None and without_meta(previous) == resource:
            current.append(previous)
            continue
        problems = validate(resource)
        if problems:
            raise ValueError(f"{kind} built by the planner is not valid FHIR: {problems[:3]}")
        version = current_versions(connection, kind, [rid]).get(rid, 0) + 1
        row = resource_row(resource, version_id=version, last_updated=now, payer=payer)
        rows.append(row)
        current.append(orjson.loads(row.body))
    save_resources(connection, rows)
    current.sort(key=_transaction_order)
    return StoredPlan(current, changed=bool(rows))


def plan_hash(transaction: JsonObject) -> str:
    """The plan digest (mappings/outbound/plan_digest.py) of the transaction as it goes to the EHR,
    enrollment status included, without its `sha256:` prefix (the column holds 64 characters)."""
    return plan_digest(transaction).removeprefix(DIGEST_PREFIX)
