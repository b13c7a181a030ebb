"""The audit trail: an AuditEvent for every access to patient data.

`access` (what a finished request did), `middleware` (sees every `/fhir` request), `writer`
(batches rows into the database off the request path), `events` (rows as FHIR AuditEvents),
`search` and `routes` (`GET /fhir/AuditEvent`, pharmacy only).
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from fhir_sync.api.audit import routes
from fhir_sync.api.audit.access import note_disclosed
from fhir_sync.api.audit.middleware import AuditMiddleware
from fhir_sync.api.audit.writer import AuditWriter

__all__ = ["AuditWriter", "install_audit", "note_disclosed"]


def install_audit(app: FastAPI, engine: Engine) -> AuditWriter:
    """Audit every `/fhir` call of `app`; the writer returned must be closed at shutdown."""
    writer = AuditWriter(engine)
    app.state.audit = writer
    app.add_middleware(AuditMiddleware)
    app.include_router(routes.router)
    return writer
