"""OperationOutcomes for rejected input (docs/sync-plan-profile.md, section 3).

A rejected resource must be findable by whoever fixes the source: the outcome names the
file and line (or Bundle entry), the resource and the element, in `diagnostics` for people
and in a `rejected-input` extension and `expression` for programs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict, Unpack

from mappings.codes import ISSUE_SEVERITY, ISSUE_TYPE
from mappings.errors import MappingError
from mappings.fhir_literals import JsonObject
from mappings.fhir_values import ID_PATTERN
from mappings.profile import EXT_REJECTED_INPUT


def operation_outcome(
    severity: str,
    code: str,
    diagnostics: str,
    *,
    expression: str | Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JsonObject:
    """An OperationOutcome with one issue; `extra` adds elements to that issue."""
    if severity not in ISSUE_SEVERITY:
        raise ValueError(f"unknown issue severity {severity!r}")
    if code not in ISSUE_TYPE:
        raise ValueError(f"unknown issue type {code!r}")
    issue: JsonObject = {}
    if extra:
        issue.update(extra)
    issue["severity"] = severity
    issue["code"] = code
    issue["diagnostics"] = diagnostics
    if expression:
        issue["expression"] = [expression] if isinstance(expression, str) else list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def input_identity(resource: object) -> tuple[str | None, str | None]:
    """resourceType and id of possibly broken input, for naming it in an outcome.

    Only values of the right shape are returned, so junk (or data) in those fields is never
    echoed into a report.
    """
    if not isinstance(resource, dict):
        return None, None
    kind = resource.get("resourceType")
    rid = resource.get("id")
    kind = kind if isinstance(kind, str) and kind.isascii() and kind.isalpha() else None
    rid = rid if isinstance(rid, str) and ID_PATTERN.fullmatch(rid) else None
    return kind, rid


_LINE: Final = re.compile(r"\bline (\d+)")
_ENTRY: Final = re.compile(r"\bentry (\d+)")


class InputPlace(TypedDict, total=False):
    """Where a rejected input resource was, and which resource it was (all optional).

    `source` (a file name or URL), and `position` as the file reader words it ("line 12",
    "entry 3", "line 4 entry 2": a 1-based NDJSON line, a 0-based Bundle entry), or `line` /
    `entry` as numbers; `resource_type` and `resource_id` as input_identity found them.
    """

    source: str | None
    position: str | None
    line: int | None
    entry: int | None
    resource_type: str | None
    resource_id: str | None


def rejected_input_outcome(
    *,
    message: str,
    code: str = "invalid",
    expression: str | None = None,
    **place: Unpack[InputPlace],
) -> JsonObject:
    """The outcome for one rejected input resource, at `place`.

    The position's numbers go to the `rejected-input` extension whether given as numbers or
    in its words. `code` is an R4 IssueType; `message` must not hold patient data.
    """
    source, position = place.get("source"), place.get("position")
    line, entry = place.get("line"), place.get("entry")
    resource_type, resource_id = place.get("resource_type"), place.get("resource_id")
    if position is None:
        words = ([f"line {line}"] if line is not None else []) + (
            [f"entry {entry}"] if entry is not None else []
        )
        position = " ".join(words) or None
    else:
        if line is None and (found := _LINE.search(position)) is not None:
            line = int(found.group(1))
        entries = _ENTRY.findall(position)
        if entry is None and entries:
            entry = int(entries[-1])
    where = ", ".join(part for part in (source, position) if part)
    parts = [where] if where else []
    if resource_type is not None or resource_id is not None:
        parts.append(f"{resource_type or 'Resource'}/{resource_id or '?'}")
    parts.append(message)
    named = (
        ("source", "valueString", source),
        ("position", "valueString", position),
        ("line", "valueInteger", line),
        ("entry", "valueInteger", entry),
        ("resourceType", "valueCode", resource_type),
        ("resourceId", "valueString", resource_id),
    )
    sub: list[JsonObject] = [
        {"url": url, element: value} for url, element, value in named if value is not None
    ]
    extra = {"extension": [{"url": EXT_REJECTED_INPUT, "extension": sub}]} if sub else None
    return operation_outcome("error", code, ": ".join(parts), expression=expression, extra=extra)


def mapping_error_outcome(error: MappingError, **place: Unpack[InputPlace]) -> JsonObject:
    """rejected_input_outcome for a MappingError: its message, expression and issue code."""
    return rejected_input_outcome(
        message=error.message, code=error.code, expression=error.expression or None, **place
    )
