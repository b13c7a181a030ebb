"""The resource kinds fhir-sync serves or writes, each declared once.

Everything the server needs to know about a type lives in its `ResourceKind`: where the
resource names its patient, which elements the `date` parameter reads, its search parameters
(with the extractor of each token-table parameter), the statuses it ends in, the SMART scope
letters every reading role gets, whether a Bulk Data export carries it, and how the audit
trail finds the patient it discloses. Indexing, search, scopes, audit, export, the
CapabilityStatement and the OpenAPI document all read this table, so a new served type is one
entry here plus the mapping that builds it.

Only the standard library: the server's date parsing turns the raw date texts into ranges.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mappings.profile import SID_RENEWAL_TASK

JsonObject = dict[str, Any]
Token = tuple[str, str]  # (system, code)


@dataclass(frozen=True, slots=True)
class SearchParam:
    """A search parameter as the server answers it.

    `target` says how it is answered from the store: a column (`id`, `patient_id`, `status`,
    `payer`), a token table entry (`token:<param>`, filled by `extract` at indexing), the
    date range (`period`) or `last_updated`.
    """

    name: str
    type: str  # FHIR SearchParamType: token, reference, date
    target: str
    documentation: str
    definition: str | None = None
    reference_type: str | None = None  # the one type a reference parameter may point to
    extract: Callable[[JsonObject], Iterable[Token]] | None = None
    include: bool = False  # `_include=<Type>:<name>` adds the referenced resources
    revinclude: bool = False  # `_revinclude=<Type>:<name>` on the referenced type's search


@dataclass(frozen=True, slots=True)
class Lookup:
    """Token-table entries kept for the pharmacy's own screens (the staff app's patient
    search), not a FHIR search parameter: indexed like one, never offered by the FHIR API."""

    param: str
    extract: Callable[[JsonObject], Iterable[Token]]


@dataclass(frozen=True, slots=True)
class DatePath:
    """The elements the `date` parameter reads. `end_is_instant`: the end is a moment (an
    Appointment's end) rather than a day or month the period runs to the end of."""

    start: tuple[str, ...]
    end: tuple[str, ...]
    end_is_instant: bool = False


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """One served or written resource type.

    `patient_path`: where the resource names its patient (`CarePlan.subject`, a repeating
    `Appointment.participant.actor`, or the Patient's own `Patient.id`); None: it names none.
    `stored`: kept in the resource table and served by read and search from it (Group and
    AuditEvent are built from other tables). `plan_order`: its place in a patient's plan and
    in the transaction written to EHRs (None: not part of a plan). `closed`: the statuses
    after which nobody acts on it; a re-plan that no longer has the resource cancels it
    unless it is already in one. `scope`: the SMART letters every reading role is granted.
    `audit_entity`: accepted as an AuditEvent `entity`. `shared_identifier`: for a type
    some of whose resources stay in the pharmacy (the cycle's preparation Tasks among the
    renewal Tasks), the identifier system of those every reading role sees; the others only
    the pharmacy reads.
    """

    name: str
    patient_path: str | None
    search_params: tuple[SearchParam, ...]
    date: DatePath | None = None
    statuses: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    stored: bool = True
    plan_order: int | None = None
    scope: str = "rs"
    exported: bool = False
    audit_entity: bool = True
    documentation: str | None = None
    lookups: tuple[Lookup, ...] = ()
    shared_identifier: str | None = None
    patient: Callable[[JsonObject], str | None] | None = field(init=False)

    def __post_init__(self) -> None:
        reader = None if self.patient_path is None else _patient_reader(self.patient_path)
        object.__setattr__(self, "patient", reader)

    def shared(self, resource: JsonObject) -> bool:
        """Whether every role that reads the type may read this one (see `shared_identifier`)."""
        if self.shared_identifier is None:
            return True
        return any(
            isinstance(item, dict) and item.get("system") == self.shared_identifier
            for item in resource.get("identifier") or ()
        )


def _patient_reader(path: str) -> Callable[[JsonObject], str | None]:
    """The patient's id at `path`: `<Type>.id` (the Patient itself), `<Type>.<element>` (a
    Reference), or `<Type>.<element>.<field>` (the first item of a repeating element whose
    Reference names a Patient)."""
    elements = path.split(".")[1:]
    if elements == ["id"]:
        return lambda resource: str(resource["id"])
    if len(elements) == 1:
        return lambda resource: patient_of(resource.get(elements[0]))
    element, inner = elements

    def first(resource: JsonObject) -> str | None:
        for item in resource.get(element) or ():
            found = patient_of(item.get(inner))
            if found is not None:
                return found
        return None

    return first


def patient_of(reference: object) -> str | None:
    """The id of a `Patient/<id>` Reference, or None."""
    if isinstance(reference, dict):
        text = reference.get("reference")
        if isinstance(text, str) and text.startswith("Patient/"):
            return text.removeprefix("Patient/")
    return None


def _identifiers(resource: JsonObject) -> Iterable[Token]:
    return (
        (item.get("system") or "", item["value"])
        for item in resource.get("identifier") or ()
        if isinstance(item.get("value"), str)
    )


def _single_identifier(resource: JsonObject) -> Iterable[Token]:
    """A QuestionnaireResponse has one identifier, not a list."""
    item = resource.get("identifier")
    return _identifiers({"identifier": [item]} if isinstance(item, dict) else {})


def _categories(resource: JsonObject) -> Iterable[Token]:
    for category in resource.get("category") or ():
        for coding in category.get("coding") or ():
            if isinstance(coding.get("code"), str):
                yield coding.get("system") or "", coding["code"]


def _codings(element: str) -> Callable[[JsonObject], list[Token]]:
    """The codings of a single CodeableConcept element (`Task.code`)."""

    def extract(resource: JsonObject) -> list[Token]:
        concept = resource.get(element)
        codings = concept.get("coding") if isinstance(concept, dict) else None
        return [
            (coding.get("system") or "", coding["code"])
            for coding in codings or ()
            if isinstance(coding, dict) and isinstance(coding.get("code"), str)
        ]

    return extract


def _canonical(resource: JsonObject) -> list[Token]:
    url = resource.get("url")
    return [("", url)] if isinstance(url, str) else []


def _references(
    element: str, field: str | None, target: str
) -> Callable[[JsonObject], list[Token]]:
    """The `<target>/<id>` references of a repeating element (`field`: the Reference's key
    inside each item, None when the items are References)."""
    prefix = f"{target}/"

    def extract(resource: JsonObject) -> list[Token]:
        found = []
        for item in resource.get(element) or ():
            reference = item.get(field) if field is not None else item
            text = (reference or {}).get("reference")
            if isinstance(text, str) and text.startswith(prefix):
                found.append(("", text))
        return found

    return extract


_WORD: Final = re.compile(r"\w+")


def name_words(text: str) -> list[str]:
    """The words of a name as the patient search matches them: accents dropped, case folded,
    apostrophes removed, split at anything else that is not a letter or digit
    ("José O'Neil-Smith" -> jose, oneil, smith)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _WORD.findall(plain.casefold().replace("'", "").replace("\u2019", "").replace("_", " "))


def _name_words(resource: JsonObject) -> list[Token]:
    words: set[str] = set()
    for name in resource.get("name") or ():
        parts = [name.get("text"), name.get("family"), *(name.get("given") or ())]
        for part in parts:
            if isinstance(part, str):
                words.update(word[:200] for word in name_words(part))
    return [("", word) for word in sorted(words)]


def _birth_date(resource: JsonObject) -> list[Token]:
    born = resource.get("birthDate")
    return [("", born)] if isinstance(born, str) else []


#: The Patient's name words and birth date, for the staff app's search (mappings/kinds.py
#: `Lookup`; the store's search reads them by these names).
NAME_WORD: Final = Lookup("lookup:name-word", _name_words)
BIRTH_DATE: Final = Lookup("lookup:birthdate", _birth_date)


_ID: Final = SearchParam("_id", "token", "id", "Logical id; comma-separated alternatives.")
_LAST_UPDATED: Final = SearchParam(
    "_lastUpdated",
    "date",
    "last_updated",
    "When the resource last changed; prefixes eq, ne, gt, ge, lt, le.",
)
IDENTIFIER: Final = SearchParam(
    "identifier",
    "token",
    "token:identifier",
    "system|value, |value or value.",
    extract=_identifiers,
)


_COMMON: Final = (_ID, _LAST_UPDATED, IDENTIFIER)


def _patient(name: str, documentation: str) -> SearchParam:
    return SearchParam(name, "reference", "patient_id", documentation, reference_type="Patient")


def _status(documentation: str) -> SearchParam:
    return SearchParam("status", "token", "status", documentation)


def _day(name: str, what: str) -> SearchParam:
    """A date parameter answered from the kind's date range (one day, for the cycle's)."""
    return SearchParam(name, "date", "period", f"{what}; prefixes eq, ne, gt, ge, lt, le.")


def _patient_and_subject(patient: str, subject: str) -> tuple[SearchParam, SearchParam]:
    """`patient` and `subject` name the same patient where only Patients are subjects."""
    return _patient("patient", patient), _patient("subject", subject)


CAREPLAN: Final = ResourceKind(
    name="CarePlan",
    patient_path="CarePlan.subject",
    search_params=(
        *_COMMON,
        *_patient_and_subject(
            "The patient: Patient/<id> or <id>.", "Same as patient (only Patient subjects exist)."
        ),
        SearchParam(
            "status",
            "token",
            "status",
            "active, on-hold or revoked: the enrollment's status.",
        ),
        SearchParam(
            "category",
            "token",
            "token:category",
            "system|code of a category.",
            extract=_categories,
        ),
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
            extract=_references("activity", "reference", "Appointment"),
            include=True,
        ),
    ),
    date=DatePath(start=("period", "start"), end=("period", "end")),
    statuses=("active", "on-hold", "revoked"),
    plan_order=0,
    exported=True,
)
APPOINTMENT: Final = ResourceKind(
    name="Appointment",
    patient_path="Appointment.participant.actor",
    search_params=(
        *_COMMON,
        _patient("patient", "The patient: Patient/<id> or <id>."),
        SearchParam("status", "token", "status", "proposed, or cancelled when superseded."),
        SearchParam(
            "date", "date", "period", "Appointment start to end; prefixes eq, ne, gt, ge, lt, le."
        ),
    ),
    date=DatePath(start=("start",), end=("end",), end_is_instant=True),
    statuses=("proposed", "cancelled", "fulfilled", "noshow"),
    closed=("cancelled", "fulfilled", "noshow"),
    plan_order=1,
    exported=True,
)
TASK: Final = ResourceKind(
    name="Task",
    patient_path="Task.for",
    search_params=(
        *_COMMON,
        *_patient_and_subject("The patient (Task.for): Patient/<id> or <id>.", "Same as patient."),
        SearchParam(
            "status",
            "token",
            "status",
            "A renewal: requested, or cancelled when no longer needed. A preparation: "
            "requested, in-progress, on-hold, completed or cancelled.",
        ),
        SearchParam(
            "based-on",
            "reference",
            "token:based-on",
            "The CarePlan the renewal or preparation belongs to: CarePlan/<id>.",
            reference_type="CarePlan",
            extract=_references("basedOn", None, "CarePlan"),
            revinclude=True,
        ),
        SearchParam(
            "code",
            "token",
            "token:code",
            "What the Task asks (system|code of https://fhir-sync.org/CodeSystem/task-code): "
            "renew-prescription (a renewal) or prepare-fills (the monthly cycle's preparation).",
            extract=_codings("code"),
        ),
        _day("authored-on", "The day a preparation was derived (renewals have none)"),
    ),
    date=DatePath(start=("authoredOn",), end=("authoredOn",)),
    statuses=("requested", "in-progress", "on-hold", "completed", "cancelled"),
    closed=("cancelled",),
    plan_order=2,
    shared_identifier=SID_RENEWAL_TASK,
    documentation="Renewal requests (part of the plan, written to EHRs) and the monthly cycle's "
    "prepare-fills Tasks (never written to an EHR, not part of the plan; only the pharmacy "
    "reads them).",
)
COMMUNICATION_REQUEST: Final = ResourceKind(
    name="CommunicationRequest",
    patient_path="CommunicationRequest.subject",
    search_params=(
        *_COMMON,
        *_patient_and_subject("The patient to call: Patient/<id> or <id>.", "Same as patient."),
        _status("active: a call of the monthly cycle to make."),
        SearchParam(
            "category",
            "token",
            "token:category",
            "The call's kind (system|code of https://fhir-sync.org/CodeSystem/cycle-item).",
            extract=_categories,
        ),
        _day("occurrence", "The day of the call"),
    ),
    date=DatePath(start=("occurrenceDateTime",), end=("occurrenceDateTime",)),
    statuses=("active", "completed", "revoked"),
    closed=("completed", "revoked"),
    scope="",  # the pharmacy only (security/scopes.py): the calls stay in the pharmacy
    documentation="The monthly cycle's calls; they stay in the pharmacy (not written to EHRs).",
)


def _cycle_record(
    name: str,
    *,
    identifier: SearchParam,
    patient: str,
    status: str,
    day: tuple[str, str, str],
    statuses: tuple[str, ...],
    documentation: str,
) -> ResourceKind:
    """A record of what happened in the monthly cycle (a call made, a check-in): its patient
    is its `subject`, it is searched by status and by its day (`day`: the parameter, the
    element and what it dates), and it stays in the pharmacy."""
    param, element, what = day
    return ResourceKind(
        name=name,
        patient_path=f"{name}.subject",
        search_params=(
            _ID,
            _LAST_UPDATED,
            identifier,
            *_patient_and_subject(patient, "Same as patient."),
            _status(status),
            _day(param, f"The day of the {what}"),
        ),
        date=DatePath(start=(element,), end=(element,)),
        statuses=statuses,
        scope="",  # the pharmacy only (security/scopes.py): it stays in the pharmacy
        documentation=f"{documentation}; they stay in the pharmacy.",
    )


COMMUNICATION: Final = _cycle_record(
    "Communication",
    identifier=IDENTIFIER,
    patient="The patient called: Patient/<id> or <id>.",
    status="completed (the patient was reached) or not-done (no answer, wrong number).",
    day=("sent", "sent", "call"),
    statuses=("completed", "not-done"),
    documentation="The calls made ($record-contact)",
)
QUESTIONNAIRE_RESPONSE: Final = _cycle_record(
    "QuestionnaireResponse",
    identifier=SearchParam(
        "identifier",
        "token",
        "token:identifier",
        "system|value, |value or value.",
        extract=_single_identifier,
    ),
    patient="The patient who answered: Patient/<id> or <id>.",
    status="completed or amended.",
    day=("authored", "authored", "check-in"),
    statuses=("completed", "amended"),
    documentation="The check-in answers ($check-in)",
)
QUESTIONNAIRE: Final = ResourceKind(
    name="Questionnaire",
    patient_path=None,
    search_params=(
        _ID,
        _LAST_UPDATED,
        SearchParam("url", "uri", "token:url", "The canonical URL.", extract=_canonical),
        _status("active."),
    ),
    statuses=("active", "retired"),
    scope="",  # the pharmacy only (security/scopes.py): the pharmacy's own check-in form
    documentation="The check-in Questionnaire fhir-sync ships (the pharmacy's; no patient data).",
)
PATIENT: Final = ResourceKind(
    name="Patient",
    patient_path="Patient.id",
    search_params=_COMMON,
    exported=True,
    lookups=(NAME_WORD, BIRTH_DATE),
)
GROUP: Final = ResourceKind(
    name="Group",
    patient_path=None,
    search_params=(
        _ID,
        SearchParam(
            "managing-entity",
            "reference",
            "payer",
            "The payer: Organization/<id>.",
            reference_type="Organization",
        ),
    ),
    stored=False,
    scope="",  # payers and pharmacies only (security/scopes.py)
)

# In CapabilityStatement order; AuditEvent has its own search (api/audit/search.py).
KINDS: Final[Mapping[str, ResourceKind]] = {
    kind.name: kind
    for kind in (
        CAREPLAN,
        APPOINTMENT,
        TASK,
        COMMUNICATION_REQUEST,
        COMMUNICATION,
        QUESTIONNAIRE_RESPONSE,
        QUESTIONNAIRE,
        PATIENT,
        GROUP,
    )
}
AUDIT_EVENT: Final = "AuditEvent"

SEARCHABLE_TYPES: Final = tuple(KINDS)
STORED_TYPES: Final = tuple(kind.name for kind in KINDS.values() if kind.stored)
PLAN_TYPES: Final = tuple(
    kind.name
    for kind in sorted(KINDS.values(), key=lambda k: k.plan_order or 0)
    if kind.plan_order is not None
)
# Patients first, then the plan's resources in plan order.
EXPORT_TYPES: Final = tuple(
    kind.name
    for kind in sorted(KINDS.values(), key=lambda k: (k.plan_order is not None, k.plan_order or 0))
    if kind.exported
)
# The store keeps the patient's id of every stored kind that names one (indexing.py), so the
# audit trail can name the patient of each one disclosed; a Patient names itself.
AUDIT_PATIENT_TYPES: Final = tuple(
    k.name for k in KINDS.values() if k.stored and k.patient is not None and k.name != "Patient"
)
AUDIT_ENTITY_TYPES: Final = (*(k.name for k in KINDS.values() if k.audit_entity), AUDIT_EVENT)
CLOSED_STATUSES: Final[Mapping[str, tuple[str, ...]]] = {
    kind.name: kind.closed for kind in KINDS.values() if kind.closed
}
READ_SCOPES: Final[Mapping[str, str]] = {k.name: k.scope for k in KINDS.values() if k.scope}
# The stored kinds no role but the pharmacy reads (scope ""): the monthly cycle's resources.
PHARMACY_ONLY_TYPES: Final = tuple(k.name for k in KINDS.values() if k.stored and not k.scope)
