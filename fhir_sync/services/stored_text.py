"""Input strings that become database text: checked to fit before they are stored.

A resource's body is stored as bytes, where anything JSON can say is safe; its identifiers also
go into search-index columns of bounded length, and PostgreSQL's text cannot hold NUL at all.
A value that does not fit there failed as a 500 on PostgreSQL and was stored on SQLite; now it
is invalid input on both, named by its element. FHIR strings may not hold control characters
other than tab, CR and LF anyway.
"""

from __future__ import annotations

import re
from typing import Any, Final

from fhir_sync.store.tables import REFERENCE, URL
from mappings.errors import MappingError

# Characters no FHIR string may hold (FHIR allows tab, CR and LF); PostgreSQL cannot even bind
# a NUL.
NOT_FHIR_TEXT: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_column_text(value: Any, limit: int, expression: str) -> None:
    """MappingError unless `value` (when a string) has at most `limit` characters and no
    control character FHIR forbids."""
    if not isinstance(value, str):
        return
    if len(value) > limit:
        raise MappingError(f"at most {limit} characters", expression, "value")
    if NOT_FHIR_TEXT.search(value) is not None:
        raise MappingError("control characters (NUL...) are not allowed", expression, "value")


def check_identifiers(resource: dict[str, Any]) -> None:
    """Each `identifier`'s system and value fit the search index."""
    kind = resource.get("resourceType")
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return
    for index, identifier in enumerate(identifiers):
        if isinstance(identifier, dict):
            where = f"{kind}.identifier[{index}]"
            check_column_text(identifier.get("system"), URL, f"{where}.system")
            check_column_text(identifier.get("value"), REFERENCE, f"{where}.value")
