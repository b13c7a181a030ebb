from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.errors import MappingError
from mappings.fhir_values import (
    _parse_by_parts,
    duration_days,
    get_date,
    get_int,
    get_number,
    parse_fhir_date,
    reference_id,
)

# --- dates -------------------------------------------------------------------------------


@given(st.dates(min_value=date(1, 1, 1)))
def test_date_isoformat_roundtrips(day: date) -> None:
    assert parse_fhir_date(day.isoformat()) == day


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_datetime_keeps_the_date_as_written(
    moment: datetime, offset_minutes: int, timespec: str
) -> None:
    zoned = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = zoned.isoformat(timespec=timespec)
    assert parse_fhir_date(text) == moment.date()


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=1, max_value=12))
def test_partial_dates_are_the_first_day(year: int, month: int) -> None:
    assert parse_fhir_date(f"{year:04d}") == date(year, 1, 1)
    assert parse_fhir_date(f"{year:04d}-{month:02d}") == date(year, month, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T23:30:00-05:00", date(2025, 3, 1)),  # not converted to UTC
        ("2025-03-01T00:30:00+14:00", date(2025, 3, 1)),
        ("2024-02-29", date(2024, 2, 29)),
        ("2016-12-31T23:59:60Z", date(2016, 12, 31)),  # leap second
        ("2025-01-01T00:00:00.123456789Z", date(2025, 1, 1)),
        ("0001-01-01", date(1, 1, 1)),
    ],
)
def test_date_edge_cases(text: str, expected: date) -> None:
    assert parse_fhir_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "25",
        "0000",  # FHIR has no year zero
        "2025-13",
        "2025-00-10",
        "2025-02-29",
        "2025-04-31",
        "2025-1-5",
        "2025/01/05",
        "2025-01-05T10:00:00",  # a time needs a zone
        "2025-01-05T10:00Z",  # and seconds
        "2025-01-05T24:00:00Z",
        "2025-01-05T10:60:00Z",
        "2025-01-05T10:00:61Z",
        "2025-01-05T10:00:00+15:00",
        "2025-01-05T10:00:00+05:60",
        "2025-01-05 10:00:00Z",
        " 2025-01-05",
        "2025-01-05 ",
        "٢٠٢٥-01-05",  # non-ASCII digits
        "2025-01-05T10:00:00.Z",
        "+2025-01-05",
    ],
)
def test_invalid_dates_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fhir_date(text)


def test_get_date_names_the_element_without_the_value() -> None:
    with pytest.raises(MappingError) as caught:
        get_date({"end": "1970-02-30"}, "end", ".validityPeriod")
    assert caught.value.expression == ".validityPeriod.end"
    assert caught.value.code == "value"
    assert "1970" not in caught.value.message


def test_get_date_rejects_non_strings() -> None:
    with pytest.raises(MappingError):
        get_date({"start": 20250101}, "start", "")


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, "1", [1], {"v": 1}])
def test_numbers_must_be_json_numbers(value: object) -> None:
    with pytest.raises(MappingError) as caught:
        get_number({"value": value}, "value", ".quantity")
    assert caught.value.code == "structure"


def test_numbers_must_not_be_negative() -> None:
    with pytest.raises(MappingError):
        get_number({"value": -1}, "value", "")


@pytest.mark.parametrize("value", [1.0, True, "2", -1])
def test_unsigned_ints_reject_other_types(value: object) -> None:
    with pytest.raises(MappingError):
        get_int({"n": value}, "n", "")


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ({"value": 30, "system": "http://unitsofmeasure.org", "code": "d"}, 30.0),
        ({"value": 4, "code": "wk"}, 28.0),
        ({"value": 3, "code": "mo"}, 90.0),
        ({"value": 1, "code": "a"}, 365.0),
        ({"value": 48, "code": "h"}, 2.0),
        ({"value": 2880, "code": "min"}, 2.0),
        ({"value": 86400, "code": "s"}, 1.0),
        ({"value": 90, "unit": "days"}, 90.0),
        ({"value": 1, "unit": "Day"}, 1.0),
        ({"value": 2, "unit": "weeks"}, 14.0),
        ({"value": 1, "unit": "month"}, 30.0),
        ({"value": 30}, 30.0),  # no unit at all: days
        ({"value": 5, "system": "http://example.org/units", "code": "X", "unit": "days"}, 5.0),
        ({"unit": "days"}, None),
    ],
)
def test_duration_days(duration: dict[str, object], expected: float | None) -> None:
    result = duration_days(duration, ".x")
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    "duration",
    [
        {"value": 1, "code": "fortnight"},
        {"value": 1, "unit": "tablets"},
        {"value": "30", "code": "d"},
        {"value": 30, "code": 1},
    ],
)
def test_bad_durations(duration: dict[str, object]) -> None:
    with pytest.raises(MappingError) as caught:
        duration_days(duration, ".dispenseRequest.expectedSupplyDuration")
    assert caught.value.expression.startswith(".dispenseRequest.expectedSupplyDuration.")


# --- references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/p1", "p1"),
        ("https://ehr.example.org/fhir/Patient/p-1.a", "p-1.a"),
        ("Patient/p1/_history/3", "p1"),
        ("http://x/fhir/Patient/p1/_history/2", "p1"),
        ("Practitioner/p1", None),
        ("Patient/", None),
        ("Patient", None),
        ("#p1", None),
        ("urn:uuid:0f3e4c2a-0000-4000-8000-000000000000", None),
        ("Group/1/Patient/p1", None),  # relative, not a Patient reference
        ("Patient/p 1", None),
        ("Patient/" + "x" * 65, None),
    ],
)
def test_reference_id(reference: str, expected: str | None) -> None:
    assert reference_id(reference, "Patient") == expected


_date_time_texts = st.one_of(
    st.text(alphabet="0123456789-T:.Z+ ", min_size=18, max_size=32),
    st.builds(
        lambda y, mo, d, h, mi, s, frac, zone: (
            f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"
        ),
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
        st.sampled_from(["", ".5", ".123456789", "."]),
        st.sampled_from(["Z", "+14:00", "+14:59", "-15:00", "+05:60", "", "+0500", "z"]),
    ),
)


@given(_date_time_texts)
def test_the_common_form_shortcut_agrees_with_parsing_by_parts(text: str) -> None:
    try:
        expected: date | None = _parse_by_parts(text)
    except ValueError:
        expected = None
    try:
        got: date | None = parse_fhir_date(text)
    except ValueError:
        got = None
    assert got == expected
