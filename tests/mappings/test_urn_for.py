"""`urn_for` is UUID v5 in the URL namespace, spelled out for speed: held to `uuid.uuid5`."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from mappings.fhir_literals import urn_for


@given(st.text(), st.text())
def test_urn_for_is_uuid5_of_system_and_value(system: str, value: str) -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, f"{system}|{value}")
    assert urn_for(system, value) == f"urn:uuid:{expected}"


def test_the_urn_names_a_version_5_uuid() -> None:
    assert urn_for("https://example.org/sid", "pt-1").startswith("urn:uuid:")
    assert uuid.UUID(urn_for("a", "b")[9:]).version == 5
    assert urn_for("a", "b") == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'a|b')}"
