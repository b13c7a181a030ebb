from __future__ import annotations

from dataclasses import dataclass

import pytest

from mappings.contract import require_fields


def test_engine_field_order_guard() -> None:
    @dataclass
    class Swapped:
        end: int
        start: int

    require_fields(Swapped, ("end", "start"))
    with pytest.raises(ImportError, match="start"):
        require_fields(Swapped, ("start", "end"))
