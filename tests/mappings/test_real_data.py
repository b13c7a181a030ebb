"""Realistic input: every line of the shared data sets maps or is rejected cleanly, and so does
any random corruption of those lines."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_sync.engine.types import Schedule
from mappings.errors import MappingError
from mappings.inbound.orders import OrderInput, map_medication_request
from tests.mappings.corruption import json_values, paths, replaced
from tests.mappings.data import medication_request_lines as _lines


@pytest.mark.parametrize("data_set", ["synthea-r4", "clinosim-r4"])
def test_every_line_maps_or_is_rejected(data_set: str) -> None:
    mapped = rejected = 0
    for line in _lines(data_set):
        try:
            result = map_medication_request(orjson.loads(line))
        except MappingError:
            rejected += 1
        else:
            assert isinstance(result, OrderInput)
            mapped += 1
    assert mapped + rejected == len(_lines(data_set))
    assert rejected == 0  # both sets are valid R4


def test_synthea_examples() -> None:
    by_id = {}
    for line in _lines("synthea-r4"):
        order_input = map_medication_request(orjson.loads(line))
        by_id[order_input.order.id] = order_input
    diazepam = by_id["06ca4ad8-c363-4c2e-8bfe-8c0043508525"]
    assert diazepam.order.schedule is Schedule.CIV
    assert diazepam.order.drug_key == "563026"
    stopped = by_id["5e3f0ca3-b45f-4cf1-86e8-cc134ddd5269"]
    assert stopped.order.status == "stopped"
    assert stopped.order.dosages == ()  # an inactive order is listed, nothing more is read
    raw = orjson.loads(next(x for x in _lines("synthea-r4") if stopped.order.id.encode() in x))
    raw["status"] = "active"
    hydrocodone = map_medication_request(raw)
    assert hydrocodone.order.schedule is Schedule.CII
    (dosage,) = hydrocodone.order.dosages
    assert (dosage.dose, dosage.frequency, dosage.period_days) == (1.0, 1.0, 0.25)
    assert dosage.sequence == 1


def test_clinosim_example() -> None:
    first = map_medication_request(orjson.loads(_lines("clinosim-r4")[0]))
    assert first.patient_id == "pt-779a09e09976"
    assert first.order.category == ("inpatient",)
    assert first.order.course == "acute"
    assert first.order.repeats_allowed == 0
    assert first.unit == "mg"


# --- corruption ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_real_resources_only_raise_mapping_errors(data: st.DataObject) -> None:
    lines = _lines("clinosim-r4")[:200] + _lines("synthea-r4")[:200]
    resource = orjson.loads(data.draw(st.sampled_from(lines)))
    path = data.draw(st.sampled_from(paths(resource)))
    corrupted = replaced(resource, path, data.draw(json_values))
    try:
        map_medication_request(corrupted)
    except MappingError as error:
        assert error.expression.startswith("MedicationRequest")
