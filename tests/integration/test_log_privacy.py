"""No patient data in a real server's log when the database refuses a write.

A trigger makes every new enrollment fail inside the database, after the patient's resources
were written in the same transaction: the error's message, PostgreSQL's DETAIL (the failing
row) and SQLAlchemy's statement parameters all hold the patient's id and the Patient resource
with its MRN. The server must answer 500 with an OperationOutcome, log the failure (type and
reference), and never write the ids or the MRNs (as text or hex-encoded bytes) to its log.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from fhir_sync.store.database import is_sqlite
from tests.server.api_support import parameters
from tests.server.databases import database, migrated_engine

from .concurrent_load import patient_copy
from .server_support import fhir_sync_env, serving

PG_TRIGGER = (
    "CREATE FUNCTION refuse_enrollment() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'enrollment of % refused', NEW.patient_id "
    "USING DETAIL = 'Failing row contains ' || NEW::text; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse_enrollment BEFORE INSERT ON enrollment "
    "FOR EACH ROW EXECUTE FUNCTION refuse_enrollment()",
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER refuse_enrollment BEFORE INSERT ON enrollment "
    "BEGIN SELECT RAISE(ABORT, 'enrollment refused'); END",
)


def refuse_enrollments(engine: Engine) -> None:
    with engine.begin() as connection:
        for statement in SQLITE_TRIGGER if is_sqlite(engine) else PG_TRIGGER:
            connection.execute(text(statement))


def enroll_body(patient_id: str, mrn: str) -> dict[str, object]:
    resources = patient_copy("pt-000001", patient_id)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    patient["identifier"] = [{"system": "urn:oid:2.16.840.1.113883.3.999", "value": mrn}]
    bundle = {"resourceType": "Bundle", "type": "collection"}
    bundle["entry"] = [{"resource": r} for r in resources]
    return parameters({"name": "resource", "resource": bundle})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_errors_leave_no_patient_data_in_the_log(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        engine = migrated_engine(url)
        refuse_enrollments(engine)
        env = fhir_sync_env(
            engine.url.render_as_string(hide_password=False), FHIR_SYNC_MIGRATE_ON_START="0"
        )
        secrets = {f"leak-{uuid.uuid4().hex[:10]}": f"MRN{uuid.uuid4().hex[:9]}" for _ in range(3)}
        with serving(tmp_path, env) as server:
            for patient_id, mrn in secrets.items():
                # A new connection each (what a 500 does to keep-alive is not tested here).
                response = httpx.post(
                    f"{server.base_url}/Patient/{patient_id}/$enroll",
                    json=enroll_body(patient_id, mrn),
                    headers={"Content-Type": "application/fhir+json"},
                    timeout=30,
                )
                assert response.status_code == 500, response.text
                assert response.json()["resourceType"] == "OperationOutcome"
        engine.dispose()
    log = server.log_path.read_text(errors="replace")
    assert log.count("internal error") >= len(secrets), log[-3000:]  # the errors were logged
    for patient_id, mrn in secrets.items():
        for secret in (patient_id, mrn, mrn.encode().hex()):
            assert secret not in log, f"{secret} in the log:\n{log[-4000:]}"
