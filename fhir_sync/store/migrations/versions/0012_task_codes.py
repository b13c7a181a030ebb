"""task codes: the `code` search entries of the Tasks stored before 0012 (the renewal Tasks),
so `Task?code=renew-prescription` finds them as it finds those stored since

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The Task's `code` parameter as mappings/kinds.py indexed it at 0012 (Task.code's codings),
# copied: a migration must not change when the application code does.
_CODE = "code"
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
_TASK_CODES = sa.and_(_TOKEN.c.resource_type == "Task", _TOKEN.c.param == _CODE)


def upgrade() -> None:
    connection = op.get_bind()
    # Any entry already written (a server of 0012's code on an older schema) is made again.
    connection.execute(sa.delete(_TOKEN).where(_TASK_CODES))
    rows = connection.execute(
        sa.select(_RESOURCE.c.id, _RESOURCE.c.body).where(_RESOURCE.c.resource_type == "Task")
    ).all()
    batch: list[dict[str, str]] = []
    for task_id, body in rows:
        for system, code in sorted(_codes(json.loads(bytes(body)))):
            batch.append(
                {
                    "resource_type": "Task",
                    "resource_id": task_id,
                    "param": _CODE,
                    "system": system,
                    "code": code,
                }
            )
        if len(batch) >= 5000:
            connection.execute(sa.insert(_TOKEN), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(_TOKEN), batch)


def downgrade() -> None:
    op.execute(sa.delete(_TOKEN).where(_TASK_CODES))


def _codes(task: dict[str, object]) -> set[tuple[str, str]]:
    concept = task.get("code")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return {
        (str(coding.get("system") or ""), coding["code"])
        for coding in codings or ()
        if isinstance(coding, dict) and isinstance(coding.get("code"), str)
    }
