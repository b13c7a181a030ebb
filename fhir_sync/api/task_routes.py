"""`PUT /fhir/Task/<id>`: a preparation Task's state changed through the API.

Only the monthly cycle's `prepare-fills` Tasks are updated, and only their `status` (with a
`statusReason` for on-hold): the rest of the Task is fhir-sync's, so a body that changes
anything else is refused rather than half applied. The update is optimistic: `If-Match:
W/"<version>"` is required, and a Task changed since that version answers 412. The change
goes through `services/worklist.set_preparation_status`, as the staff app's buttons do, so the
worklist and the stored Task stay in step. Renewal Tasks are the plan's and are not updated
here (the EHR answers them).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.auth import Caller, require_scope
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import fhir_response
from fhir_sync.api.input_limits import check_json_body
from fhir_sync.api.search_request import ID_PATTERN
from fhir_sync.services import worklist
from fhir_sync.services.fhir_dates import http_date
from fhir_sync.store.resources import Served, fetch_resource
from mappings.outbound.preparation_task import NEXT_STATUS
from mappings.profile import SID_CYCLE_ITEM

router = APIRouter()
Updater = Annotated[Caller, Depends(require_scope("Task.u"))]
_WEAK_ETAG: Final = re.compile(r'(?:W/)?"([1-9][0-9]{0,17})"')
#: What a client may change on a preparation Task; everything else must be as stored.
_CHANGEABLE: Final = frozenset({"meta", "status", "statusReason"})


def _version(header: str | None) -> int:
    if header is None:
        raise FhirError(428, 'If-Match: W/"<version>" is required to update a Task')
    found = _WEAK_ETAG.fullmatch(header.strip())
    if found is None:
        raise FhirError(400, 'If-Match must be W/"<version>"', code="value")
    return int(found.group(1))


def _item_id(task: dict[str, Any]) -> str | None:
    """The cycle item a preparation Task stands for (its identifier's value)."""
    for ident in task.get("identifier") or ():
        if ident.get("system") == SID_CYCLE_ITEM and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None


def _reason(body: dict[str, Any]) -> str | None:
    reason = body.get("statusReason")
    if reason is None:
        return None
    text = reason.get("text") if isinstance(reason, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        raise FhirError(422, "statusReason must have a text (500 characters at most)", code="value")
    return text.strip()


@router.put("/fhir/Task/{task_id}", name="update Task")
async def update_task(request: Request, task_id: str, _caller: Updater) -> Response:
    if not ID_PATTERN.fullmatch(task_id):
        raise FhirError(404, f"Task/{task_id[:64]} is not a valid id")
    version = _version(request.headers.get("if-match"))
    check_json_body(request.headers.get("content-type"))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise FhirError(400, "the body is not JSON", code="structure") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Task":
        raise FhirError(400, "the body must be a Task", code="structure")
    if body.get("id") != task_id:
        raise FhirError(400, "the Task's id must be the id in the URL", code="invariant")
    engine = request.app.state.engine
    stored = await run_in_threadpool(fetch_resource, engine, "Task", task_id)
    if stored is None:
        raise FhirError(404, f"Task/{task_id} is not known")
    current = orjson.loads(stored.body)
    item_id = _item_id(current)
    if item_id is None:
        raise FhirError(
            405, "only the monthly cycle's preparation Tasks are updated", code="not-supported"
        )
    kept = {k: v for k, v in current.items() if k not in _CHANGEABLE}
    given = {k: v for k, v in body.items() if k not in _CHANGEABLE}
    if given != kept:
        raise FhirError(
            422, "only status and statusReason of a preparation Task may change", code="invariant"
        )
    status = body.get("status")
    if not isinstance(status, str) or status not in NEXT_STATUS:
        raise FhirError(422, f"status must be one of {', '.join(NEXT_STATUS)}", code="code-invalid")
    reason = _reason(body)
    if status == "on-hold" and reason is None:
        raise FhirError(422, "a Task put on hold needs its statusReason", code="required")
    await run_in_threadpool(
        lambda: worklist.set_preparation_status(
            engine, item_id, status, reason=reason, version=version
        )
    )
    updated = await run_in_threadpool(fetch_resource, engine, "Task", task_id)
    return _answer(updated if updated is not None else stored)


def _answer(served: Served) -> Response:
    headers = {
        "ETag": f'W/"{served.version_id}"',
        "Last-Modified": http_date(served.last_updated),
    }
    return fhir_response(served.body, headers=headers)
