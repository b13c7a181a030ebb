"""Referenced Medications the server did not include, fetched by id for the sync's pulls.

Making a referenced Medication contained is the mappings' (`mappings.inbound.medication_refs`);
this module adds what needs the network: a server that does not honour `_include` leaves the
Medication out, and `MedicationCache` fetches those by id, batched per page and remembered
for the rest of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.http import FhirClient, SearchPage
from mappings.inbound.medication_refs import (
    LOCAL_ID,
    Resource,
    external_medication_ids,
    inline_medication,
    medications_by_reference,
)

__all__ = [
    "LOCAL_ID",
    "MedicationCache",
    "Resource",
    "external_medication_ids",
    "inline_medication",
    "medications_by_reference",
]

#: Ids per `Medication?_id=` search: a page of orders names at most this many new drugs in
#: practice, and the query stays far below the URL lengths servers accept.
IDS_PER_SEARCH = 50


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
