"""`GET /fhir/AuditEvent` and `GET /fhir/AuditEvent/{id}`: the audit trail, for the pharmacy
role only (`system/AuditEvent.rs`). Newest first; `next` links page back in time.

(No `from __future__ import annotations`: FastAPI evaluates these signatures.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from fhir_sync.api.audit.events import audit_event
from fhir_sync.api.audit.search import AUDIT_ID, parse_audit_search
from fhir_sync.api.audit.writer import AuditWriter
from fhir_sync.api.auth import Caller, require_scope
from fhir_sync.api.bundles import Found, searchset_page
from fhir_sync.api.context import Database, Settings, fhir_base
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import dumps, fhir_response
from fhir_sync.api.search_request import wants_strict
from fhir_sync.store.audit import count_audit, get_audit, search_audit
from fhir_sync.store.database import read_transaction

router = APIRouter()
_FLUSH_SECONDS = 5.0


@router.get("/fhir/AuditEvent", name="search AuditEvent")
def search_audit_events(
    request: Request,
    database: Database,
    settings: Settings,
    _caller: Annotated[Caller, Depends(require_scope("AuditEvent.s"))],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    parsed = parse_audit_search(
        request.query_params.multi_items(),
        strict=wants_strict(prefer),
        default_count=settings.default_count,
        max_count=settings.max_count,
    )
    _writer(request).flush(_FLUSH_SECONDS)
    base = fhir_base(request)
    with read_transaction(database) as connection:
        if parsed.summary_count:
            total = count_audit(connection, parsed.query)
            return fhir_response(searchset_page(base, "AuditEvent", parsed, total=total))
        records = search_audit(connection, parsed.query)
    more = len(records) > parsed.count
    records = records[: parsed.count]
    matches: list[Found] = [
        ("AuditEvent", str(record.id), dumps(audit_event(record))) for record in records
    ]
    following = str(records[-1].id) if more and records else None
    return fhir_response(
        searchset_page(base, "AuditEvent", parsed, matches=matches, following=following)
    )


@router.get("/fhir/AuditEvent/{audit_id}", name="read AuditEvent")
def read_audit_event(
    request: Request,
    database: Database,
    audit_id: str,
    _caller: Annotated[Caller, Depends(require_scope("AuditEvent.r"))],
) -> Response:
    record = None
    if AUDIT_ID.fullmatch(audit_id):
        _writer(request).flush(_FLUSH_SECONDS)
        with read_transaction(database) as connection:
            record = get_audit(connection, int(audit_id))
    if record is None:
        raise FhirError(404, f"AuditEvent/{audit_id[:64]} is not known")
    return fhir_response(audit_event(record))


def _writer(request: Request) -> AuditWriter:
    writer: AuditWriter = request.app.state.audit
    return writer
