"""Referenced Medications made local, so the mappings see one drug however it was sent.

Orders and dispenses may name their drug by `medicationReference` to a Medication resource;
searches bring those along with `_include`. The mappings read a drug from
`medicationCodeableConcept` or from a *contained* Medication, so an included one is copied in
as contained (the reference becomes `#<id>`): order and dispense then get the same drug key
and the same package size as when a file carries the Medication inline. A server that
does not honour `_include` leaves the Medication out; `MedicationCache` fetches those by id,
batched per page and remembered for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.http import FhirClient, SearchPage
from mappings.fhir_values import reference_id

Resource = dict[str, Any]
LOCAL_ID = "fhir-sync-medication"


def medications_by_reference(included: list[Resource]) -> dict[str, Resource]:
    """`Medication/<id>` -> the included Medication."""
    found: dict[str, Resource] = {}
    for resource in included:
        rid = resource.get("id")
        if resource.get("resourceType") == "Medication" and isinstance(rid, str):
            found[f"Medication/{rid}"] = resource
    return found


def inline_medication(resource: Resource, medications: Mapping[str, Resource]) -> Resource:
    """The resource with its referenced Medication contained, or the resource unchanged.

    Returns a new dict when it changes anything: the caller's page stays as the server sent it.
    """
    if not medications:
        return resource
    reference = resource.get("medicationReference")
    if not isinstance(reference, dict):
        return resource
    target = reference.get("reference")
    if not isinstance(target, str) or target.startswith("#"):
        return resource
    rid = reference_id(target, "Medication")
    medication = medications.get(f"Medication/{rid}") if rid is not None else None
    if medication is None:
        return resource
    contained = [c for c in resource.get("contained") or [] if isinstance(c, dict)]
    local = {k: v for k, v in medication.items() if k not in ("meta", "text")}
    local["id"] = LOCAL_ID
    inlined = dict(resource)
    inlined["contained"] = [*contained, local]
    inlined["medicationReference"] = {**reference, "reference": f"#{LOCAL_ID}"}
    return inlined


#: Ids per `Medication?_id=` search: a page of orders names at most this many new drugs in
#: practice, and the query stays far below the URL lengths servers accept.
IDS_PER_SEARCH = 50


def external_medication_ids(resources: Iterable[Resource]) -> list[str]:
    """The ids of the Medications these resources name by a reference that is not `#local`,
    in first-seen order, each once."""
    seen: dict[str, None] = {}
    for resource in resources:
        reference = resource.get("medicationReference")
        if not isinstance(reference, dict):
            continue
        target = reference.get("reference")
        if not isinstance(target, str) or target.startswith("#"):
            continue
        rid = reference_id(target, "Medication")
        if rid is not None:
            seen.setdefault(rid, None)
    return list(seen)


@dataclass(slots=True)
class MedicationCache:
    """The Medications one endpoint has answered for in this run, and the ids it did not have.

    A server that ignores `_include` (or pages its included resources away from the match)
    leaves an order naming a Medication by reference without the Medication: its form, amount
    and package would be missing and the order planned as a bare name. The cache fetches those
    with one `Medication?_id=a,b,c` search per page of matches and remembers the answer, so a
    drug most patients take is fetched once a run, not once a patient.
    """

    found: dict[str, Resource] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    searches: int = 0

    async def complete(self, client: FhirClient, page: SearchPage) -> dict[str, Resource]:
        """`Medication/<id>` -> Medication for every reference of the page's matches that the
        page's included resources, this cache or one search can resolve."""
        known = medications_by_reference(page.included)
        for key, medication in known.items():
            self.found.setdefault(key, medication)
        wanted = [
            rid
            for rid in external_medication_ids(page.matches)
            if f"Medication/{rid}" not in known
            and f"Medication/{rid}" not in self.found
            and rid not in self.missing
        ]
        for start in range(0, len(wanted), IDS_PER_SEARCH):
            batch = wanted[start : start + IDS_PER_SEARCH]
            self.searches += 1
            async for answer in client.search_pages("Medication", [("_id", ",".join(batch))]):
                self.found.update(medications_by_reference(answer.matches))
            self.missing.update(rid for rid in batch if f"Medication/{rid}" not in self.found)
        return {**self.found, **known}
