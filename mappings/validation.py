"""Full R4B validation through fhir.resources, for `--strict` runs and tests only.

pydantic validation costs milliseconds per resource, too slow for the bulk path, so it is
opt-in and imported lazily. It checks structure and datatypes but not required bindings
(status codes...), which the mappings check themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def validate_resource(resource: Mapping[str, Any]) -> list[str]:
    """Problems found, as `Type.path[0].element: message`; empty when the resource is valid.

    Messages name elements, not values, so they can be logged.
    """
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return ["resourceType: missing or not a string"]
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return [f"resourceType: {kind[:40]!r} is not an R4B resource"]
    try:
        model.model_validate(dict(resource))
    except ValidationError as error:
        return [f"{_path(kind, item['loc'])}: {item['msg']}" for item in error.errors()]
    return []


def _path(kind: str, loc: tuple[int | str, ...]) -> str:
    path = kind
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
