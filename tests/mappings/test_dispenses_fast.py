"""The common-dispense shortcut gives the full mapper's answer or none at all."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.datagen import generate
from mappings.errors import MappingError
from mappings.inbound.dispenses import FillInput, map_dispense_in_full
from mappings.inbound.dispenses_fast import common_dispense
from tests.mappings.builders import medication_dispense
from tests.mappings.corruption import json_values, paths, replaced

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
UCUM = "http://unitsofmeasure.org"


def agrees(res: Any) -> bool:
    """True when the shortcut answered (and agreed); fails when it answered wrongly."""
    fast = common_dispense(res)
    if fast is None:
        return False
    try:
        full = map_dispense_in_full(res)
    except MappingError as error:
        raise AssertionError(
            f"the shortcut accepted what the full mapper rejects: {error}"
        ) from error
    assert FillInput(*fast) == full
    return True


def test_generated_dispenses_take_the_shortcut_and_agree() -> None:
    lines = [
        orjson.loads(data)
        for kind, data in generate(60, 3, date(2026, 11, 22), bad_records=True)
        if kind == "MedicationDispense"
    ]
    resources = [res for res in lines if isinstance(res, dict)]
    taken = [agrees(res) for res in resources]
    completed = sum(res.get("status") == "completed" for res in resources)
    # every usual completed dispense goes the short way; the rest are left to the full mapper
    assert sum(taken) >= 0.95 * completed > 0


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_damaged_dispense_is_never_answered_differently(data: st.DataObject) -> None:
    resource = medication_dispense(
        type={"coding": [{"system": ACT_CODE, "code": "RFC"}, {"code": "x"}]},
        daysSupply={"value": 30, "unit": "days", "system": UCUM, "code": "d"},
    )
    assert agrees(resource)
    path = data.draw(st.sampled_from(paths(resource)))
    agrees(replaced(resource, path, data.draw(json_values)))


@settings(max_examples=200, deadline=None)
@given(
    days=st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {},
            optional={
                "value": st.one_of(st.integers(-2, 400), st.floats(-1, 400), st.booleans()),
                "unit": st.sampled_from(["d", "days", "", "wk", "month", 3]),
                "code": st.sampled_from(["d", "wk", " d", "", "mo"]),
                "system": st.sampled_from(["http://unitsofmeasure.org", "urn:x", "", 1]),
            },
        ),
    ),
    completes=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "system": st.sampled_from([ACT_CODE, "urn:x", "", None]),
                "code": st.sampled_from(["RFC", "FFC", "RF", " RFC", "", 7]),
            },
        ),
        max_size=3,
    ),
)
def test_units_and_supply_types_agree(days: dict[str, Any] | None, completes: list[Any]) -> None:
    agrees(medication_dispense(daysSupply=days, type={"coding": completes}))
