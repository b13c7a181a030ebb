"""The monthly cycle's FHIR resources, stored in the resource table so they are read and
searched like the plan's (mappings/kinds.py declares how each is indexed):

* each call item, when first stored, becomes a CommunicationRequest
  (mappings/outbound/outreach.py), and each preparation item its `prepare-fills` Task
  (mappings/outbound/preparation_task.py), whose state follows what staff set
  (`update_preparation_task`, called by services/worklist.py);
* a call recorded with `$record-contact` is stored as the Communication fhir-sync builds
  from it, a check-in posted to `$check-in` as its QuestionnaireResponse; each once per
  identifier, so a resubmission stores nothing twice;
* the check-in Questionnaire fhir-sync ships is stored once (`ensure_questionnaire`).

They stay in the pharmacy: nothing here is written to an EHR, and the cycle's Tasks are not
part of a patient's plan (services/plan_resources.py leaves them out). An item's resource id
is the uuid of its cycle item identifier, the `resource` the worklist names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import IntegrityError

from fhir_sync.engine.cycle_types import Contact, CycleItem, ItemKind
from fhir_sync.services.cycle_run import item_resource_id, register_publisher
from fhir_sync.services.errors import VersionMismatchError
from fhir_sync.services.indexing import resource_row, without_meta
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.store.database import write_transaction
from fhir_sync.store.enrollments import get_enrollment
from fhir_sync.store.resources import (
    current_versions,
    insert_new_resources,
    read_resource,
    replace_version,
    save_resources,
)
from mappings.fhir_literals import urn_for
from mappings.outbound.checkin_questionnaire import check_in_questionnaire
from mappings.outbound.outreach import CALL_KINDS, call_request, contact_communication
from mappings.outbound.preparation_task import preparation_task
from mappings.profile import SID_CHECK_IN, SID_CONTACT

JsonObject = dict[str, Any]
#: The shipped check-in Questionnaire's id (its canonical URL ends with it).
QUESTIONNAIRE_ID: Final = "med-sync-check-in"
#: The elements of a posted QuestionnaireResponse that are stored (the rest is not read).
_RESPONSE_ELEMENTS: Final = ("questionnaire", "status", "subject", "authored", "item")


def _with_id(resource: JsonObject, rid: str) -> JsonObject:
    return {"resourceType": resource["resourceType"], "id": rid, **without_meta(resource)}


def publish_calls(connection: Connection, items: Sequence[CycleItem], now: datetime) -> None:
    rows = []
    for item in items:
        if item.kind not in CALL_KINDS or item.pickup is None:
            continue
        resource = call_request(item, careplan=f"CarePlan/{careplan_id(item.patient_id)}")
        resource = _with_id(resource, item_resource_id(item.id))
        rows.append(resource_row(resource, version_id=1, last_updated=now, payer=None))
    insert_new_resources(connection, rows)


def publish_preparations(connection: Connection, items: Sequence[CycleItem], now: datetime) -> None:
    """The `prepare-fills` Task of each new preparation item. Its owner is the enrollment's
    pharmacy when that is an Organization (a Location cannot own a Task)."""
    rows = []
    for item in items:
        if item.kind is not ItemKind.PREPARE or item.pickup is None:
            continue
        enrollment = get_enrollment(connection, item.patient_id)
        pharmacy = enrollment.pharmacy if enrollment is not None else None
        owner = pharmacy if pharmacy and pharmacy.startswith("Organization/") else None
        task = preparation_task(
            item, careplan=f"CarePlan/{careplan_id(item.patient_id)}", pharmacy=owner
        )
        task = _with_id(task, item_resource_id(item.id))
        rows.append(resource_row(task, version_id=1, last_updated=now, payer=None))
    insert_new_resources(connection, rows)


def install() -> None:
    register_publisher(publish_calls)
    register_publisher(publish_preparations)


def preparation_task_version(connection: Connection, item_id: str) -> int | None:
    """The stored version of the item's Task; None when it was never stored."""
    served = read_resource(connection, "Task", item_resource_id(item_id))
    return None if served is None else served.version_id


def update_preparation_task(
    connection: Connection,
    item_id: str,
    status: str,
    reason: str | None,
    now: datetime,
    *,
    expected_version: int | None = None,
) -> int | None:
    """The item's Task moved to `status` (its `statusReason` the reason, kept only with one),
    as a new version; the version written, or None when the Task was never stored (a run
    without `install`). `expected_version`: the version the caller saw (If-Match); another
    one, or a concurrent change, raises VersionMismatchError."""
    rid = item_resource_id(item_id)
    served = read_resource(connection, "Task", rid)
    if served is None:
        return None
    if expected_version is not None and served.version_id != expected_version:
        raise VersionMismatchError(
            f"Task/{rid} is at version {served.version_id}, not {expected_version}"
        )
    task = without_meta(orjson.loads(served.body))
    task["status"] = status
    if reason:
        task["statusReason"] = {"text": reason}
    else:
        task.pop("statusReason", None)
    task = {k: task[k] for k in _task_order(task)}
    version = served.version_id + 1
    row = resource_row(task, version_id=version, last_updated=now, payer=served.payer)
    if not replace_version(connection, row, served.version_id):
        raise VersionMismatchError(f"Task/{rid} changed meanwhile")
    return version


def _task_order(task: JsonObject) -> list[str]:
    """`statusReason` right after `status`, as the mapping writes it."""
    keys = [k for k in task if k != "statusReason"]
    if "statusReason" in task:
        keys.insert(keys.index("status") + 1, "statusReason")
    return keys


def store_contact(
    connection: Connection, request_item_id: str, patient_id: str, contact: Contact, now: datetime
) -> str:
    """The Communication of a recorded call, stored once per call item; its id."""
    resource = contact_communication(request_item_id, patient_id, contact)
    rid = urn_for(SID_CONTACT, request_item_id).removeprefix("urn:uuid:")
    _insert_once(connection, _with_id(resource, rid), now)
    return rid


def check_in_identifier(response: JsonObject, patient_id: str) -> tuple[str, str]:
    """The identifier a check-in response is stored under: its own, or, without one,
    `<patient>:<its id>` in fhir-sync's check-in system."""
    given = response.get("identifier")
    if isinstance(given, dict):
        system, value = given.get("system"), given.get("value")
        if isinstance(system, str) and isinstance(value, str) and system and value:
            return system, value
    return SID_CHECK_IN, f"{patient_id}:{response.get('id')}"


def store_check_in(
    connection: Connection, response: JsonObject, patient_id: str, now: datetime
) -> str:
    """The check-in's QuestionnaireResponse (its identifier, and what the mapping read:
    questionnaire, status, subject, authored, the answers), stored once per identifier;
    its id."""
    system, value = check_in_identifier(response, patient_id)
    rid = urn_for(system, value).removeprefix("urn:uuid:")
    stored: JsonObject = {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "identifier": {"system": system, "value": value},
    }
    stored.update((k, response[k]) for k in _RESPONSE_ELEMENTS if k in response)
    _insert_once(connection, stored, now)
    return rid


def _insert_once(connection: Connection, resource: JsonObject, now: datetime) -> None:
    kind, rid = resource["resourceType"], resource["id"]
    if rid in current_versions(connection, kind, [rid]):
        return
    insert_new_resources(
        connection, [resource_row(resource, version_id=1, last_updated=now, payer=None)]
    )


def ensure_questionnaire(engine: Engine, now: datetime | None = None) -> None:
    """Store the shipped check-in Questionnaire, or its new version when the shipped one
    changed; nothing when it is stored already (or the database has no tables yet: the
    server was started on an unmigrated database). Two servers starting at once may both
    try: the loser's insert fails on the key, and the winner's row is the same."""
    if not inspect(engine).has_table("fhir_resource"):
        return
    stamp = now or datetime.now(UTC)
    wanted = {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        **{k: v for k, v in check_in_questionnaire().items() if k != "resourceType"},
    }
    try:
        with write_transaction(engine) as connection:
            served = read_resource(connection, "Questionnaire", QUESTIONNAIRE_ID)
            if served is not None and without_meta(orjson.loads(served.body)) == wanted:
                return
            version = 1 if served is None else served.version_id + 1
            row = resource_row(wanted, version_id=version, last_updated=stamp, payer=None)
            save_resources(connection, [row])
    except IntegrityError:
        return
