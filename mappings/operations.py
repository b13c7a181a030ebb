"""The FHIR operations fhir-sync serves, each declared once.

The route that answers an operation registers itself under the operation's name (`path` and
`method` come from here), and the CapabilityStatement, the OpenAPI document and the audit
trail (the AuditEvent action code) read the same entry, so none of them can name an operation
the server does not have or miss one it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Operation:
    """`audit_action`: the AuditEvent action code (C create, U update, E execute).
    `documentation` may name `{fill_settings}`: the API fills in the fill settings' parameter
    names (declared in fhir_sync/fill_settings.py, above this layer)."""

    name: str
    resource_type: str
    audit_action: str
    documentation: str
    definition: str | None = None
    method: str = "POST"
    id_param: str = "patient_id"

    @property
    def path(self) -> str:
        if not self.id_param:  # a system-level operation
            return f"/fhir/${self.name}"
        return f"/fhir/{self.resource_type}/{{{self.id_param}}}/${self.name}"

    @property
    def canonical(self) -> str:
        """The OperationDefinition the CapabilityStatement names."""
        if self.definition is not None:
            return self.definition
        return f"https://fhir-sync.org/OperationDefinition/{self.resource_type}-{self.name}"


def _patient(name: str, audit_action: str, documentation: str) -> Operation:
    return Operation(name, "Patient", audit_action, documentation)


OPERATIONS: Final[Mapping[str, Operation]] = {
    op.name: op
    for op in (
        _patient(
            "enroll",
            "C",
            "Enroll the patient (Parameters: anchorDay, cycleDays, leadDays, closedDays, "
            "timeZone, pickupHours, controlledSubstances, pharmacy, payer, ehrEndpoint, "
            "pharmacyEndpoint, targetEndpoint, resource, {fill_settings}) and plan.",
        ),
        _patient(
            "unenroll",
            "U",
            "End the enrollment: the CarePlan becomes revoked, its Appointment and Tasks "
            "cancelled.",
        ),
        _patient(
            "hold",
            "U",
            "Pause the enrollment until a date (Parameters: until): the CarePlan is on-hold.",
        ),
        _patient(
            "resume", "U", "End a hold: the CarePlan is active again and re-planned as of today."
        ),
        _patient(
            "sync",
            "U",
            "Re-plan now from fresh data (resource parts, or the enrollment's endpoints).",
        ),
        _patient(
            "plan", "E", "Preview: the transaction Bundle the patient would get; nothing is stored."
        ),
        _patient(
            "check-in",
            "U",
            "Record the check-in: a QuestionnaireResponse to the med-sync check-in Questionnaire "
            "(the body, or a 'response' part). Its answers act: a hospital stay or a new, "
            "stopped or changed medicine asks for a re-plan and a review item; a new date "
            "re-anchors; away over the pickup moves it earlier as a vacation supply (SCC 03); "
            "stop the program unenrolls.",
        ),
        _patient(
            "record-contact",
            "U",
            "Record a call's outcome: a Communication (the body) based on the call's "
            "CommunicationRequest (reached, no-answer, wrong-number); a call not answered is "
            "made again the next open day, up to callRetries.",
        ),
        _patient(
            "pickup",
            "U",
            "Record a pickup (Parameters: status fulfilled or noshow, anchor, date, "
            "dispensed): a fulfilled, dispensed pickup rolls the cycle forward on the same "
            "anchor; a no-show is called the next day and returned to stock after "
            "returnToStockDays.",
        ),
        Operation(
            "worklist",
            "",
            "E",
            "The day's cycle items grouped (calls, preparations, pickups, renewals, reviews), "
            "each with what to do and its resource (GET; date, kind, open; _count and _page "
            "page it: total, and a next link while more follow).",
            method="GET",
            id_param="",
        ),
        Operation(
            "export",
            "Group",
            "E",
            "Bulk Data export of a payer's members: Patient, CarePlan and Appointment "
            "NDJSON (_type, _since); Prefer: respond-async.",
            definition="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
            method="GET",
            id_param="group_id",
        ),
    )
}


def operations_of(resource_type: str) -> tuple[Operation, ...]:
    return tuple(op for op in OPERATIONS.values() if op.resource_type == resource_type)


def operation_at(path: str) -> Operation | None:
    """The operation a route path template answers (`/fhir/Patient/{patient_id}/$hold`)."""
    name = path.rpartition("/$")[2]
    found = OPERATIONS.get(name) if "/$" in path else None
    return found if found is not None and found.path == path else None
