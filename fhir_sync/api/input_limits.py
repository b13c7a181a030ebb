"""Limits on what a request may hold, checked before anything else reads it.

Python's own parsers accept more than the server can handle: `str.isdigit()` takes `²` and
`①`, which `int()` then refuses, and `int()` refuses more than 4,300 digits; orjson reads JSON
nested a thousand levels deep but cannot write back more than 255. Each check here answers
such input with a 4xx OperationOutcome instead of letting it reach code that fails with a 500.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from fhir_sync.api.errors import FhirError

# FHIR resources nest a dozen levels (Bundle > entry > resource > contained > extension ...);
# 64 leaves room for any real one and stays far below what orjson can write back.
MAX_JSON_DEPTH: Final = 64
_WHOLE_NUMBER: Final = re.compile(r"[0-9]{1,9}", re.ASCII)


def whole_number(name: str, value: str) -> int:
    """A non-negative integer parameter in ASCII digits, at most 999,999,999."""
    if _WHOLE_NUMBER.fullmatch(value) is None:
        raise FhirError(400, f"{name} must be a whole number (0 to 999999999)", code="value")
    return int(value)


def parsed_json(body: bytes) -> Any:
    """The body parsed; 400 (an OperationOutcome, not a 500) when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FhirError(400, "the body is not JSON", code="structure") from None


def check_depth(value: Any, where: str, limit: int = MAX_JSON_DEPTH) -> None:
    """400 when `value` (parsed JSON) nests objects and arrays deeper than `limit`."""
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise FhirError(400, f"{where} is nested deeper than {limit} levels", code="structure")
        children = node.values() if type(node) is dict else node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))


_JSON_TYPES: Final = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir"}
)


def check_json_body(content_type: str | None) -> None:
    """415 unless a request body's Content-Type (when sent) is a JSON one."""
    if content_type is None:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise FhirError(
            415,
            "the body must be FHIR JSON (Content-Type: application/fhir+json)",
            code="not-supported",
        )
