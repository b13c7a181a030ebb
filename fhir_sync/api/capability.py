"""`GET /fhir/metadata` and `/.well-known/smart-configuration`, generated from the tables
the server runs on (the resource-kind and operation registries in mappings/), so they
cannot drift from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from fhir_sync import __version__
from fhir_sync.api.audit.search import AUDIT_SEARCH_PARAMS
from fhir_sync.api.search_params import INCLUDES, REVINCLUDES, SEARCH_PARAMS
from fhir_sync.api.security.jwks import ALGORITHMS
from fhir_sync.api.security.scopes import supported_scopes
from fhir_sync.fill_settings import FILL_SETTINGS
from fhir_sync.services.indexing import JsonObject
from mappings.operations import operations_of

_FILL_PARAMETERS: Final = ", ".join(s.parameter for s in FILL_SETTINGS)
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
        operations = operations_of(kind)
        if operations:
            resource["operation"] = [
                {
                    "name": op.name,
                    "definition": op.canonical,
                    "documentation": op.documentation.format(fill_settings=_FILL_PARAMETERS),
                }
                for op in operations
            ]
        resources.append(resource)
    resources.append(
        {
            "type": "AuditEvent",
            "documentation": "Who accessed which patient's data (pharmacy clients only).",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": p.name, "type": p.type, "documentation": p.documentation}
                for p in AUDIT_SEARCH_PARAMS
            ],
        }
    )
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
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                            "oauth-uris",
                            "extension": [
                                {
                                    "url": "token",
                                    "valueUri": base.removesuffix("/fhir") + "/auth/token",
                                }
                            ],
                        }
                    ],
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
    """SMART discovery for Backend Services (api/security): the client_credentials grant
    with an RS384 or ES384 signed assertion, and every scope some client role can be granted.
    No `issuer`: that is for OpenID Connect, which this server does not offer.
    `fhir_sync_auth_required` says whether tokens are enforced right now (in the default
    `auto` mode they are once a client has been registered)."""
    return {
        "token_endpoint": f"{root}/auth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": supported_scopes(),
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
        "fhir_sync_auth_required": auth_required,
    }
