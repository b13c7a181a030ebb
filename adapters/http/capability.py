"""What a server says it supports, condensed from its CapabilityStatement.

Callers choose strategies from this (transaction vs. single writes, Bulk export vs. paged
search, ``_include`` or not) instead of learning by failing requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


@dataclass(frozen=True, slots=True)
class ResourceSupport:
    type: str
    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    search_includes: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    conditional_create: bool = False
    conditional_update: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    fhir_version: str | None = None
    software: str | None = None
    interactions: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    resources: Mapping[str, ResourceSupport] = field(default_factory=dict)
    token_url: str | None = None

    @property
    def supports_transaction(self) -> bool:
        return "transaction" in self.interactions

    @property
    def supports_batch(self) -> bool:
        return "batch" in self.interactions

    def supports_resource(self, resource_type: str) -> bool:
        return resource_type in self.resources

    def supports_interaction(self, resource_type: str, code: str) -> bool:
        support = self.resources.get(resource_type)
        return support is not None and code in support.interactions

    def supports_search_param(self, resource_type: str, name: str) -> bool:
        support = self.resources.get(resource_type)
        return support is not None and name.split(":")[0] in support.search_params

    def supports_operation(self, name: str, resource_type: str | None = None) -> bool:
        """``name`` with or without ``$``; system level, or on ``resource_type`` when given."""
        bare = name.lstrip("$")
        if resource_type is None:
            return bare in self.operations
        support = self.resources.get(resource_type)
        return bare in self.operations or (support is not None and bare in support.operations)


def _codes(items: Any, key: str = "code") -> frozenset[str]:
    if not isinstance(items, list):
        return frozenset()
    return frozenset(
        str(i[key]) for i in items if isinstance(i, dict) and isinstance(i.get(key), str)
    )


def _operation_names(items: Any) -> frozenset[str]:
    return frozenset(name.lstrip("$") for name in _codes(items, "name"))


def _resource(doc: dict[str, Any]) -> ResourceSupport:
    includes = doc.get("searchInclude")
    return ResourceSupport(
        type=str(doc["type"]),
        interactions=_codes(doc.get("interaction")),
        search_params=_codes(doc.get("searchParam"), "name"),
        search_includes=frozenset(i for i in includes if isinstance(i, str))
        if isinstance(includes, list)
        else frozenset(),
        operations=_operation_names(doc.get("operation")),
        conditional_create=doc.get("conditionalCreate") is True,
        conditional_update=doc.get("conditionalUpdate") is True,
    )


def _token_url(security: Any) -> str | None:
    if not isinstance(security, dict):
        return None
    for ext in security.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == OAUTH_URIS:
            for inner in ext.get("extension") or []:
                if isinstance(inner, dict) and inner.get("url") == "token":
                    value = inner.get("valueUri")
                    return value if isinstance(value, str) else None
    return None


def parse_capabilities(statement: dict[str, Any]) -> Capabilities:
    """Reads the ``mode: server`` rest block; unknown or malformed parts are treated as absent."""
    rests = [r for r in statement.get("rest") or [] if isinstance(r, dict)]
    rest = next((r for r in rests if r.get("mode") == "server"), rests[0] if rests else {})
    resources = {
        str(doc["type"]): _resource(doc)
        for doc in rest.get("resource") or []
        if isinstance(doc, dict) and isinstance(doc.get("type"), str)
    }
    software = statement.get("software")
    version = statement.get("fhirVersion")
    return Capabilities(
        fhir_version=version if isinstance(version, str) else None,
        software=str(software.get("name")) if isinstance(software, dict) else None,
        interactions=_codes(rest.get("interaction")),
        operations=_operation_names(rest.get("operation")),
        resources=resources,
        token_url=_token_url(rest.get("security")),
    )
