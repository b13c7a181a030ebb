"""Async FHIR R4 HTTP client: search/paging, incremental pulls, Bulk export, writes, SMART auth.

Public surface re-exported here; modules below are implementation detail.
"""

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
