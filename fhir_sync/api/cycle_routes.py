"""The monthly cycle's operations: `$check-in`, `$record-contact`, `$pickup` on a Patient and
the system-level `$worklist`. Routes only: the work is in fhir_sync/services/worklist.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Final, Protocol, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.context import Today, fhir_base
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import fhir_response
from fhir_sync.api.input_limits import parsed_json, whole_number
from fhir_sync.api.operation_parameters import parse_parameters
from fhir_sync.api.operation_route import operation_route
from fhir_sync.api.patient_operation import Pharmacy, checked_patient_id, json_body
from fhir_sync.engine.cycle_types import PickupStatus
from fhir_sync.services import worklist as cycle
from mappings.errors import MappingError
from mappings.inbound.checkin_response import map_check_in_response
from mappings.inbound.contact_input import map_contact_communication

router = APIRouter()
_PICKUP_PARTS = {
    "status": ("valueCode",),
    "anchor": ("valueDate",),
    "date": ("valueDate",),
    "dispensed": ("valueBoolean",),
}
_CHECK_IN_PARTS = {"response": ("resource",)}
#: The most items one page of `$worklist` holds (`_count`); without `_count`, the whole day.
MAX_WORKLIST_PAGE: Final = 1000


async def _json(request: Request) -> Any:
    return parsed_json(await json_body(request))


class _OfPatient(Protocol):
    @property
    def patient_id(self) -> str: ...


Given = TypeVar("Given", bound=_OfPatient)


def _mapped(
    mapping: Callable[[dict[str, Any]], Given], body: Any, kind: str, whose: str, patient_id: str
) -> Given:
    """The body mapped: 400 unless it is a JSON object, 422 when the mapping refuses it or its
    subject is not the patient in the path."""
    if not isinstance(body, dict):
        raise FhirError(400, f"the body must be a {kind}", code="structure")
    try:
        given = mapping(body)
    except MappingError as error:
        raise FhirError(422, error.message, code=error.code, expression=error.expression) from None
    if given.patient_id != patient_id:
        raise FhirError(422, f"the {whose} subject is another patient", code="invariant")
    return given


def _parameters(*parts: dict[str, Any]) -> Response:
    return fhir_response({"resourceType": "Parameters", "parameter": [p for p in parts if p]})


def _date_part(name: str, value: date | None) -> dict[str, Any]:
    return {} if value is None else {"name": name, "valueDate": value.isoformat()}


@operation_route(router, "check-in")
async def check_in(request: Request, patient_id: str, _caller: Pharmacy) -> Response:
    patient_id = checked_patient_id(patient_id)
    body = await _json(request)
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        parts = parse_parameters(orjson.dumps(body), _CHECK_IN_PARTS)
        body = parts[0]["resource"] if parts else None
    given = _mapped(map_check_in_response, body, "QuestionnaireResponse", "response's", patient_id)
    state = request.app.state
    done = await run_in_threadpool(
        lambda: cycle.check_in(
            state.engine, patient_id, given.answers, response=body, plans=state.enrollment
        )
    )
    result = done.result
    return _parameters(
        _date_part("anchor", done.anchor),
        {"name": "replan", "valueBoolean": result.replan},
        _date_part("newAnchor", result.new_anchor),
        _date_part("earlyPickup", result.early_pickup),
        {"name": "delivery", "valueBoolean": result.delivery},
        {"name": "unenroll", "valueBoolean": result.unenroll},
        *({"name": "review", "valueString": r.words} for r in result.reviews),
        {"name": "itemsCreated", "valueInteger": done.created},
    )


@operation_route(router, "record-contact")
async def record_contact(request: Request, patient_id: str, _caller: Pharmacy) -> Response:
    patient_id = checked_patient_id(patient_id)
    body = await _json(request)
    given = _mapped(map_contact_communication, body, "Communication", "Communication's", patient_id)
    done = await run_in_threadpool(
        cycle.record_contact,
        request.app.state.engine,
        given.request_item_id,
        given.contact.outcome,
        given.contact.day,
    )
    return _parameters(
        {"name": "item", "valueString": done.item_id},
        {"name": "outcome", "valueCode": done.outcome.value},
        {"name": "itemsCreated", "valueInteger": done.created},
    )


@operation_route(router, "pickup")
async def pickup(request: Request, today: Today, patient_id: str, _caller: Pharmacy) -> Response:
    patient_id = checked_patient_id(patient_id)
    parts = {p["name"]: p for p in parse_parameters(await json_body(request), _PICKUP_PARTS)}
    try:
        status = PickupStatus(parts["status"]["valueCode"])
        anchor = date.fromisoformat(parts["anchor"]["valueDate"])
    except (KeyError, ValueError):
        raise FhirError(
            422, "status (fulfilled or noshow) and anchor (a date) are required", code="required"
        ) from None
    day_text = parts.get("date", {}).get("valueDate")
    try:
        day = date.fromisoformat(day_text) if day_text else today
    except ValueError:
        raise FhirError(422, "date must be a date", code="value") from None
    dispensed = bool(parts.get("dispensed", {}).get("valueBoolean", True))
    done = await run_in_threadpool(
        lambda: cycle.record_pickup(
            request.app.state.engine, patient_id, anchor, status, day, dispensed=dispensed
        )
    )
    return _parameters(
        _date_part("anchor", done.anchor),
        {"name": "status", "valueCode": done.status.value},
        {"name": "itemsCreated", "valueInteger": done.created},
    )


@operation_route(router, "worklist")
async def worklist(
    request: Request,
    today: Today,
    _caller: Pharmacy,
    day: Annotated[str | None, Query(alias="date")] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    count: Annotated[str | None, Query(alias="_count")] = None,
    page: Annotated[str | None, Query(alias="_page")] = None,
) -> Response:
    try:
        when = date.fromisoformat(day) if day else today
    except ValueError:
        raise FhirError(400, "date must be YYYY-MM-DD", code="value") from None
    size = None if count is None else whole_number("_count", count)
    number = 1 if page is None else whole_number("_page", page)
    if (size is not None and size > MAX_WORKLIST_PAGE) or number < 1:
        raise FhirError(400, f"_count is at most {MAX_WORKLIST_PAGE}, _page from 1", code="value")
    groups = [g for k in kind or () for g in k.split(",") if g] or None
    found = await run_in_threadpool(
        lambda: cycle.day_worklist(
            request.app.state.engine, when, groups=groups, open_only=open_only
        )
    )
    paging: list[dict[str, Any]] = []
    if size is not None:
        total = len(found.entries)
        found = _page_of(found, size, number)
        paging.append({"name": "total", "valueInteger": total})
        if number * size < total:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "_page"]
            query.append(("_page", str(number + 1)))
            following = f"{fhir_base(request)}/$worklist?{urlencode(query)}"
            paging.append({"name": "next", "valueUri": following})
    return _parameters(
        {"name": "date", "valueDate": found.day.isoformat()},
        *paging,
        *(
            {
                "name": "group",
                "part": [
                    {"name": "name", "valueCode": g.name},
                    *({"name": "item", "part": _entry_parts(e)} for e in g.entries),
                ],
            }
            for g in found.groups
        ),
    )


def _page_of(found: cycle.Worklist, size: int, number: int) -> cycle.Worklist:
    """Page `number` (from 1) of `size` items, in group order; every group stays, with the
    page's items of it (as the staff app's Today page shows a page)."""
    first = (number - 1) * size
    chosen = {e.item_id for e in found.entries[first : first + size]}
    kept = (
        cycle.WorklistGroup(g.name, tuple(e for e in g.entries if e.item_id in chosen))
        for g in found.groups
    )
    return cycle.Worklist(found.day, tuple(kept))


def _entry_parts(e: cycle.WorklistEntry) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"name": "id", "valueString": e.item_id},
        {"name": "kind", "valueCode": e.kind},
        {"name": "patient", "valueReference": {"reference": f"Patient/{e.patient_id}"}},
        {"name": "action", "valueString": e.action},
        {"name": "state", "valueCode": e.task_status or e.state},
        {"name": "urgent", "valueBoolean": e.urgent},
    ]
    if e.pickup is not None:
        parts.append({"name": "pickup", "valueDate": e.pickup.isoformat()})
    if e.resource is not None:
        parts.append({"name": "resource", "valueReference": {"reference": e.resource}})
    for f in e.fills:
        parts.append(
            {
                "name": "fill",
                "part": [
                    {
                        "name": "order",
                        "valueReference": {"reference": f"MedicationRequest/{f.order_id}"},
                    },
                    {"name": "medication", "valueString": f.medication},
                    {"name": "quantity", "valueQuantity": {"value": f.quantity, "unit": f.unit}},
                    {"name": "daysSupply", "valueInteger": f.days_supply},
                ],
            }
        )
    return parts
