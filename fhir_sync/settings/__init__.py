"""One typed settings tree (pydantic-settings): each FHIR_SYNC_* variable declared once, with
its type, default, check and help text; the services' settings classes are views of it.

Below the use cases and above the store in the layers; no typer or rich.
"""

from fhir_sync.settings.base import Section, first_error
from fhir_sync.settings.sections import (
    DEFAULT_MAX_BODY_BYTES,
    AppSection,
    EdgeSection,
    LiveSection,
    ServerSection,
    StoreSection,
    WorkerSection,
)
from fhir_sync.settings.terms import CYCLES_TEXT, SUPPORTED_CYCLES, supported_cycle
from fhir_sync.settings.tree import SECTIONS, FhirSyncSettings, declared_variables, readme_table

__all__ = [
    "CYCLES_TEXT",
    "DEFAULT_MAX_BODY_BYTES",
    "SECTIONS",
    "SUPPORTED_CYCLES",
    "AppSection",
    "EdgeSection",
    "FhirSyncSettings",
    "LiveSection",
    "Section",
    "ServerSection",
    "StoreSection",
    "WorkerSection",
    "declared_variables",
    "first_error",
    "readme_table",
    "supported_cycle",
]
