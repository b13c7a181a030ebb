"""Every page view and action of the web app as an audit row, like API access: who (the
staff user, with their role), what (the page or action), whose data, and how it ended.

Written at once in its own small transaction: staff views come at human speed, and a pharmacy
asking "who looked at this patient" must see the view that just happened."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine

from fhir_sync.services.staff_accounts import Staff
from fhir_sync.store.audit import insert_audit_rows
from fhir_sync.store.database import write_transaction

log = logging.getLogger("fhir_sync.webapp")
CLIENT_PREFIX = "staff:"


def record(
    engine: Engine,
    staff: Staff | None,
    interaction: str,
    *,
    action: str = "R",
    patient_id: str | None = None,
    status: int = 200,
    username: str | None = None,
) -> None:
    """`action` as AuditEvent.action: R a page view, E an action, C/U/D data changes."""
    name = staff.username if staff is not None else username
    row: dict[str, object] = {
        "recorded": datetime.now(UTC),
        "client_id": f"{CLIENT_PREFIX}{name}" if name else None,
        "role": staff.role.value if staff is not None else None,
        "action": action,
        "interaction": f"app-{interaction}"[:32],
        "resource_type": "Patient" if patient_id else None,
        "resource_id": patient_id,
        "patient_id": patient_id,
        "outcome": "0" if status < 400 else ("4" if status < 500 else "8"),
        "status": status,
        "query": None,
    }
    try:
        with write_transaction(engine) as connection:
            insert_audit_rows(connection, [row])
    except Exception as exc:  # an audit failure is logged, never shown with patient data
        log.error("writing a web app audit row failed: %s", type(exc).__name__)
