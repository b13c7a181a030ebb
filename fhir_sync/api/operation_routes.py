"""`POST /fhir/Patient/{id}/$<operation>`: the enrollment operations.

Async routes, because `$enroll`, `$resume` and `$sync` may pull from live endpoints; the
database work, which is blocking, runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.bundles import collection
from fhir_sync.api.context import Service, Today, fhir_base
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import fhir_response
from fhir_sync.api.operation_parameters import (
    NO_PARTS,
    enroll_terms,
    hold_until,
    parse_parameters,
    sync_resources,
)
from fhir_sync.api.operation_route import operation_route
from fhir_sync.api.patient_operation import Pharmacy, checked_patient_id, json_body
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.enrollment import EnrollmentService, OperationResult, endpoints_of
from fhir_sync.services.live_pull import Endpoints
from fhir_sync.services.patient_inputs import gather

router = APIRouter()
# $plan too: without resources in the request it plans from the enrollment's stored data,
# which a reader (a payer, of anyone) must not get through a preview.
Previewer = Pharmacy
IfMatch = Annotated[str | None, Header(alias="If-Match")]


async def _changed(
    request: Request,
    operation: Callable[..., OperationResult],
    *args: object,
    if_match: str | None,
) -> Response:
    """Runs a blocking enrollment change in the thread pool and answers the plan it leaves, as
    a collection Bundle."""
    result = await run_in_threadpool(operation, *args, if_match=if_match)
    return fhir_response(collection(fhir_base(request), result.plan))


@operation_route(router, "enroll")
async def enroll(
    request: Request, service: Service, patient_id: str, _caller: Pharmacy, if_match: IfMatch = None
) -> Response:
    patient_id = checked_patient_id(patient_id)
    terms = enroll_terms(await json_body(request))
    data = None
    if terms.resources:
        data = gather(patient_id, terms.resources)
    else:
        existing = await run_in_threadpool(service.enrollment, patient_id)
        endpoints = Endpoints(
            terms.ehr_endpoint or (existing.ehr_endpoint if existing else None),
            terms.pharmacy_endpoint or (existing.pharmacy_endpoint if existing else None),
            terms.target_endpoint or (existing.target_endpoint if existing else None),
        )
        has_inputs = existing is not None and existing.inputs is not None
        if endpoints.any and (service.live is not None or not has_inputs):
            data = await service.pull(patient_id, endpoints)
    return await _changed(request, service.enroll, patient_id, terms, data, if_match=if_match)


@operation_route(router, "unenroll")
async def unenroll(
    request: Request, service: Service, patient_id: str, _caller: Pharmacy, if_match: IfMatch = None
) -> Response:
    parse_parameters(await json_body(request), NO_PARTS)
    return await _changed(
        request, service.unenroll, checked_patient_id(patient_id), if_match=if_match
    )


@operation_route(router, "hold")
async def hold(
    request: Request,
    today: Today,
    service: Service,
    patient_id: str,
    _caller: Pharmacy,
    if_match: IfMatch = None,
) -> Response:
    until = hold_until(await json_body(request), today)
    return await _changed(
        request, service.hold, checked_patient_id(patient_id), until, if_match=if_match
    )


@operation_route(router, "resume")
async def resume(
    request: Request, service: Service, patient_id: str, _caller: Pharmacy, if_match: IfMatch = None
) -> Response:
    parse_parameters(await json_body(request), NO_PARTS)
    patient_id = checked_patient_id(patient_id)
    data = await _fresh_data(service, patient_id, [], required=False)
    return await _changed(request, service.resume, patient_id, data, if_match=if_match)


@operation_route(router, "sync")
async def sync(
    request: Request, service: Service, patient_id: str, _caller: Pharmacy, if_match: IfMatch = None
) -> Response:
    given = sync_resources(await json_body(request))
    patient_id = checked_patient_id(patient_id)
    data = await _fresh_data(service, patient_id, given, required=True)
    assert data is not None
    return await _changed(request, service.sync, patient_id, data, given, if_match=if_match)


@operation_route(router, "plan")
async def plan(request: Request, service: Service, patient_id: str, _caller: Previewer) -> Response:
    patient_id = checked_patient_id(patient_id)
    terms = enroll_terms(await json_body(request))
    if terms.resources:
        data = gather(patient_id, terms.resources)
    else:
        found = await _fresh_data(service, patient_id, [], required=False)
        if found is None:
            raise FhirError(
                422,
                "nothing to plan from: give 'resource' parts (a Bundle of MedicationRequest "
                "and MedicationDispense) or enroll the patient with endpoints first",
                code="required",
            )
        data = found
    bundle = await run_in_threadpool(service.preview, patient_id, terms, data)
    return fhir_response(bundle)


async def _fresh_data(
    service: EnrollmentService, patient_id: str, given: list[dict[str, object]], *, required: bool
) -> PatientInputs | None:
    """Given resources win; else the enrollment's endpoints (when live pulls are wired);
    else the resources it was enrolled with; else a pull, which says it is not available.

    None when there is nothing new (the caller keeps the stored inputs); with `required` that
    is a 404 for an unknown patient and 422 when nothing at all can be planned from.
    """
    if given:
        return gather(patient_id, given)
    enrollment = await run_in_threadpool(service.enrollment, patient_id)
    if enrollment is None:
        if required:
            raise FhirError(404, f"Patient/{patient_id} is not enrolled")
        return None
    endpoints = endpoints_of(enrollment)
    if endpoints.any and service.live is not None:
        return await service.pull(patient_id, endpoints)
    stored = await run_in_threadpool(service.stored_inputs, patient_id)
    if stored is None and endpoints.any:
        return await service.pull(patient_id, endpoints)
    if stored is None and required:
        raise FhirError(
            422,
            "nothing to sync from: the enrollment has no endpoints and no stored resources; "
            "give 'resource' parts",
            code="required",
        )
    return stored
