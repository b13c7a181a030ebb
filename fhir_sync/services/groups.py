"""Each payer's enrolled members as a FHIR Group, built when read.

A payer may have a hundred thousand members; rewriting a stored Group on every enrollment would
cost far more than building it on the rare read, so only its identity and version are stored
(`payer_group`) and the members come from the enrollments. Members keep their enrollment
period; an unenrolled member stays in the Group as `inactive` with the period's end.
"""

from __future__ import annotations

import uuid
from typing import Final

from fhir_sync.services.fhir_dates import instant_text
from fhir_sync.services.indexing import JsonObject
from fhir_sync.store.enrollments import Member
from fhir_sync.store.tables import PayerGroup
from mappings.fhir_values import ID_PATTERN

SID_PAYER_MEMBERS: Final = "https://fhir-sync.org/sid/payer-members"
_PREFIX: Final = "payer-"


def payer_group_id(payer: str) -> str:
    """`payer-<organization id>`, or a uuid when that would not be a FHIR id (more than 64
    characters, or a payer that is not `Organization/<id>`), so the id is always valid."""
    readable = _PREFIX + payer.removeprefix("Organization/")
    if payer.startswith("Organization/") and ID_PATTERN.fullmatch(readable):
        return readable
    return str(uuid.uuid5(uuid.NAMESPACE_URL, SID_PAYER_MEMBERS + "|" + payer))


def payer_group(group: PayerGroup, members: list[Member]) -> JsonObject:
    entries = []
    for member in members:
        period = {"start": instant_text(member.enrolled_at)}
        if member.revoked_at is not None:
            period["end"] = instant_text(member.revoked_at)
        entry: JsonObject = {"entity": {"reference": f"Patient/{member.patient_id}"}}
        entry["period"] = period
        entry["inactive"] = member.status == "revoked"
        entries.append(entry)
    resource: JsonObject = {
        "resourceType": "Group",
        "id": group.id,
        "meta": {
            "versionId": str(group.version_id),
            "lastUpdated": instant_text(group.last_updated),
        },
        "identifier": [{"system": SID_PAYER_MEMBERS, "value": group.payer}],
        "active": True,
        "type": "person",
        "actual": True,
        "name": "Patients enrolled in medication synchronization",
        "managingEntity": {"reference": group.payer},
        "quantity": sum(1 for m in members if m.status != "revoked"),
    }
    if entries:
        resource["member"] = entries
    return resource
