"""`GET /fhir/metadata` and `/.well-known/smart-configuration`, generated from the tables
the server runs on (search_params.py and the operations list), so they cannot drift from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from fhir_sync import __version__
from fhir_sync.server.indexing import JsonObject
from fhir_sync.server.search_params import INCLUDES, REVINCLUDES, SEARCH_PARAMS

PATIENT_OPERATIONS: Final = {
    "enroll": "Enroll the patient (Parameters: anchorDay, cycleDays, leadDays, closedDays, "
    "pharmacy, payer, ehrEndpoint, pharmacyEndpoint, targetEndpoint, resource) and plan.",
    "unenroll": "End the enrollment: the CarePlan becomes revoked, its Appointment and Tasks "
    "cancelled.",
    "hold": "Pause the enrollment until a date (Parameters: until): the CarePlan is on-hold.",
    "resume": "End a hold: the CarePlan is active again and re-planned as of today.",
    "sync": "Re-plan now from fresh data (resource parts, or the enrollment's endpoints).",
    "plan": "Preview: the transaction Bundle the patient would get; nothing is stored.",
}
GROUP_EXPORT: Final = {
    "name": "export",
    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
    "documentation": "Bulk Data export of a payer's members: Patient, CarePlan and Appointment "
    "NDJSON (_type, _since); Prefer: respond-async.",
}
_STARTED: Final = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capability_statement(base: str) -> JsonObject:
    resources = []
    for kind, params in SEARCH_PARAMS.items():
        resource: JsonObject = {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "versioning": "versioned",
            "readHistory": False,
            "updateCreate": False,
            "conditionalRead": "not-match" if kind != "Group" else "not-supported",
            "searchParam": [
                {"name": p.name, "type": p.type, "documentation": p.documentation} for p in params
            ],
        }
        includes = [f"{source}:{param}" for (source, param) in INCLUDES if source == kind]
        if includes:
            resource["searchInclude"] = includes
        revincludes = [
            f"{src}:{param}" for (src, param), target in REVINCLUDES.items() if target == kind
        ]
        if revincludes:
            resource["searchRevInclude"] = revincludes
        if kind == "Patient":
            resource["operation"] = [
                {
                    "name": name,
                    "definition": f"https://fhir-sync.org/OperationDefinition/Patient-{name}",
                    "documentation": documentation,
                }
                for name, documentation in PATIENT_OPERATIONS.items()
            ]
        if kind == "Group":
            resource["operation"] = [GROUP_EXPORT]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _STARTED,
        "publisher": "fhir-sync",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "fhir-sync", "version": __version__},
        "implementation": {"description": "fhir-sync medication synchronization", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Search results are sorted by id and paged with next links "
                "(_count up to 1000); _summary=count returns the total only. Unknown search "
                "parameters are ignored unless the request has Prefer: handling=strict.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }


def smart_configuration(root: str, *, auth_required: bool) -> JsonObject:
    """SMART App Launch discovery. The token endpoint is announced for the Backend Services
    flow the security work adds; `auth_required` false says the server currently admits
    every caller."""
    return {
        "issuer": root,
        "token_endpoint": f"{root}/auth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": [f"system/{kind}.rs" for kind in SEARCH_PARAMS] + ["system/Patient.c"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
        "fhir_sync_auth_required": auth_required,
    }
