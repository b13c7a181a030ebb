"""Dates at the edges of the calendar are a 400, not a 500 (found while documenting the search
parameters for schemathesis: the range of the last day of 9999 overflowed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.api_support import demo_patients
from tests.server.export_support import ASYNC, enroll


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31",
        "9999-12-31T23:59:59Z",
        "le9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00+14:00",
    ],
)
def test_edge_dates_are_refused_cleanly(client: TestClient, value: str) -> None:
    for params in ({"date": value}, {"_lastUpdated": value}):
        response = client.get("/fhir/CarePlan", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["code"] == "invalid"
    enroll(client, demo_patients()[0], "Organization/acme")
    kicked = client.get("/fhir/Group/payer-acme/$export", params={"_since": value}, headers=ASYNC)
    assert kicked.status_code == 400


def test_the_edges_inside_the_calendar_still_work(client: TestClient) -> None:
    for value in ("9999-12-30", "9998", "0001-01-01", "0001-01-01T00:00:00-14:00"):
        assert client.get("/fhir/CarePlan", params={"date": f"lt{value}"}).status_code == 200
