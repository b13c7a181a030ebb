from __future__ import annotations

import orjson

from mappings.validation import validate_resource
from tests.mappings.builders import medication_dispense, medication_request
from tests.mappings.data import medication_request_lines as _lines


def test_valid_resources_have_no_problems() -> None:
    assert validate_resource(medication_request()) == []
    assert validate_resource(medication_dispense()) == []
    for line in _lines("synthea-r4")[:20] + _lines("clinosim-r4")[:20]:
        assert validate_resource(orjson.loads(line)) == []


def test_problems_name_the_element() -> None:
    res = medication_request()
    res["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "twice"
    res["authoredOn"] = "yesterday"
    problems = validate_resource(res)
    assert any(p.startswith("MedicationRequest.authoredOn") for p in problems)
    assert any(
        p.startswith("MedicationRequest.dosageInstruction[0].timing.repeat.frequency")
        for p in problems
    )
    assert not any("yesterday" in p for p in problems)


def test_unknown_resource_types() -> None:
    assert validate_resource({"resourceType": "Nope"}) == [
        "resourceType: 'Nope' is not an R4B resource"
    ]
    assert validate_resource({}) == ["resourceType: missing or not a string"]
