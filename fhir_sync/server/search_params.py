"""The search parameters the server supports, per resource type: one table that both the
search parser and the CapabilityStatement read, so the statement lists exactly what works.

`target` says how a parameter is answered from the store: a column (`id`, `patient_id`,
`status`), a token table entry (`token:<param>`), the date range (`period`) or
`last_updated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: str  # FHIR SearchParamType: token, reference, date
    target: str
    documentation: str
    definition: str | None = None
    reference_type: str | None = None  # the one type a reference parameter may point to


_ID = SearchParam("_id", "token", "id", "Logical id; comma-separated alternatives.")
_LAST_UPDATED = SearchParam(
    "_lastUpdated",
    "date",
    "last_updated",
    "When the resource last changed; prefixes eq, ne, gt, ge, lt, le.",
)
_IDENTIFIER = SearchParam(
    "identifier", "token", "token:identifier", "system|value, |value or value."
)


def _patient(name: str, documentation: str) -> SearchParam:
    return SearchParam(name, "reference", "patient_id", documentation, reference_type="Patient")


SEARCH_PARAMS: Final[dict[str, tuple[SearchParam, ...]]] = {
    "CarePlan": (
        _ID,
        _LAST_UPDATED,
        _IDENTIFIER,
        _patient("patient", "The patient: Patient/<id> or <id>."),
        _patient("subject", "Same as patient (only Patient subjects exist)."),
        SearchParam(
            "status",
            "token",
            "status",
            "active, on-hold or revoked: the enrollment's status.",
        ),
        SearchParam("category", "token", "token:category", "system|code of a category."),
        SearchParam(
            "date",
            "date",
            "period",
            "CarePlan.period (from the plan date, open-ended); prefixes eq, ne, gt, ge, lt, le.",
        ),
        SearchParam(
            "activity-reference",
            "reference",
            "token:activity-reference",
            "The plan's pickup Appointment: Appointment/<id>.",
            reference_type="Appointment",
        ),
    ),
    "Appointment": (
        _ID,
        _LAST_UPDATED,
        _IDENTIFIER,
        _patient("patient", "The patient: Patient/<id> or <id>."),
        SearchParam("status", "token", "status", "proposed, or cancelled when superseded."),
        SearchParam(
            "date", "date", "period", "Appointment start to end; prefixes eq, ne, gt, ge, lt, le."
        ),
    ),
    "Task": (
        _ID,
        _LAST_UPDATED,
        _IDENTIFIER,
        _patient("patient", "The patient (Task.for): Patient/<id> or <id>."),
        _patient("subject", "Same as patient."),
        SearchParam("status", "token", "status", "requested, or cancelled when no longer needed."),
        SearchParam(
            "based-on",
            "reference",
            "token:based-on",
            "The CarePlan the renewal belongs to: CarePlan/<id>.",
            reference_type="CarePlan",
        ),
    ),
    "Patient": (_ID, _LAST_UPDATED, _IDENTIFIER),
    "Group": (
        _ID,
        SearchParam(
            "managing-entity",
            "reference",
            "payer",
            "The payer: Organization/<id>.",
            reference_type="Organization",
        ),
    ),
}

# Includes: (resource type searched, parameter) -> (included type, how the store finds it).
INCLUDES: Final = {("CarePlan", "activity-reference"): "Appointment"}
REVINCLUDES: Final = {("Task", "based-on"): "CarePlan"}

# Result parameters besides the filters above, with the values they accept.
RESULT_PARAMS: Final = ("_count", "_summary", "_include", "_revinclude", "_cursor")
IGNORED_PARAMS: Final = ("_format", "_pretty")
RESOURCE_TYPES: Final = tuple(SEARCH_PARAMS)
