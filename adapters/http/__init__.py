"""Async FHIR R4 HTTP client: search/paging, incremental pulls, Bulk export, writes, SMART auth.

Public surface re-exported here; modules below are implementation detail.

Its names are imported on first use, so that a light command (`fhir-sync plan`) that needs
one module of the package does not load all of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.http.bulk import BulkExporter, ExportFile, ExportManifest, ExportSession
    from adapters.http.capability import Capabilities, ResourceSupport, parse_capabilities
    from adapters.http.client import (
        FhirClient,
        VersionedResource,
        WriteResult,
        new_http_client,
        open_fhir_client,
        transaction_is_idempotent,
    )
    from adapters.http.credentials import AuthConfig, NoAuth, SmartBackendServices, StaticBearer
    from adapters.http.errors import (
        FhirError,
        FhirTimeoutError,
        FhirTransportError,
        PreconditionFailedError,
    )
    from adapters.http.incremental import IncrementalPull
    from adapters.http.media import Resource, SearchParams
    from adapters.http.paging import SearchPage
    from adapters.http.settings import EndpointSettings, Quirk, sekmet_settings

_MODULES: dict[str, tuple[str, ...]] = {
    "adapters.http.bulk": (
        "BulkExporter",
        "ExportFile",
        "ExportManifest",
        "ExportSession",
    ),
    "adapters.http.capability": (
        "Capabilities",
        "ResourceSupport",
        "parse_capabilities",
    ),
    "adapters.http.client": (
        "FhirClient",
        "VersionedResource",
        "WriteResult",
        "new_http_client",
        "open_fhir_client",
        "transaction_is_idempotent",
    ),
    "adapters.http.credentials": (
        "AuthConfig",
        "NoAuth",
        "SmartBackendServices",
        "StaticBearer",
    ),
    "adapters.http.errors": (
        "FhirError",
        "FhirTimeoutError",
        "FhirTransportError",
        "PreconditionFailedError",
    ),
    "adapters.http.incremental": ("IncrementalPull",),
    "adapters.http.media": (
        "Resource",
        "SearchParams",
    ),
    "adapters.http.paging": ("SearchPage",),
    "adapters.http.settings": (
        "EndpointSettings",
        "Quirk",
        "sekmet_settings",
    ),
}
_HOMES: dict[str, str] = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AuthConfig",
    "BulkExporter",
    "Capabilities",
    "EndpointSettings",
    "ExportFile",
    "ExportManifest",
    "ExportSession",
    "FhirClient",
    "FhirError",
    "FhirTimeoutError",
    "FhirTransportError",
    "IncrementalPull",
    "NoAuth",
    "PreconditionFailedError",
    "Quirk",
    "Resource",
    "ResourceSupport",
    "SearchPage",
    "SearchParams",
    "SmartBackendServices",
    "StaticBearer",
    "VersionedResource",
    "WriteResult",
    "new_http_client",
    "open_fhir_client",
    "parse_capabilities",
    "sekmet_settings",
    "transaction_is_idempotent",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
