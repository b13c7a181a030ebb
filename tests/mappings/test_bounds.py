"""Every number and date the mappings accept can be planned and written back.

The property: whatever a dose, period, frequency, quantity, supply, refill count or date is,
mapping either rejects it with a MappingError naming the element, or the engine plans with it
and the plan Bundle serializes. Extreme but well-formed values (1e308, 1e-300, 10^12,
9999-12-31) once passed mapping and ended in OverflowError in the engine or the serializer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_sync.engine import Preferences, plan_patient
from mappings.bounds import (
    EARLIEST,
    LATEST,
    MAX_DOSE,
    MAX_FREQUENCY,
    MAX_PERIOD_DAYS,
    MAX_QUANTITY,
    MAX_REPEATS,
    MAX_SUPPLY_DAYS,
    MIN_PERIOD_DAYS,
    MIN_SUPPLY_DAYS,
)
from mappings.errors import MappingError
from mappings.inbound.dispenses import FillInput, map_medication_dispense
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.outbound.bundle import plan_bundle
from tests.mappings.builders import medication_dispense, medication_request, rejected, with_path

TODAY = date(2026, 11, 22)
DOSE = "dosageInstruction.0.doseAndRate.0.doseQuantity.value"
REPEAT = "dosageInstruction.0.timing.repeat"

# Numbers from the ordinary to the absurd, at and around every bound.
_EDGES = [
    0,
    1e-300,
    MIN_PERIOD_DAYS,
    0.5,
    1,
    MAX_REPEATS,
    MAX_REPEATS + 1,
    MAX_SUPPLY_DAYS,
    MAX_SUPPLY_DAYS + 0.5,
    MIN_SUPPLY_DAYS,
    MAX_FREQUENCY,
    MAX_FREQUENCY + 1,
    MAX_PERIOD_DAYS,
    MAX_QUANTITY,
    MAX_QUANTITY + 1,
    MAX_DOSE,
    MAX_DOSE * 10,
    10**12,
    2**63,
    10**30,
    1e308,
]
numbers = st.one_of(
    st.sampled_from(_EDGES),
    st.floats(min_value=0, max_value=1e308, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**40),
)
positive_integers = st.one_of(
    st.sampled_from([1, 2, 24, 1000, 1001, 10**12, 2**64]), st.integers(1)
)
days = st.one_of(
    st.sampled_from([date.min, EARLIEST, TODAY, LATEST, date(9999, 12, 31)]),
    st.dates(),
)
period_units = st.sampled_from(["s", "min", "h", "d", "wk", "mo", "a"])


def _text(day: date) -> str:
    return day.isoformat()


def _changed(resource: Any, changes: dict[str, Any]) -> Any:
    for path, value in changes.items():
        resource = with_path(resource, path, value)
    return resource


def _order(authored: date, changes: dict[str, Any]) -> Any:
    return _changed(medication_request(authoredOn=_text(authored)), changes)


def _fill(handed_over: date, days_supply: float, quantity: float) -> Any:
    fill = medication_dispense(whenHandedOver=_text(handed_over))
    return _changed(fill, {"daysSupply.value": days_supply, "quantity.value": quantity})


def _plan_and_serialize(order: OrderInput, fill: FillInput | None) -> None:
    assert fill is not None
    plan = plan_patient("pt-1", [order.order], [fill.fill], TODAY, Preferences())
    orjson.dumps(plan_bundle(plan, {order.order.id: order}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dose=numbers,
    frequency=positive_integers,
    period=numbers,
    unit=period_units,
    repeats=st.one_of(st.integers(0, 200), st.sampled_from([10**12, 2**64])),
    supply=numbers,
    supply_days=numbers,
    authored=days,
    validity_end=days,
    fill_days=numbers,
    fill_quantity=numbers,
    handed_over=days,
)
def test_accepted_numbers_plan_and_serialize(
    dose: float,
    frequency: int,
    period: float,
    unit: str,
    repeats: int,
    supply: float,
    supply_days: float,
    authored: date,
    validity_end: date,
    fill_days: float,
    fill_quantity: float,
    handed_over: date,
) -> None:
    order_json = _order(
        authored,
        {
            DOSE: dose,
            f"{REPEAT}.frequency": frequency,
            f"{REPEAT}.period": period,
            f"{REPEAT}.periodUnit": unit,
            "dispenseRequest.numberOfRepeatsAllowed": repeats,
            "dispenseRequest.quantity.value": supply,
            "dispenseRequest.expectedSupplyDuration.value": supply_days,
            "dispenseRequest.validityPeriod": {"start": "2025-01-15", "end": _text(validity_end)},
        },
    )
    try:
        order = map_medication_request(order_json)
    except MappingError as error:
        assert error.expression.startswith("MedicationRequest."), error
        return
    try:
        fill = map_medication_dispense(_fill(handed_over, fill_days, fill_quantity))
    except MappingError as error:
        assert error.expression.startswith("MedicationDispense."), error
        return
    _plan_and_serialize(order, fill)


@pytest.mark.parametrize(
    ("path", "value", "expression"),
    [
        (DOSE, MAX_DOSE * 1.01, "doseAndRate[0].doseQuantity.value"),
        (DOSE, 1e308, "doseAndRate[0].doseQuantity.value"),
        (f"{REPEAT}.period", 1e-300, "timing.repeat.period"),
        (f"{REPEAT}.period", 3651, "timing.repeat.period"),
        (f"{REPEAT}.frequency", 10**12, "timing.repeat.frequency"),
        ("dispenseRequest.numberOfRepeatsAllowed", 100, "dispenseRequest.numberOfRepeatsAllowed"),
        ("dispenseRequest.quantity.value", 1e308, "dispenseRequest.quantity.value"),
        (
            "dispenseRequest.expectedSupplyDuration.value",
            367,
            "dispenseRequest.expectedSupplyDuration.value",
        ),
        (
            "dispenseRequest.expectedSupplyDuration.value",
            0.5,
            "dispenseRequest.expectedSupplyDuration.value",
        ),
        ("authoredOn", "9999-12-31", "MedicationRequest.authoredOn"),
        ("authoredOn", "1899-12-31", "MedicationRequest.authoredOn"),
    ],
)
def test_orders_past_a_bound_name_the_element(path: str, value: Any, expression: str) -> None:
    error = rejected(map_medication_request, with_path(medication_request(), path, value))
    assert error.expression.endswith(expression)
    assert error.code == "value"


@pytest.mark.parametrize(
    ("path", "value", "expression"),
    [
        ("daysSupply.value", 1e308, "MedicationDispense.daysSupply.value"),
        ("daysSupply.value", 367, "MedicationDispense.daysSupply.value"),
        ("daysSupply.value", 1e-300, "MedicationDispense.daysSupply.value"),
        ("quantity.value", 100_001, "MedicationDispense.quantity.value"),
        ("whenHandedOver", "9999-12-31", "MedicationDispense.whenHandedOver"),
    ],
)
def test_dispenses_past_a_bound_name_the_element(path: str, value: Any, expression: str) -> None:
    error = rejected(map_medication_dispense, with_path(medication_dispense(), path, value))
    assert error.expression == expression
    assert error.code == "value"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (DOSE, 25_000),  # heparin units
        (f"{REPEAT}.period", 1),
        ("dispenseRequest.numberOfRepeatsAllowed", 99),
        ("dispenseRequest.expectedSupplyDuration.value", 365),
    ],
)
def test_real_extremes_are_accepted(path: str, value: Any) -> None:
    map_medication_request(with_path(medication_request(), path, value))


def test_a_year_of_supply_is_accepted() -> None:
    fill = map_medication_dispense(with_path(medication_dispense(), "daysSupply.value", 365))
    assert fill is not None and fill.fill.days_supply == 365


def _within(low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([low, high]), st.floats(low, high))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dose=_within(0, MAX_DOSE),
    frequency=st.integers(1, MAX_FREQUENCY),
    period_days=_within(MIN_PERIOD_DAYS, MAX_PERIOD_DAYS),
    repeats=st.integers(0, MAX_REPEATS),
    supply=_within(0, MAX_QUANTITY),
    supply_days=st.one_of(st.just(0.0), _within(MIN_SUPPLY_DAYS, MAX_SUPPLY_DAYS)),
    authored=st.dates(EARLIEST, LATEST),
    fill_days=st.one_of(st.just(0.0), _within(MIN_SUPPLY_DAYS, MAX_SUPPLY_DAYS)),
    fill_quantity=_within(0, MAX_QUANTITY),
    handed_over=st.dates(EARLIEST, LATEST),
)
def test_everything_within_the_bounds_is_planned(
    dose: float,
    frequency: int,
    period_days: float,
    repeats: int,
    supply: float,
    supply_days: float,
    authored: date,
    fill_days: float,
    fill_quantity: float,
    handed_over: date,
) -> None:
    """The bounds are not too wide: at any corner of them the engine plans and the Bundle
    serializes (the far end of the calendar, 9999-12-31, is left open for validityPeriod.end)."""
    order_json = _order(
        authored,
        {
            DOSE: dose,
            f"{REPEAT}.frequency": frequency,
            f"{REPEAT}.period": period_days,
            f"{REPEAT}.periodUnit": "d",
            "dispenseRequest.numberOfRepeatsAllowed": repeats,
            "dispenseRequest.quantity.value": supply,
            "dispenseRequest.expectedSupplyDuration.value": supply_days,
            "dispenseRequest.validityPeriod": {"start": _text(authored), "end": "9999-12-31"},
        },
    )
    order = map_medication_request(order_json)
    fill = map_medication_dispense(_fill(handed_over, fill_days, fill_quantity))
    _plan_and_serialize(order, fill)
