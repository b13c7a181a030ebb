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

RESOURCE: Final[JsonSchema] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
        "id": {"type": "string", "pattern": ID_PATTERN},
        "meta": {
            "type": "object",
            "properties": {
                "versionId": {"type": "string"},
                "lastUpdated": {"type": "string", "pattern": f"^{_INSTANT}$"},
            },
        },
    },
}

OPERATION_OUTCOME: Final[JsonSchema] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

BUNDLE: Final[JsonSchema] = {
    "type": "object",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"enum": ["searchset", "collection", "transaction"]},
        "total": {"type": "integer", "minimum": 0},
        "link": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["relation", "url"],
                "properties": {"relation": {"type": "string"}, "url": {"type": "string"}},
            },
        },
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {"$ref": "#/components/schemas/Resource"},
                    "search": {
                        "type": "object",
                        "properties": {"mode": {"enum": ["match", "include", "outcome"]}},
                    },
                },
            },
        },
    },
}

CAPABILITY_STATEMENT: Final[JsonSchema] = {
    "type": "object",
    "required": ["resourceType", "status", "kind", "fhirVersion", "format", "rest"],
    "properties": {
        "resourceType": {"const": "CapabilityStatement"},
        "fhirVersion": {"const": "4.0.1"},
        "rest": {"type": "array", "minItems": 1},
    },
}

PARAMETERS: Final[JsonSchema] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"const": "Parameters"},
        "parameter": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
        },
    },
}

EXPORT_MANIFEST: Final[JsonSchema] = {
    "type": "object",
    "required": ["transactionTime", "request", "requiresAccessToken", "output", "error"],
    "properties": {
        "transactionTime": {"type": "string", "pattern": f"^{_INSTANT}$"},
        "request": {"type": "string"},
        "requiresAccessToken": {"type": "boolean"},
        "output": {"type": "array", "items": {"$ref": "#/components/schemas/ExportFile"}},
        "error": {"type": "array", "items": {"$ref": "#/components/schemas/ExportFile"}},
    },
}

EXPORT_FILE: Final[JsonSchema] = {
    "type": "object",
    "required": ["type", "url"],
    "properties": {
        "type": {"type": "string"},
        "url": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
    },
}

SMART_CONFIGURATION: Final[JsonSchema] = {
    "type": "object",
    "required": ["token_endpoint", "grant_types_supported", "capabilities"],
    "properties": {
        "token_endpoint": {"type": "string"},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "capabilities": {"type": "array", "items": {"type": "string"}},
    },
}

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
