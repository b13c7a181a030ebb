"""A Bulk Data kick-off request (`GET Group/<id>/$export`) -> what to export, or a 400/403.

Parameters that would narrow or reshape the output (`_typeFilter`, `_elements`, `patient`...)
are refused rather than ignored: an export that silently returns more than was asked for is
worse than an error the client can act on. Other unknown parameters are ignored unless the
client asked for strict handling, as for searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fhir_sync.api.auth import Caller
from fhir_sync.api.errors import FhirError
from fhir_sync.services.fhir_dates import time_range
from mappings.kinds import EXPORT_TYPES

__all__ = ["EXPORT_TYPES", "ExportRequest", "parse_export", "preferences"]

NDJSON_FORMATS: Final = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
REFUSED_PARAMS: Final = ("_typeFilter", "_elements", "patient", "includeAssociatedData", "_until")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    types: tuple[str, ...]
    since: datetime | None = None


def preferences(prefer: str | None) -> set[str]:
    """The tokens of a `Prefer` header, lower-case and without spaces."""
    if not prefer:
        return set()
    return {part.strip().lower().replace(" ", "") for part in prefer.split(",") if part.strip()}


def parse_export(
    items: Sequence[tuple[str, str]], *, prefer: str | None, caller: Caller
) -> ExportRequest:
    wanted = preferences(prefer)
    if "respond-async" not in wanted:
        raise FhirError(400, "a Bulk Data export needs the header Prefer: respond-async")
    strict = "handling=strict" in wanted
    types: list[str] = []
    since: datetime | None = None
    for name, value in items:
        if name == "_type":
            types += [kind.strip() for kind in value.split(",") if kind.strip()]
        elif name == "_since":
            since = _instant(value)
        elif name == "_outputFormat":
            if value not in NDJSON_FORMATS:
                raise FhirError(400, "_outputFormat: only application/fhir+ndjson is supported")
        elif name in REFUSED_PARAMS:
            raise FhirError(400, f"{name} is not supported by this server's export")
        elif strict and name not in ("_format", "_pretty"):
            raise FhirError(400, f"unknown export parameter {name[:64]!r}")
    return ExportRequest(_allowed_types(types, caller), since)


def _allowed_types(asked: list[str], caller: Caller) -> tuple[str, ...]:
    """The types asked for (default: every exported type the caller may search), each
    checked against the caller's scopes."""
    unknown = [kind for kind in asked if kind not in EXPORT_TYPES]
    if unknown:
        raise FhirError(
            400,
            f"_type: {unknown[0][:64]!r} is not exported (supported: {', '.join(EXPORT_TYPES)})",
        )
    if asked:
        for kind in asked:
            if not caller.allows(f"{kind}.rs"):
                raise FhirError(403, f"the access token lacks the scope system/{kind}.rs")
        return tuple(dict.fromkeys(asked))
    permitted = tuple(kind for kind in EXPORT_TYPES if caller.allows(f"{kind}.rs"))
    if not permitted:
        kinds = ", ".join(EXPORT_TYPES)
        raise FhirError(403, f"the access token allows exporting none of: {kinds}")
    return permitted


def _instant(value: str) -> datetime:
    try:
        return time_range(value)[0]
    except ValueError:
        raise FhirError(400, "_since: not a FHIR instant") from None
