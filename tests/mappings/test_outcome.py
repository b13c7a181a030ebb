from __future__ import annotations

from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.inbound.orders import map_medication_request
from mappings.outcome import (
    input_identity,
    mapping_error_outcome,
    operation_outcome,
    rejected_input_outcome,
)
from mappings.profile import EXT_REJECTED_INPUT
from mappings.validation import validate_resource
from tests.mappings.builders import medication_request


def _sub(outcome: dict[str, Any]) -> dict[str, Any]:
    (extension,) = outcome["issue"][0]["extension"]
    assert extension["url"] == EXT_REJECTED_INPUT
    return {e["url"]: next(v for k, v in e.items() if k != "url") for e in extension["extension"]}


def test_operation_outcome() -> None:
    outcome = operation_outcome(
        "warning", "business-rule", "refill too soon", expression="MedicationRequest.status"
    )
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "business-rule",
                "diagnostics": "refill too soon",
                "expression": ["MedicationRequest.status"],
            }
        ],
    }
    assert validate_resource(outcome) == []


def test_operation_outcome_extra_and_expressions() -> None:
    outcome = operation_outcome(
        "error",
        "invalid",
        "x",
        expression=["A.b", "A.c"],
        extra={"details": {"text": "more"}},
    )
    issue = outcome["issue"][0]
    assert issue["expression"] == ["A.b", "A.c"]
    assert issue["details"] == {"text": "more"}
    assert validate_resource(outcome) == []


@pytest.mark.parametrize(("severity", "code"), [("bad", "invalid"), ("error", "bad")])
def test_operation_outcome_checks_codes(severity: str, code: str) -> None:
    with pytest.raises(ValueError):
        operation_outcome(severity, code, "x")


def test_rejected_input_from_the_file_reader() -> None:
    outcome = rejected_input_outcome(
        source="export/MedicationRequest.ndjson",
        position="line 4 entry 2",
        message="subject is not a Patient reference",
        code="value",
        expression="MedicationRequest.subject.reference",
        resource_type="MedicationRequest",
        resource_id="mr-7",
    )
    issue = outcome["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", "value")
    assert issue["diagnostics"] == (
        "export/MedicationRequest.ndjson, line 4 entry 2: "
        "MedicationRequest/mr-7: subject is not a Patient reference"
    )
    assert issue["expression"] == ["MedicationRequest.subject.reference"]
    assert _sub(outcome) == {
        "source": "export/MedicationRequest.ndjson",
        "position": "line 4 entry 2",
        "line": 4,
        "entry": 2,
        "resourceType": "MedicationRequest",
        "resourceId": "mr-7",
    }
    assert validate_resource(outcome) == []


def test_rejected_input_with_numbers_and_little_else() -> None:
    outcome = rejected_input_outcome(message="invalid JSON", line=12)
    assert outcome["issue"][0]["diagnostics"] == "line 12: invalid JSON"
    assert outcome["issue"][0]["code"] == "invalid"
    assert _sub(outcome) == {"position": "line 12", "line": 12}
    bare = rejected_input_outcome(message="no resourceType", source="a.json", entry=0)
    assert bare["issue"][0]["diagnostics"] == "a.json, entry 0: no resourceType"
    assert validate_resource(bare) == []


def test_mapping_error_outcome() -> None:
    res = medication_request(status="bogus")
    with pytest.raises(MappingError) as caught:
        map_medication_request(res)
    outcome = mapping_error_outcome(
        caught.value,
        source="f.ndjson",
        line=3,
        resource_type="MedicationRequest",
        resource_id="mr-1",
    )
    issue = outcome["issue"][0]
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == ["MedicationRequest.status"]
    assert (
        issue["diagnostics"] == "f.ndjson, line 3: MedicationRequest/mr-1: unknown status 'bogus'"
    )
    assert validate_resource(outcome) == []


@pytest.mark.parametrize(
    ("resource", "identity"),
    [
        ({"resourceType": "MedicationRequest", "id": "mr-1"}, ("MedicationRequest", "mr-1")),
        ({"resourceType": "Medication Request", "id": "John Smith"}, (None, None)),
        ({"resourceType": 1, "id": ["x"]}, (None, None)),
        ("not a resource", (None, None)),
    ],
)
def test_input_identity_only_returns_well_formed_values(
    resource: object, identity: tuple[str | None, str | None]
) -> None:
    assert input_identity(resource) == identity
