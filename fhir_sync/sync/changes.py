"""Incremental runs: which patients had an order or a fill change since a cursor.

A change only names the patient; the patient is then pulled and planned in full, since a plan
made from the changed orders alone would drop the unchanged ones. Patients are yielded as soon
as they are first seen, so planning starts while the change feed is still being read, and the
cursors (one per endpoint and type) are recorded only once their feed was read to the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping

from fhir_sync.sync.pull import Endpoint, Sources
from mappings.fhir_values import reference_id


async def changed_patients(
    sources: Sources, since: str, cursors: MutableMapping[str, str | None]
) -> AsyncIterator[str]:
    """Patient ids with a MedicationRequest (EHR) or MedicationDispense (fills) changed after
    `since`; `cursors["<endpoint> <type>"]` gets each feed's next cursor when it is exhausted."""
    seen: set[str] = set()
    feeds: list[tuple[Endpoint, str]] = [
        (sources.orders, "MedicationRequest"),
        (sources.dispenses, "MedicationDispense"),
    ]
    for endpoint, resource_type in feeds:
        pull = endpoint.client.pull_since(resource_type, since)
        async for page in pull:
            for resource in page.matches:
                patient_id = _subject(resource)
                if patient_id is not None and patient_id not in seen:
                    seen.add(patient_id)
                    yield patient_id
        cursors[f"{endpoint.name} {resource_type}"] = pull.cursor


def _subject(resource: dict[str, object]) -> str | None:
    subject = resource.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    return reference_id(reference, "Patient") if isinstance(reference, str) else None
