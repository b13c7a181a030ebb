"""The cycle's calls as stored FHIR resources: each call item, when first stored, becomes a
CommunicationRequest (mappings/outbound/outreach.py) in the resource table, so it is read and
searched like the plan's resources. They stay in the pharmacy: nothing is written to an EHR.
Its id is the uuid of its cycle item identifier, the `resource` the worklist names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from fhir_sync.engine.cycle_types import CycleItem
from fhir_sync.services.cycle_run import item_resource_id, register_publisher
from fhir_sync.services.indexing import resource_row
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.store.resources import insert_new_resources
from mappings.outbound.outreach import CALL_KINDS, call_request


def publish_calls(connection: Connection, items: Sequence[CycleItem], now: datetime) -> None:
    rows = []
    for item in items:
        if item.kind not in CALL_KINDS or item.pickup is None:
            continue
        resource = call_request(item, careplan=f"CarePlan/{careplan_id(item.patient_id)}")
        resource = {
            "resourceType": resource.pop("resourceType"),
            "id": item_resource_id(item.id),
            **resource,
        }
        rows.append(resource_row(resource, version_id=1, last_updated=now, payer=None))
    insert_new_resources(connection, rows)


def install() -> None:
    register_publisher(publish_calls)
