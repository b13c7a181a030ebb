"""What every `POST /fhir/Patient/{id}/$<operation>` route needs first: the caller allowed to
change a patient's enrollment or cycle, the id checked as a FHIR id, a JSON body.

Shared by the enrollment operations (operation_routes.py) and the monthly cycle's
(cycle_routes.py), so that both answer a bad id, a non-JSON body and a missing scope alike.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fhir_sync.api.auth import Caller, require_scope
from fhir_sync.api.errors import FhirError
from fhir_sync.api.input_limits import check_json_body
from fhir_sync.api.search_request import ID_PATTERN

Pharmacy = Annotated[Caller, Depends(require_scope("Patient.u"))]


def checked_patient_id(patient_id: str) -> str:
    """The path's patient id; 400 when it is not a FHIR id."""
    if not ID_PATTERN.fullmatch(patient_id):
        raise FhirError(400, "the patient id is not a FHIR id")
    return patient_id


async def json_body(request: Request) -> bytes:
    """The request body; 415 first when its Content-Type says it is not JSON."""
    check_json_body(request.headers.get("content-type"))
    return await request.body()
