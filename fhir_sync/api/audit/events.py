"""Audit rows as FHIR R4 AuditEvent resources, built when searched (rows are small and
searched rarely, so storing the JSON as well would cost more than building it).

Shape, following the IHE Basic Audit Log Patterns where they apply: `type` rest with the
RESTful interaction as `subtype` (plus the operation's name); the client as the requesting
agent, named by its client id (clients are systems, not FHIR resources here); the target
resource, the patient whose data was disclosed and, for a search, its parameters (`query`,
base64) as entities.
"""

from __future__ import annotations

import base64
from typing import Final

from fhir_sync.services.fhir_dates import instant_text
from fhir_sync.services.indexing import JsonObject
from fhir_sync.store.tables import AuditRecord

SID_CLIENT: Final = "https://fhir-sync.org/sid/client-id"
CS_ROLE: Final = "https://fhir-sync.org/CodeSystem/client-role"
CS_OPERATION: Final = "https://fhir-sync.org/CodeSystem/operation"
_TERMINOLOGY: Final = "http://terminology.hl7.org/CodeSystem"
_REST: Final = {"system": f"{_TERMINOLOGY}/audit-event-type", "code": "rest"}
_INTERACTIONS: Final = "http://hl7.org/fhir/restful-interaction"
_ENTITY_TYPE: Final = f"{_TERMINOLOGY}/audit-entity-type"
_OBJECT_ROLE: Final = f"{_TERMINOLOGY}/object-role"
_SOURCE: Final = {
    "site": "fhir-sync",
    "observer": {"display": "fhir-sync"},
    "type": [{"system": f"{_TERMINOLOGY}/security-source-type", "code": "4"}],
}


def audit_event(record: AuditRecord) -> JsonObject:
    event: JsonObject = {
        "resourceType": "AuditEvent",
        "id": str(record.id),
        "meta": {"lastUpdated": instant_text(record.recorded)},
        "type": _REST,
        "subtype": _subtype(record.interaction),
        "action": record.action,
        "recorded": instant_text(record.recorded),
        "outcome": record.outcome,
        "outcomeDesc": f"HTTP {record.status}",
        "agent": [_agent(record)],
        "source": _SOURCE,
    }
    entities = _entities(record)
    if entities:
        event["entity"] = entities
    return event


def _subtype(interaction: str) -> list[JsonObject]:
    if interaction in ("read", "search-type", "update"):
        return [{"system": _INTERACTIONS, "code": interaction}]
    if interaction.startswith("$"):
        return [
            {"system": _INTERACTIONS, "code": "operation"},
            {"system": CS_OPERATION, "code": interaction},
        ]
    return [{"system": CS_OPERATION, "code": interaction}]


def _agent(record: AuditRecord) -> JsonObject:
    agent: JsonObject = {"requestor": True}
    if record.role:
        agent["role"] = [{"coding": [{"system": CS_ROLE, "code": record.role}]}]
    if record.client_id is None:
        agent["who"] = {"display": "anonymous (authorization not enforced)"}
    else:
        agent["who"] = {
            "identifier": {"system": SID_CLIENT, "value": record.client_id},
            "display": record.client_id,
        }
    return agent


def _entities(record: AuditRecord) -> list[JsonObject]:
    entities: list[JsonObject] = []
    if record.resource_type and record.resource_id and record.resource_type != "Patient":
        entities.append(
            {
                "what": {"reference": f"{record.resource_type}/{record.resource_id}"},
                "type": {"system": _ENTITY_TYPE, "code": "2"},  # system object
                "role": {"system": _OBJECT_ROLE, "code": "4"},  # domain resource
            }
        )
    if record.patient_id:
        entities.append(
            {
                "what": {"reference": f"Patient/{record.patient_id}"},
                "type": {"system": _ENTITY_TYPE, "code": "1"},  # person
                "role": {"system": _OBJECT_ROLE, "code": "1"},  # patient
            }
        )
    if record.query is not None:
        entities.append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2"},
                "role": {"system": _OBJECT_ROLE, "code": "24"},  # query
                "description": f"search {record.resource_type}",
                "query": base64.b64encode(record.query.encode()).decode(),
            }
        )
    return entities
