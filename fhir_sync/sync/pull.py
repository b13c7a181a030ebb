"""Pulling a patient's orders and fills from FHIR endpoints into the `plan` pipeline.

Search results are wrapped as `RawResource`s and go through the same `collect` as files do,
so a resource is mapped, checked and rejected exactly as `fhir-sync plan` would. Positions
name the endpoint, the search and the page/match number: never a query, which holds the
patient id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from adapters.files import InputError, RawResource
from adapters.http import FhirClient, SearchPage
from fhir_sync.services.collect import Collected, collect
from fhir_sync.sync.concurrency import both
from fhir_sync.sync.medication_refs import (
    MedicationCache,
    Resource,
    inline_medication,
    medications_by_reference,
)

#: The orders a sync plans: what a pharmacy may still fill. Stopped, completed and cancelled
#: orders drop out of the plan (and the CarePlan) once the EHR records it.
ORDER_STATUSES = ("active", "on-hold")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A FHIR client and the name reports use for it (`ehr`, `pharmacy`, `target`), with the
    Medications it has answered for in this run (fetched once, used by every patient)."""

    name: str
    client: FhirClient
    medications: MedicationCache = field(default_factory=MedicationCache, compare=False)


@dataclass(frozen=True, slots=True)
class Sources:
    """Where orders come from (the EHR) and where fills come from (a pharmacy, or the EHR)."""

    orders: Endpoint
    dispenses: Endpoint


async def pull_patient(sources: Sources, patient_id: str) -> Collected:
    """One patient's active orders and all their fills, mapped; both searches run at once."""
    subject = f"Patient/{patient_id}"
    order_pages, fill_pages = await both(
        _pages(sources.orders.client.medication_requests(subject, statuses=ORDER_STATUSES)),
        _pages(sources.dispenses.client.medication_dispenses(subject, include_medication=True)),
    )
    collected = Collected()
    for endpoint, kind, pages in (
        (sources.orders, "MedicationRequest", order_pages),
        (sources.dispenses, "MedicationDispense", fill_pages),
    ):
        drugs = [await endpoint.medications.complete(endpoint.client, page) for page in pages]
        feed_pages(collected, endpoint.name, kind, pages, drugs)
    return collected


async def _pages(pages: AsyncIterator[SearchPage]) -> list[SearchPage]:
    return [page async for page in pages]


def feed_pages(
    collected: Collected,
    endpoint: str,
    resource_type: str,
    pages: Sequence[SearchPage],
    medications_of_pages: Sequence[Mapping[str, Resource]] | None = None,
) -> None:
    """Maps every match of every page into `collected`, referenced Medications made contained:
    those the page included, or `medications_of_pages[n]` for page n when given (included and
    fetched ones, `MedicationCache.complete`)."""
    source = f"{endpoint} {resource_type} search"
    for number, page in enumerate(pages, start=1):
        medications = (
            medications_of_pages[number - 1]
            if medications_of_pages is not None
            else medications_by_reference(page.included)
        )
        records: list[RawResource | InputError] = []
        for index, resource in enumerate(page.matches, start=1):
            position = f"page {number} match {index}"
            if resource.get("resourceType") != resource_type:
                records.append(
                    InputError(
                        source, position, f"the search returned something not a {resource_type}"
                    )
                )
                continue
            records.append(RawResource(source, position, inline_medication(resource, medications)))
        collect(records, collected)


async def population(client: FhirClient) -> AsyncIterator[str]:
    """Every Patient id on the endpoint, one search page in memory at a time."""
    async for page in client.search_pages("Patient"):
        for resource in page.matches:
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                yield rid


def active_order(resource: Resource) -> bool:
    """Bulk exports carry every order; keep those a per-patient search would return."""
    return resource.get("status") in ORDER_STATUSES
