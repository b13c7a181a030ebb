"""FHIR JSON responses: `application/fhir+json`, serialized with orjson, or raw stored bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Response

from fhir_sync.services.fhir_json import FHIR_JSON, dumps

__all__ = ["FHIR_JSON", "dumps", "fhir_response"]


def fhir_response(
    body: bytes | Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    content = body if isinstance(body, bytes) else dumps(body)
    return Response(content=content, status_code=status, media_type=FHIR_JSON, headers=headers)
