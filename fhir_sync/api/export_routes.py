"""Bulk Data export of a payer's members: kick-off, status, files, cancel.

`GET /fhir/Group/<id>/$export` (with `Prefer: respond-async`) answers 202 with the status URL
in `Content-Location`; the status answers 202 (`X-Progress`, `Retry-After`) until the
manifest is ready, then 200 with it; each file is NDJSON; `DELETE` on the status URL cancels
the job or removes its files. Only the caller that started a job sees it: anyone else gets
404, as for a resource they may not read. A payer can export only its own Group, and the
export holds only resources stored under that payer.

(No `from __future__ import annotations`: FastAPI evaluates the route signatures.)
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Header, Request, Response
from sqlalchemy import Connection

from fhir_sync.api.auth import Caller, require_scope, tokens_enforced
from fhir_sync.api.context import Database, fhir_base
from fhir_sync.api.errors import FhirError
from fhir_sync.api.export_request import parse_export
from fhir_sync.api.fhirjson import dumps, fhir_response
from fhir_sync.api.operation_route import operation_route
from fhir_sync.api.read_routes import visible_group
from fhir_sync.api.search_request import ID_PATTERN
from fhir_sync.services.exports import KEEP_FOR, ExportRunner
from fhir_sync.services.fhir_dates import http_date, instant_text
from fhir_sync.services.indexing import JsonObject
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.exports import (
    COMPLETED,
    FAILED,
    QUEUED,
    FileInfo,
    create_job,
    delete_expired,
    delete_job,
    file_body,
    get_job,
    job_files,
    needs_worker,
)
from fhir_sync.store.tables import ExportJob
from mappings.outcome import operation_outcome

router = APIRouter()
Exporter = Annotated[Caller, Depends(require_scope("Group.r"))]
FHIR_NDJSON: Final = "application/fhir+ndjson"
RETRY_AFTER: Final = "1"
_FILE_NAME: Final = re.compile(r"([0-9]{1,9})\.ndjson")


def runner_of(request: Request) -> ExportRunner:
    runner: ExportRunner = request.app.state.exports
    return runner


@operation_route(router, "export", name="export Group")
def kick_off(
    request: Request,
    database: Database,
    group_id: str,
    caller: Exporter,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    wanted = parse_export(request.query_params.multi_items(), prefer=prefer, caller=caller)
    now = datetime.now(UTC)
    job_id = uuid.uuid4().hex
    base = fhir_base(request)
    query = request.url.query
    with write_transaction(database) as connection:
        delete_expired(connection, now)
        group = visible_group(connection, group_id, caller)
        create_job(
            connection,
            ExportJob(
                id=job_id,
                group_id=group.id,
                payer=group.payer,
                types=",".join(wanted.types),
                since=wanted.since,
                request_url=f"{base}/Group/{group.id}/$export" + (f"?{query}" if query else ""),
                client_id=caller.client_id,
                owner_payer=caller.payer,
                status=QUEUED,
                created_at=now,
                updated_at=now,
                expires_at=now + KEEP_FOR,
            ),
        )
    runner_of(request).submit(job_id)
    outcome = operation_outcome("information", "informational", "the export has started")
    return fhir_response(outcome, 202, headers={"Content-Location": f"{base}/bulk-status/{job_id}"})


@router.get("/fhir/bulk-status/{job_id}", name="export status")
def status(request: Request, database: Database, job_id: str, caller: Exporter) -> Response:
    now = datetime.now(UTC)
    with read_transaction(database) as connection:
        job = _owned_job(connection, job_id, caller)
        files = job_files(connection, job_id) if job.status == COMPLETED else []
    if job.status == COMPLETED:
        return Response(
            content=dumps(_manifest(request, job, files)),
            media_type="application/json",
            headers={"Expires": http_date(job.expires_at)},
        )
    if job.status == FAILED:
        raise FhirError(500, job.error or "the export failed", code="exception")
    if needs_worker(job, now):
        runner_of(request).submit(job.id)  # its process died, or it never started
    progress = "queued" if job.status == QUEUED else f"{job.exported} of {job.total} resources"
    return Response(status_code=202, headers={"X-Progress": progress, "Retry-After": RETRY_AFTER})


@router.delete("/fhir/bulk-status/{job_id}", name="cancel export")
def cancel(request: Request, database: Database, job_id: str, caller: Exporter) -> Response:
    with write_transaction(database) as connection:
        _owned_job(connection, job_id, caller)
        delete_job(connection, job_id)
    outcome = operation_outcome("information", "informational", "the export was deleted")
    return fhir_response(outcome, 202)


@router.get("/fhir/bulk-files/{job_id}/{file_name}", name="export file")
def download(
    request: Request, database: Database, job_id: str, file_name: str, caller: Exporter
) -> Response:
    found = _FILE_NAME.fullmatch(file_name)
    with read_transaction(database) as connection:
        job = _owned_job(connection, job_id, caller)
        body = file_body(connection, job_id, int(found.group(1))) if found else None
    if body is None or job.status != COMPLETED:
        raise FhirError(404, "no such export file")
    return Response(content=body, media_type=FHIR_NDJSON)


def _owned_job(connection: Connection, job_id: str, caller: Caller) -> ExportJob:
    job = get_job(connection, job_id) if ID_PATTERN.fullmatch(job_id) else None
    if job is None or (job.client_id, job.owner_payer) != (caller.client_id, caller.payer):
        raise FhirError(404, "no such export job")
    return job


def _manifest(request: Request, job: ExportJob, files: list[FileInfo]) -> JsonObject:
    assert job.transaction_time is not None
    base = fhir_base(request)
    return {
        "transactionTime": instant_text(job.transaction_time),
        "request": job.request_url,
        # The truth right now: the file routes check tokens exactly when the API does.
        "requiresAccessToken": tokens_enforced(request),
        "output": [
            {
                "type": f.resource_type,
                "url": f"{base}/bulk-files/{job.id}/{f.seq}.ndjson",
                "count": f.count,
            }
            for f in files
        ],
        "error": [],
    }
