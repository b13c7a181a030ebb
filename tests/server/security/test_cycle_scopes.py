"""The monthly cycle's resources stay in the pharmacy (SQLite and PostgreSQL, tokens
required): EHR, prescriber and payer clients cannot be granted the scopes of the calls, call
records, check-ins or the check-in form, and of the Tasks they read (the renewals) they never
see the preparation Tasks, by read, search, count or `_revinclude`; the pharmacy sees all."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.services import cycle_resources
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.worklist import day_worklist
from tests.server.api_support import TODAY, resources_of
from tests.server.security.conftest import TokenFor, bearer

CYCLE_TYPES = ("CommunicationRequest", "Communication", "QuestionnaireResponse", "Questionnaire")


def test_the_preparation_tasks_and_cycle_records_stay_in_the_pharmacy(
    enrolled: TestClient, token_for: TokenFor, engine: Engine
) -> None:
    cycle_resources.install()
    for offset in range(40):
        run_cycle_day(engine, TODAY + timedelta(days=offset))
    preparations = [
        e
        for offset in range(40)
        for e in day_worklist(engine, TODAY + timedelta(days=offset)).entries
        if e.kind == "prepare" and e.resource is not None
    ]
    assert preparations
    task = str(preparations[0].resource)
    pharmacy = bearer(token_for("pharmacy-1"))
    assert enrolled.get(f"/fhir/{task}", headers=pharmacy).status_code == 200
    every = enrolled.get(
        "/fhir/Task", params={"code": "prepare-fills", "_summary": "count"}, headers=pharmacy
    )
    assert every.json()["total"] == len(preparations)
    renewals = enrolled.get(
        "/fhir/Task", params={"code": "renew-prescription", "_summary": "count"}, headers=pharmacy
    ).json()["total"]
    assert renewals > 0, "the demo plans ask for renewals: the filter must leave them"
    for client_id in ("ehr-1", "prescriber-1", "payer-acme"):
        headers = bearer(token_for(client_id))
        assert enrolled.get(f"/fhir/{task}", headers=headers).status_code == 404, client_id
        found = enrolled.get("/fhir/Task", params={"_count": "1000"}, headers=headers)
        assert found.status_code == 200, found.text
        codes = {t["code"]["coding"][0]["code"] for t in resources_of(found.json())}
        assert "prepare-fills" not in codes, client_id
        count = enrolled.get(
            "/fhir/Task", params={"code": "prepare-fills", "_summary": "count"}, headers=headers
        )
        assert count.json()["total"] == 0, client_id
        plans = enrolled.get(
            "/fhir/CarePlan",
            params={"_revinclude": "Task:based-on", "_count": "1000"},
            headers=headers,
        )
        included = resources_of(plans.json(), "Task")
        assert all(t["code"]["coding"][0]["code"] != "prepare-fills" for t in included)
        if client_id != "payer-acme":  # a payer sees its own members' renewals only
            total = enrolled.get(
                "/fhir/Task",
                params={"code": "renew-prescription", "_summary": "count"},
                headers=headers,
            ).json()["total"]
            assert total == renewals, client_id
        # The cycle's other kinds are not theirs to have at all.
        for kind in CYCLE_TYPES:
            assert enrolled.get(f"/fhir/{kind}", headers=headers).status_code == 403, kind
    for kind in CYCLE_TYPES:
        assert enrolled.get(f"/fhir/{kind}", headers=pharmacy).status_code == 200, kind
