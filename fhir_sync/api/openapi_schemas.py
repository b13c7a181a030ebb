"""JSON Schemas of what the FHIR API sends and takes, for the OpenAPI document.

Deliberately shallow: FHIR's own StructureDefinitions are the full contract and the server
validates writes with `fhir.resources`; these say what a client can rely on in every answer
(a resource with its type, a Bundle's entries, an OperationOutcome's issues), so a schema
check catches a wrong type, a missing element or a non-FHIR error body.
"""

from __future__ import annotations

from typing import Any, Final

JsonSchema = dict[str, Any]

ID_PATTERN: Final = r"^[A-Za-z0-9\-.]{1,64}$"
_INSTANT: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z"

_STRING: Final[JsonSchema] = {"type": "string"}


def _object(properties: JsonSchema, *required: str) -> JsonSchema:
    """An object schema: most of them, written out, would be the same three keys again."""
    schema: JsonSchema = {"type": "object"}
    if required:
        schema["required"] = list(required)
    schema["properties"] = properties
    return schema


def _array(items: JsonSchema, *, min_items: int = 0) -> JsonSchema:
    schema: JsonSchema = {"type": "array"}
    if min_items:
        schema["minItems"] = min_items
    schema["items"] = items
    return schema


def _pattern(pattern: str) -> JsonSchema:
    return {"type": "string", "pattern": pattern}


def _component(name: str) -> JsonSchema:
    """A reference to one of COMPONENTS (before it is defined: `ref` checks the name)."""
    return {"$ref": f"#/components/schemas/{name}"}


_COUNT: Final[JsonSchema] = {"type": "integer", "minimum": 0}

RESOURCE: Final = _object(
    {
        "resourceType": _pattern("^[A-Z][A-Za-z]+$"),
        "id": _pattern(ID_PATTERN),
        "meta": _object({"versionId": _STRING, "lastUpdated": _pattern(f"^{_INSTANT}$")}),
    },
    "resourceType",
)

OPERATION_OUTCOME: Final = _object(
    {
        "resourceType": {"const": "OperationOutcome"},
        "issue": _array(
            _object(
                {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": _STRING,
                    "diagnostics": _STRING,
                    "expression": _array(_STRING),
                },
                "severity",
                "code",
            ),
            min_items=1,
        ),
    },
    "resourceType",
    "issue",
)

BUNDLE: Final = _object(
    {
        "resourceType": {"const": "Bundle"},
        "type": {"enum": ["searchset", "collection", "transaction"]},
        "total": _COUNT,
        "link": _array(_object({"relation": _STRING, "url": _STRING}, "relation", "url")),
        "entry": _array(
            _object(
                {
                    "fullUrl": _STRING,
                    "resource": _component("Resource"),
                    "search": _object({"mode": {"enum": ["match", "include", "outcome"]}}),
                }
            )
        ),
    },
    "resourceType",
    "type",
)

CAPABILITY_STATEMENT: Final = _object(
    {
        "resourceType": {"const": "CapabilityStatement"},
        "fhirVersion": {"const": "4.0.1"},
        "rest": {"type": "array", "minItems": 1},
    },
    "resourceType",
    "status",
    "kind",
    "fhirVersion",
    "format",
    "rest",
)

PARAMETERS: Final = _object(
    {
        "resourceType": {"const": "Parameters"},
        "parameter": _array(_object({"name": _STRING}, "name")),
    },
    "resourceType",
)

EXPORT_MANIFEST: Final = _object(
    {
        "transactionTime": _pattern(f"^{_INSTANT}$"),
        "request": _STRING,
        "requiresAccessToken": {"type": "boolean"},
        "output": _array(_component("ExportFile")),
        "error": _array(_component("ExportFile")),
    },
    "transactionTime",
    "request",
    "requiresAccessToken",
    "output",
    "error",
)

EXPORT_FILE: Final = _object(
    {"type": _STRING, "url": _STRING, "count": _COUNT},
    "type",
    "url",
)

SMART_CONFIGURATION: Final = _object(
    {
        "token_endpoint": _STRING,
        "grant_types_supported": _array(_STRING),
        "capabilities": _array(_STRING),
    },
    "token_endpoint",
    "grant_types_supported",
    "capabilities",
)

COMPONENTS: Final[dict[str, JsonSchema]] = {
    "Resource": RESOURCE,
    "Bundle": BUNDLE,
    "OperationOutcome": OPERATION_OUTCOME,
    "CapabilityStatement": CAPABILITY_STATEMENT,
    "Parameters": PARAMETERS,
    "ExportManifest": EXPORT_MANIFEST,
    "ExportFile": EXPORT_FILE,
    "SmartConfiguration": SMART_CONFIGURATION,
}


def ref(name: str) -> JsonSchema:
    assert name in COMPONENTS, name
    return {"$ref": f"#/components/schemas/{name}"}
