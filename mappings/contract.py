"""A guard for building engine types with positional arguments.

Keyword arguments cost a microsecond per Order on the hot path; positional ones are only safe
while the field order is the one the mappings were written against, so the mappings check
it at import time and fail loudly instead of silently swapping two dates.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def require_fields(cls: Any, names: tuple[str, ...]) -> None:
    actual = tuple(f.name for f in fields(cls))
    if actual != names:
        raise ImportError(
            f"{cls.__module__}.{cls.__qualname__} fields are {actual}, the mappings expect "
            f"{names}: update the positional construction in mappings"
        )
