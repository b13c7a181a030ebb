"""Referenced Medications made local, so the mappings see one drug however it was sent.

Orders and dispenses may name their drug by `medicationReference` to a Medication resource
(searches bring those along with `_include`, files and exports carry them as resources of
their own). The mappings read a drug from `medicationCodeableConcept` or from a *contained*
Medication, so a referenced one is copied in as contained (the reference becomes `#<id>`):
order and dispense then get the same drug key, form, strength and package size as when the
Medication is sent inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mappings.fhir_values import reference_id

Resource = dict[str, Any]
LOCAL_ID = "fhir-sync-medication"


def medications_by_reference(included: list[Resource]) -> dict[str, Resource]:
    """`Medication/<id>` -> the included Medication."""
    found: dict[str, Resource] = {}
    for resource in included:
        rid = resource.get("id")
        if resource.get("resourceType") == "Medication" and isinstance(rid, str):
            found[f"Medication/{rid}"] = resource
    return found


def inline_medication(resource: Resource, medications: Mapping[str, Resource]) -> Resource:
    """The resource with its referenced Medication contained, or the resource unchanged.

    Returns a new dict when it changes anything: the caller's page stays as the server sent it.
    """
    if not medications:
        return resource
    reference = resource.get("medicationReference")
    if not isinstance(reference, dict):
        return resource
    target = reference.get("reference")
    if not isinstance(target, str) or target.startswith("#"):
        return resource
    rid = reference_id(target, "Medication")
    medication = medications.get(f"Medication/{rid}") if rid is not None else None
    if medication is None:
        return resource
    contained = [c for c in resource.get("contained") or [] if isinstance(c, dict)]
    local = {k: v for k, v in medication.items() if k not in ("meta", "text")}
    local["id"] = LOCAL_ID
    inlined = dict(resource)
    inlined["contained"] = [*contained, local]
    inlined["medicationReference"] = {**reference, "reference": f"#{LOCAL_ID}"}
    return inlined


def external_medication_ids(resources: Iterable[Resource]) -> list[str]:
    """The ids of the Medications these resources name by a reference that is not `#local`,
    in first-seen order, each once."""
    seen: dict[str, None] = {}
    for resource in resources:
        reference = resource.get("medicationReference")
        if not isinstance(reference, dict):
            continue
        target = reference.get("reference")
        if not isinstance(target, str) or target.startswith("#"):
            continue
        rid = reference_id(target, "Medication")
        if rid is not None:
            seen.setdefault(rid, None)
    return list(seen)
