"""One typed settings tree (pydantic-settings): each FHIR_SYNC_* variable declared once, with
its type, default, check and help text; the services' settings classes are views of it.

Below the use cases and above the store in the layers; no typer or rich.

Its names are imported on first use, so that a light command (`fhir-sync plan`) that needs
one module of the package does not load all of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES: dict[str, tuple[str, ...]] = {
    "fhir_sync.settings.base": (
        "Section",
        "first_error",
    ),
    "fhir_sync.settings.sections": (
        "DEFAULT_MAX_BODY_BYTES",
        "AppSection",
        "EdgeSection",
        "LiveSection",
        "ServerSection",
        "StoreSection",
        "WorkerSection",
    ),
    "fhir_sync.settings.terms": (
        "CYCLES_TEXT",
        "SUPPORTED_CYCLES",
        "supported_cycle",
    ),
    "fhir_sync.settings.tree": (
        "SECTIONS",
        "FhirSyncSettings",
        "declared_variables",
        "readme_table",
    ),
}
_HOMES: dict[str, str] = {name: module for module, names in _MODULES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
