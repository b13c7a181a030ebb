"""Live sync: pull orders and fills from FHIR endpoints, plan, write the plans back.

The library surface (used by `fhir-sync sync` and by the server):

    targets = SyncTargets(ehr=Endpoint("ehr", ehr_client), dispenses=Endpoint("pharmacy", ...))
    report = await sync_patients(targets, ["123", "456"], SyncOptions(today=date.today()))

`sync_patients` (given ids, or the EHR's whole Patient population), `sync_changed` (patients
whose orders or fills changed since a cursor) and `sync_bulk` (population via Bulk export)
all return a `SyncReport` and call `on_result` with each patient's `PatientResult`.
"""

from fhir_sync.sync.pull import Endpoint, Sources
from fhir_sync.sync.report import Outcome, PatientResult, SyncReport
from fhir_sync.sync.service import (
    DEFAULT_WORKERS,
    SyncOptions,
    SyncTargets,
    sync_bulk,
    sync_changed,
    sync_patients,
)
from fhir_sync.sync.stored_plan import StoredPlan, read_stored_plan
from fhir_sync.sync.writeback import DirectoryPlanWriter, FhirPlanWriter, PlanWriter

__all__ = [
    "DEFAULT_WORKERS",
    "DirectoryPlanWriter",
    "Endpoint",
    "FhirPlanWriter",
    "Outcome",
    "PatientResult",
    "PlanWriter",
    "Sources",
    "StoredPlan",
    "SyncOptions",
    "SyncReport",
    "SyncTargets",
    "read_stored_plan",
    "sync_bulk",
    "sync_changed",
    "sync_patients",
]
