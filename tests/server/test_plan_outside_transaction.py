"""On SQLite the write transaction holds the one write lock: planning and validating the plan's
resources must happen before it, so that a large operation does not stall every other write.

The probe asks SQLite itself: from a second connection, `BEGIN IMMEDIATE` without waiting
fails exactly while some transaction holds the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from fhir_sync.api.operation_parameters import enroll_terms
from fhir_sync.services import plan_one
from fhir_sync.services.enrollment import EnrollmentService
from fhir_sync.services.patient_inputs import gather
from mappings.validation import validate_resource
from tests.server.api_support import TODAY, demo_patients, enroll_body
from tests.server.databases import migrated_engine


class LockProbe:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[tuple[str, bool]] = []

    def locked(self) -> bool:
        probe = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
        return False

    def spy(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, self.locked()))
            return function(*args, **kwargs)

        return watched


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "locks.sqlite3"
    engine = migrated_engine(f"sqlite:///{path}")
    yield engine, path
    engine.dispose()


def test_enroll_sync_and_resume_plan_and_validate_outside_the_write_lock(
    sqlite_engine: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = sqlite_engine
    probe = LockProbe(path)
    monkeypatch.setattr(plan_one, "plan_patient", probe.spy("plan", plan_one.plan_patient))
    service = EnrollmentService(
        engine, today=lambda: TODAY, validate=probe.spy("validate", validate_resource)
    )
    patient = demo_patients()[1]
    body = orjson.dumps(enroll_body(patient))
    terms = enroll_terms(body)
    service.enroll(patient, terms, gather(patient, terms.resources), if_match=None)
    service.hold(patient, date(2026, 12, 31), if_match=None)
    service.resume(patient, None, if_match=None)
    given = terms.resources
    service.sync(patient, gather(patient, given), given, if_match=None)

    assert {name for name, _ in probe.calls} == {"plan", "validate"}
    assert [call for call in probe.calls if call[1]] == []  # none under the write lock


def test_a_change_in_between_is_planned_again_under_the_lock(
    sqlite_engine: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another request changes the terms after the draft, the stored plan follows the
    terms the transaction sees (the draft is dropped, not stored)."""
    engine, _ = sqlite_engine
    patient = demo_patients()[1]
    service = EnrollmentService(engine, today=lambda: TODAY)
    terms = enroll_terms(orjson.dumps(enroll_body(patient)))
    data = gather(patient, terms.resources)
    service.enroll(patient, terms, data, if_match=None)

    original = service._draft

    def draft_then_change(*args: Any) -> Any:
        made = original(*args)
        cycle = enroll_terms(
            orjson.dumps(
                {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "cycleDays", "valueInteger": 90}],
                }
            )
        )
        monkeypatch.setattr(service, "_draft", original)
        service.enroll(patient, cycle, data, if_match=None)
        return made

    monkeypatch.setattr(service, "_draft", draft_then_change)
    result = service.sync(patient, data, terms.resources, if_match=None)
    careplan = next(r for r in result.plan if r["resourceType"] == "CarePlan")
    assert service.enrollment(patient).cycle_days == 90  # type: ignore[union-attr]
    assert careplan["description"] == "Refills aligned to one pickup every 90 days."
