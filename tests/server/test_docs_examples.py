"""The request bodies under docs/examples/ work as the README's curl sends them."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.server.api_support import resources_of

REPO = Path(__file__).parents[2]
ENROLL = REPO / "docs" / "examples" / "enroll-pt-000001.json"


def test_the_readme_enroll_example_enrolls_and_plans(client: TestClient) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"-d @{ENROLL.relative_to(REPO)}" in readme
    assert "[...]" not in readme
    response = client.post(
        "/fhir/Patient/pt-000001/$enroll",
        content=ENROLL.read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    [careplan] = resources_of(response.json(), "CarePlan")
    assert careplan["status"] == "active"
    details = [a["detail"] for a in careplan["activity"] if "detail" in a]
    scheduled = [d for d in details if d["status"] == "scheduled"]
    assert scheduled, "the example patient has maintenance orders to synchronize"
    anchor = next(e["valueDate"] for e in careplan["extension"] if e["url"].endswith("anchor-date"))
    assert anchor.endswith("-15")  # anchorDay 15 from the example
    assert json.loads(ENROLL.read_bytes())["resourceType"] == "Parameters"
