"""The patient's CarePlan as the target server has it: what a sync compares and builds on.

One search by the sync-plan identifier gives everything needed: the id and version to write
against (If-Match), the digest of the plan it was written from (skip unchanged plans) and the
anchor date (keep the patient's pickup day when re-planning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from adapters.http import FhirClient, FhirError
from adapters.http.media import version_id
from mappings.outbound.plan_digest import careplan_anchor, careplan_digest
from mappings.profile import SID_SYNC_PLAN


@dataclass(frozen=True, slots=True)
class StoredPlan:
    id: str
    version: str | None
    digest: str | None
    anchor: date | None


async def read_stored_plan(client: FhirClient, patient_id: str) -> StoredPlan | None:
    """The current sync CarePlan of the patient, or None when there is none yet.

    Raises FhirError when the search fails or finds several (only a broken writer makes two;
    overwriting either would leave the other, so the patient is reported instead).
    """
    params = [("identifier", f"{SID_SYNC_PLAN}|{patient_id}"), ("_count", "2")]
    matches = [resource async for resource in client.search("CarePlan", params)]
    if not matches:
        return None
    if len(matches) > 1:
        raise FhirError(
            f"{len(matches)} CarePlans carry this patient's sync-plan identifier", status=None
        )
    careplan = matches[0]
    rid = careplan.get("id")
    if not isinstance(rid, str) or not rid:
        raise FhirError("the stored CarePlan has no id")
    return StoredPlan(
        id=rid,
        version=version_id(careplan),
        digest=careplan_digest(careplan),
        anchor=careplan_anchor(careplan),
    )
