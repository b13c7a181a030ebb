"""Gathering each patient's orders and fills from a stream of raw resources: the one input
collector of `fhir-sync plan`, `fhir-sync sync` and the server's live pulls (lenient: a
resource that cannot be used is kept as a rejection); an operation's own resources go through
`patient_inputs.gather` (strict: any rejection fails the call) into the same `PatientInputs`.

Everything is mapped the moment it is read and only the engine's plain values are kept, so a
population's inputs cost a few small objects per resource instead of their JSON trees.
A resource that cannot be used becomes a `Rejection`; nothing else stops the run.

Mapping (`map_record`) and filing under a patient (`add`) are separate steps so that parallel
workers can map what they read and hand a record to the worker that owns its patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.files import InputError, RawResource
from fhir_sync.engine import Fill
from mappings.errors import MappingError
from mappings.inbound.dispenses import map_medication_dispense
from mappings.inbound.medication_refs import external_medication_ids, inline_medication
from mappings.inbound.orders import OrderInput, map_medication_request
from mappings.inbound.patients import map_patient
from mappings.outcome import rejected_input_outcome

Rank = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input left out of planning, with where it was and why (no patient data).

    `rank` is its place in the input (file index, line, entry...), to report in input order.
    """

    source: str
    position: str
    message: str
    code: str = "invalid"
    expression: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    rank: Rank = ()


@dataclass(slots=True)  # not frozen: one per input line, and frozen init costs 4x
class Mapped:
    """A mapped resource and the patient it belongs to. `value` is an OrderInput, a Fill or
    None (a Patient)."""

    kind: str
    patient_id: str
    key: str
    value: OrderInput | Fill | None
    source: str
    position: str
    rank: Rank


@dataclass(slots=True)
class PatientInputs:
    """One patient's orders and fills, whichever way they came (files, a live pull, an
    operation's Parameters); `patient` and `payer` are what an operation's inputs said about
    the patient and the payer (a Patient resource, an active Coverage)."""

    orders: dict[str, OrderInput] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)
    # where each order and fill came from: (source, position, rank)
    where: dict[tuple[str, str], tuple[str, str, Rank]] = field(default_factory=dict)
    patient: dict[str, Any] | None = None
    payer: str | None = None


@dataclass(slots=True)
class Collected:
    patients: dict[str, PatientInputs] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    resources: int = 0
    ignored: int = 0  # resource types the planner does not use (Coverage, Practitioner...)
    duplicates: int = 0  # identical copies of a resource already read
    not_dispensed: int = 0  # dispenses that were not handed over (cancelled, in progress...)
    not_dispensed_seen: set[str] = field(default_factory=set)
    # `Medication/<id>` -> a Medication read from the input, when the input may carry them
    # (`fhir-sync plan`'s files; None: a live pull, which makes them contained itself)
    medications: dict[str, dict[str, Any]] | None = None
    # orders and fills naming a Medication not read yet: mapped by `map_deferred` at the end
    deferred: list[tuple[RawResource, int]] = field(default_factory=list)


KNOWN = frozenset({"Patient", "MedicationRequest", "MedicationDispense"})
DRUG_KINDS = frozenset({"MedicationRequest", "MedicationDispense"})


def collect(
    records: Iterable[RawResource | InputError],
    into: Collected | None = None,
    *,
    file_index: int = 0,
) -> Collected:
    """Map every record into per-patient inputs; rejections are kept, never raised."""
    out = into if into is not None else Collected()
    for record in records:
        mapped = map_record(record, out, file_index)
        if mapped is not None:
            add(out, mapped)
    return out


def map_record(
    record: RawResource | InputError, out: Collected, file_index: int = 0
) -> Mapped | None:
    """Map one record; a rejection or a skipped resource is counted in `out`, giving None."""
    rank = (file_index, *record.rank)
    if isinstance(record, InputError):
        out.rejections.append(
            Rejection(record.source, record.position, record.message, "structure", rank=rank)
        )
        return None
    out.resources += 1
    res = record.resource
    kind = res["resourceType"]
    if out.medications is not None:
        if kind == "Medication":
            remember_medication(out.medications, res)
            return None
        if kind in DRUG_KINDS and external_medication_ids((res,)):
            inlined = inline_medication(res, out.medications)
            if inlined is res:  # its Medication may come later in the input
                out.deferred.append((record, file_index))
                return None
            record = RawResource(record.source, record.position, inlined, record.rank)
            res = inlined
    if kind not in KNOWN:
        out.ignored += 1
        return None
    return _mapped_or_rejected(kind, record, rank, out)


def _mapped_or_rejected(
    kind: str, record: RawResource, rank: Rank, out: Collected
) -> Mapped | None:
    res = record.resource
    try:
        return _map(kind, res, record, rank, out)
    except MappingError as exc:
        out.rejections.append(
            Rejection(
                record.source,
                record.position,
                exc.message,
                code=exc.code,
                expression=exc.expression,
                resource_type=kind,
                resource_id=_id_of(res),
                rank=rank,
            )
        )
        return None


def remember_medication(medications: dict[str, dict[str, Any]], res: dict[str, Any]) -> None:
    """Keep a Medication of the input for the orders and fills that reference it."""
    rid = res.get("id")
    if isinstance(rid, str):
        medications.setdefault(f"Medication/{rid}", res)


def map_deferred(out: Collected) -> list[Mapped]:
    """The orders and fills whose Medication was not read before them, mapped now that the
    whole input is read: with their Medication made contained when the input had it, else
    as they are (the reference's display names the drug)."""
    medications = out.medications or {}
    mapped_all = []
    for record, file_index in out.deferred:
        res = inline_medication(record.resource, medications)
        mapped = _mapped_or_rejected(
            res["resourceType"],
            RawResource(record.source, record.position, res, record.rank),
            (file_index, *record.rank),
            out,
        )
        if mapped is not None:
            mapped_all.append(mapped)
    out.deferred = []
    return mapped_all


def _map(
    kind: str, res: dict[str, Any], record: RawResource, rank: Rank, out: Collected
) -> Mapped | None:
    if kind == "MedicationRequest":
        order = map_medication_request(res)
        return Mapped(
            kind, order.patient_id, order.order.id, order, record.source, record.position, rank
        )
    if kind == "MedicationDispense":
        dispensed = map_medication_dispense(res)
        if dispensed is None:
            dispense_id = _id_of(res)
            if dispense_id is not None and dispense_id in out.not_dispensed_seen:
                out.duplicates += 1  # the same dispense read again
            else:
                out.not_dispensed += 1
                if dispense_id is not None:
                    out.not_dispensed_seen.add(dispense_id)
            return None
        fill = dispensed.fill
        return Mapped(
            kind, dispensed.patient_id, fill.id, fill, record.source, record.position, rank
        )
    patient = map_patient(res)
    return Mapped(kind, patient.id, patient.id, None, record.source, record.position, rank)


def add(out: Collected, mapped: Mapped) -> None:
    """File a mapped resource under its patient.

    The first version of a resource in input order is kept; an identical copy is dropped
    quietly, a conflicting one is rejected (the files disagree and only a person can say
    which is right).
    """
    inputs = out.patients.get(mapped.patient_id)
    if inputs is None:
        inputs = out.patients[mapped.patient_id] = PatientInputs()
    if mapped.value is None:
        if mapped.patient_id in out.declared:
            out.duplicates += 1  # a Patient read again (the same folder given twice)
        out.declared.add(mapped.patient_id)
        return
    table: dict[str, Any] = inputs.orders if mapped.kind == "MedicationRequest" else inputs.fills
    where_key = (mapped.kind, mapped.key)
    previous = table.get(mapped.key)
    here = (mapped.source, mapped.position, mapped.rank)
    if previous is None:
        table[mapped.key] = mapped.value
        inputs.where[where_key] = here
        return
    if previous == mapped.value:
        out.duplicates += 1
        return
    first = inputs.where[where_key]
    if mapped.rank < first[2]:  # read out of input order (parallel workers): it comes first
        table[mapped.key] = mapped.value
        inputs.where[where_key] = here
        first, here = here, first
    out.rejections.append(
        Rejection(
            here[0],
            here[1],
            f"another {mapped.kind} with this id and different content was read first "
            f"({first[0]}, {first[1]}); that one was kept",
            code="duplicate",
            resource_type=mapped.kind,
            resource_id=mapped.key,
            rank=here[2],
        )
    )


def reject_orphans(collected: Collected, any_declared: bool | None = None) -> None:
    """When Patient resources were given, orders and fills must belong to one of them.

    `any_declared` says whether any Patient was read at all, for a worker that sees only
    some patients; by default it is whether this collection declared any.
    """
    if not (collected.declared if any_declared is None else any_declared):
        return
    for patient_id in sorted(set(collected.patients) - collected.declared):
        inputs = collected.patients.pop(patient_id)
        for (kind, key), (source, position, rank) in sorted(inputs.where.items()):
            collected.rejections.append(
                Rejection(
                    source,
                    position,
                    "subject references a Patient that is not in the input",
                    code="not-found",
                    expression=f"{kind}.subject",
                    resource_type=kind,
                    resource_id=key,
                    rank=rank,
                )
            )


def rejection_outcome(rejection: Rejection) -> dict[str, Any]:
    """The OperationOutcome that reports a rejection (errors.ndjson, sync reports)."""
    return rejected_input_outcome(
        source=rejection.source,
        position=rejection.position,
        message=rejection.message,
        code=rejection.code,
        expression=rejection.expression,
        resource_type=rejection.resource_type,
        resource_id=rejection.resource_id,
    )


def _id_of(res: dict[str, Any]) -> str | None:
    value = res.get("id")
    return value if isinstance(value, str) else None
