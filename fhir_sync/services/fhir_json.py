"""FHIR JSON bytes as every layer above the mappings writes them: orjson, and the media type the
API answers with."""

from __future__ import annotations

from typing import Any, Final

import orjson

FHIR_JSON: Final = "application/fhir+json"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
