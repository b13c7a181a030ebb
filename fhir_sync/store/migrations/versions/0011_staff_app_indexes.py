"""staff app indexes: a day's Appointments, open Tasks by date, a day's cycle items by state,
the stored Patients' name words and birth dates (the patient search)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A day's Appointments by their start (the pickups of a day), open Tasks by date (the
    # renewals waiting), the enrollments by status (the counts), and a day's cycle items
    # counted by kind and state without reading the rows (the worklist's group counts; the
    # index it replaces was its prefix).
    op.create_index("ix_fhir_resource_date", "fhir_resource", ["resource_type", "date_start"])
    op.create_index(
        "ix_fhir_resource_status", "fhir_resource", ["resource_type", "status", "date_start", "id"]
    )
    op.create_index("ix_enrollment_status", "enrollment", ["status"])
    op.drop_index("ix_cycle_item_day_kind", table_name="cycle_item")
    op.create_index("ix_cycle_item_day_kind_state", "cycle_item", ["day", "kind", "state"])
    _index_patients(op.get_bind())


def downgrade() -> None:
    op.execute(sa.delete(_TOKEN).where(_TOKEN.c.param.in_([_NAME_WORD, _BIRTH_DATE])))
    op.drop_index("ix_cycle_item_day_kind_state", table_name="cycle_item")
    op.create_index("ix_cycle_item_day_kind", "cycle_item", ["day", "kind"])
    op.drop_index("ix_enrollment_status", table_name="enrollment")
    op.drop_index("ix_fhir_resource_status", table_name="fhir_resource")
    op.drop_index("ix_fhir_resource_date", table_name="fhir_resource")


# The patient search's index entries of the Patients stored before 0011 (those stored since
# get them when indexed: mappings/kinds.py `PATIENT.lookups`). The words are made as
# mappings/kinds.py `name_words` made them at 0011, copied: a migration must not change when
# the application code does.
_NAME_WORD = "lookup:name-word"
_BIRTH_DATE = "lookup:birthdate"
_WORD = re.compile(r"\w+")
_RESOURCE = sa.table(
    "fhir_resource", sa.column("resource_type"), sa.column("id"), sa.column("body")
)
_TOKEN = sa.table(
    "search_token",
    sa.column("resource_type"),
    sa.column("resource_id"),
    sa.column("param"),
    sa.column("system"),
    sa.column("code"),
)


def _words(text: str) -> list[str]:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _WORD.findall(plain.casefold().replace("'", "").replace("\u2019", "").replace("_", " "))


def _tokens(patient: dict[str, object]) -> list[tuple[str, str]]:
    words: set[str] = set()
    for name in patient.get("name") or ():  # type: ignore[attr-defined]
        for part in (name.get("text"), name.get("family"), *(name.get("given") or ())):
            if isinstance(part, str):
                words.update(word[:200] for word in _words(part))
    found = [(_NAME_WORD, word) for word in sorted(words)]
    if isinstance(patient.get("birthDate"), str):
        found.append((_BIRTH_DATE, str(patient["birthDate"])))
    return found


def _index_patients(connection: sa.Connection) -> None:
    rows = connection.execute(
        sa.select(_RESOURCE.c.id, _RESOURCE.c.body).where(_RESOURCE.c.resource_type == "Patient")
    ).all()
    batch: list[dict[str, str]] = []
    for patient_id, body in rows:
        for param, code in _tokens(json.loads(bytes(body))):
            batch.append(
                {
                    "resource_type": "Patient",
                    "resource_id": patient_id,
                    "param": param,
                    "system": "",
                    "code": code,
                }
            )
        if len(batch) >= 5000:
            connection.execute(sa.insert(_TOKEN), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(_TOKEN), batch)
