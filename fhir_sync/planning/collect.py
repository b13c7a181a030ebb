"""Gathering each patient's orders and fills from a stream of raw resources.

Everything is mapped the moment it is read and only the engine's plain values are kept, so a
population's inputs cost a few small objects per resource instead of their JSON trees.
A resource that cannot be used becomes a `Rejection`; nothing else stops the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adapters.files import InputError, RawResource
from fhir_sync.engine import Fill
from mappings.dispenses import map_medication_dispense
from mappings.errors import MappingError
from mappings.orders import OrderInput, map_medication_request
from mappings.patients import map_patient


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input left out of planning, with where it was and why (no patient data)."""

    source: str
    position: str
    message: str
    code: str = "invalid"
    expression: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None


@dataclass(slots=True)
class PatientInputs:
    orders: dict[str, OrderInput] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)
    # where each order and fill came from, in case it must be rejected later
    where: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Collected:
    patients: dict[str, PatientInputs] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    resources: int = 0
    ignored: int = 0  # resource types the planner does not use (Coverage, Practitioner...)
    duplicates: int = 0  # identical copies of a resource already read
    not_dispensed: int = 0  # dispenses that were not handed over (cancelled, in progress...)


KNOWN = ("Patient", "MedicationRequest", "MedicationDispense")


def collect(
    records: Iterable[RawResource | InputError], into: Collected | None = None
) -> Collected:
    """Map every record into per-patient inputs; rejections are kept, never raised."""
    out = into if into is not None else Collected()
    for record in records:
        if isinstance(record, InputError):
            out.rejections.append(
                Rejection(record.source, record.position, record.message, code="structure")
            )
            continue
        out.resources += 1
        res = record.resource
        kind = res["resourceType"]
        if kind not in KNOWN:
            out.ignored += 1
            continue
        try:
            _add(out, kind, res, record)
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
                )
            )
    return out


def _add(out: Collected, kind: str, res: dict[str, Any], record: RawResource) -> None:
    if kind == "MedicationRequest":
        mapped = map_medication_request(res)
        inputs = out.patients.setdefault(mapped.patient_id, PatientInputs())
        _keep(out, inputs, inputs.orders, mapped.order.id, mapped, kind, record)
    elif kind == "MedicationDispense":
        dispensed = map_medication_dispense(res)
        if dispensed is None:
            out.not_dispensed += 1
            return
        inputs = out.patients.setdefault(dispensed.patient_id, PatientInputs())
        _keep(out, inputs, inputs.fills, dispensed.fill.id, dispensed.fill, kind, record)
    else:
        patient = map_patient(res)
        out.declared.add(patient.id)
        out.patients.setdefault(patient.id, PatientInputs())


def _keep(
    out: Collected,
    inputs: PatientInputs,
    table: dict[str, Any],
    key: str,
    value: object,
    kind: str,
    record: RawResource,
) -> None:
    """Keep the first version of a resource; an identical copy is dropped quietly, a
    conflicting one is rejected (the files disagree and only a person can say which is right)."""
    previous = table.get(key)
    if previous is None:
        table[key] = value
        inputs.where[(kind, key)] = (record.source, record.position)
    elif previous == value:
        out.duplicates += 1
    else:
        first = inputs.where[(kind, key)]
        out.rejections.append(
            Rejection(
                record.source,
                record.position,
                f"another {kind} with this id and different content was read first "
                f"({first[0]}, {first[1]}); that one was kept",
                code="duplicate",
                resource_type=kind,
                resource_id=key,
            )
        )


def reject_orphans(collected: Collected) -> None:
    """When Patient resources were given, orders and fills must belong to one of them."""
    if not collected.declared:
        return
    for patient_id in sorted(set(collected.patients) - collected.declared):
        inputs = collected.patients.pop(patient_id)
        for (kind, key), (source, position) in sorted(inputs.where.items()):
            collected.rejections.append(
                Rejection(
                    source,
                    position,
                    "subject references a Patient that is not in the input",
                    code="not-found",
                    expression=f"{kind}.subject",
                    resource_type=kind,
                    resource_id=key,
                )
            )


def _id_of(res: dict[str, object]) -> str | None:
    value = res.get("id")
    return value if isinstance(value, str) else None
