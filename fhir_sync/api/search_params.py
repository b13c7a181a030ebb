"""The search parameters the server supports, per resource type, as declared with each type
in mappings/kinds.py: the search parser, the CapabilityStatement and the OpenAPI document all
read this table, so what is advertised is what works."""

from __future__ import annotations

from typing import Final

from mappings.kinds import KINDS, SearchParam

__all__ = ["IGNORED_PARAMS", "INCLUDES", "RESOURCE_TYPES", "RESULT_PARAMS", "SEARCH_PARAMS"]
__all__ += ["SearchParam"]

SEARCH_PARAMS: Final[dict[str, tuple[SearchParam, ...]]] = {
    name: kind.search_params for name, kind in KINDS.items()
}

# Includes: (resource type searched, parameter) -> (included type, how the store finds it).
INCLUDES: Final = {
    (name, param.name): param.reference_type
    for name, params in SEARCH_PARAMS.items()
    for param in params
    if param.include
}
REVINCLUDES: Final = {
    (name, param.name): param.reference_type
    for name, params in SEARCH_PARAMS.items()
    for param in params
    if param.revinclude
}

# Result parameters besides the filters above, with the values they accept.
RESULT_PARAMS: Final = ("_count", "_summary", "_include", "_revinclude", "_cursor")
IGNORED_PARAMS: Final = ("_format", "_pretty")
RESOURCE_TYPES: Final = tuple(SEARCH_PARAMS)
