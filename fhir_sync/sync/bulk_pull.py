"""Population pulls with FHIR Bulk Data `$export`, into the same `collect` as files.

One export per endpoint replaces two searches per patient: for a large population that is
the difference between thousands of requests and a handful. What the export holds is mapped
line by line as it downloads (only the engine's small values are kept), then planned patient
by patient like the search path.

The export carries every order whatever its status, and a pharmacy's fills for patients the
EHR does not have: both are dropped (counted as ignored) so that a bulk run plans exactly what
per-patient searches would.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import orjson

from adapters.files import InputError, RawResource
from adapters.http import ExportSession
from fhir_sync.services.collect import Collected, collect
from fhir_sync.sync.medication_refs import Resource, inline_medication
from fhir_sync.sync.pull import ORDER_STATUSES, Endpoint, Sources, active_order

#: The query inside a `_typeFilter` is itself URL-encoded (Bulk Data spec): the comma between
#: statuses must not read as the separator between filters.
_ORDER_FILTER = "MedicationRequest?" + urlencode({"status": ",".join(ORDER_STATUSES)})


async def bulk_collect(sources: Sources) -> Collected:
    """Exports Patient, MedicationRequest, MedicationDispense (and Medication) and maps them.

    Always the whole population: an export `_since` a date would hold only the changed orders
    of a patient, and a plan made from part of a patient's orders is wrong.
    """
    collected = Collected()
    medications: dict[str, Resource] = {}
    same = sources.orders.client is sources.dispenses.client
    order_types = ["Medication", "Patient", "MedicationRequest"]
    if same:
        order_types.append("MedicationDispense")
    await _export(sources.orders, order_types, collected, medications)
    if not same:
        await _export(
            sources.dispenses, ["Medication", "MedicationDispense"], collected, medications
        )
    _drop_undeclared(collected)
    return collected


async def _export(
    endpoint: Endpoint,
    types: list[str],
    collected: Collected,
    medications: dict[str, Resource],
) -> None:
    filters = [_ORDER_FILTER] if "MedicationRequest" in types else []
    async with endpoint.client.bulk_export(types=types, type_filters=filters) as job:
        await _feed(endpoint.name, job, collected, medications)


async def _feed(
    name: str, job: ExportSession, collected: Collected, medications: dict[str, Resource]
) -> None:
    # Medications first, whatever the manifest's order: orders and fills refer to them.
    files = sorted(job.manifest.output, key=lambda f: f.type != "Medication")
    for number, file in enumerate(files, start=1):
        source = f"{name} $export {file.type} file {number}"
        manifest = replace(job.manifest, output=(file,))
        batch: list[RawResource | InputError] = []
        line_no = 0
        async for _, line in job.exporter.lines(manifest):
            line_no += 1
            record = _parse(line, source, f"line {line_no}")
            if isinstance(record, RawResource):
                resource = record.resource
                kind = resource["resourceType"]
                if kind == "Medication":
                    rid = resource.get("id")
                    if isinstance(rid, str):
                        medications[f"Medication/{rid}"] = resource
                    continue
                if kind == "MedicationRequest" and not active_order(resource):
                    collected.ignored += 1
                    continue
                if kind in ("MedicationRequest", "MedicationDispense"):
                    record = replace(record, resource=inline_medication(resource, medications))
            batch.append(record)
            if len(batch) >= 1000:
                collect(batch, collected)
                batch = []
        collect(batch, collected)


def _parse(line: bytes, source: str, position: str) -> RawResource | InputError:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return InputError(source, position, f"invalid JSON: {exc.msg}")
    if not isinstance(value, dict):
        return InputError(source, position, "not a JSON object")
    kind = value.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return InputError(source, position, "no resourceType")
    return RawResource(source, position, value)


def _drop_undeclared(collected: Collected) -> None:
    """Fills of patients the EHR did not export (a pharmacy serves more people) are ignored.

    A patient stays when the EHR declared them (Patient) or sent them an order.
    """
    if not collected.declared:
        return
    for patient_id in list(collected.patients):
        inputs = collected.patients[patient_id]
        if patient_id not in collected.declared and not inputs.orders:
            collected.ignored += len(inputs.fills)
            del collected.patients[patient_id]
