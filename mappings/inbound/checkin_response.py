"""A QuestionnaireResponse to the check-in -> the engine's CheckInAnswers, checked by hand.

The answers change what is prepared and when, so anything the mapping cannot trust is refused
with a MappingError naming the element (never the answer: it is the patient's words).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from fhir_sync.engine.checkin import CheckInAnswers, PickupChoice
from mappings.errors import MappingError, rooted_at
from mappings.fhir_values import (
    JsonObject,
    get_code,
    get_date,
    get_list,
    get_object,
    get_str,
    item_object,
    list_objects,
    member_of,
    required_code,
    resource_id,
    show_code,
    subject_patient_id,
)
from mappings.outbound.checkin_questionnaire import (
    AWAY_FROM,
    AWAY_UNTIL,
    BOOLEAN_QUESTIONS,
    DETAILS,
    NEW_DATE,
    PICKUP_QUESTION,
    STOP_PROGRAM,
)
from mappings.profile import (
    CS_PICKUP_CHOICE,
    QUESTIONNAIRE_CHECK_IN,
    QUESTIONNAIRE_CHECK_IN_VERSION,
)

QR: Final = "QuestionnaireResponse"
ACCEPTED_STATUS: Final = frozenset({"completed", "amended"})
QR_STATUS: Final = frozenset({"in-progress", "completed", "amended", "entered-in-error", "stopped"})
_FIELD_OF: Final = {
    "taking-as-directed": "taking_as_directed",
    "missed-doses": "missed_doses",
    "hospital-visit": "hospital_visit",
    "new-medicines": "new_medicines",
    "stopped-or-changed": "stopped_or_changed",
    "side-effects": "side_effects",
    STOP_PROGRAM: "stop_program",
}
_DATE_FIELD: Final = {NEW_DATE: "new_date", AWAY_FROM: "away_from", AWAY_UNTIL: "away_until"}
MAX_DETAILS: Final = 4000


@dataclass(frozen=True, slots=True)
class CheckInInput:
    """The response's id, its patient and the answers."""

    response_id: str
    patient_id: str
    answers: CheckInAnswers


@rooted_at(QR)
def map_check_in_response(res: JsonObject) -> CheckInInput:
    """Map a completed (or amended) response to fhir-sync's check-in Questionnaire."""
    rid = resource_id(res, QR)
    _check_questionnaire(res)
    status = required_code(res, "status", QR_STATUS)
    if status not in ACCEPTED_STATUS:
        raise MappingError(
            f"status {status} is not a finished check-in (completed or amended)",
            ".status",
            "value",
        )
    patient_id = subject_patient_id(res)
    authored = get_date(res, "authored", "")
    if authored is None:
        raise MappingError("authored is required: it dates the answers", ".authored", "required")
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    for index, item in list_objects(res, "item", ""):
        try:
            _read_item(item, seen, fields)
        except MappingError as error:
            raise error.under(f".item[{index}]") from None
    return CheckInInput(rid, patient_id, CheckInAnswers(answered_on=authored, **fields))


def _check_questionnaire(res: JsonObject) -> None:
    canonical = get_str(res, "questionnaire", "")
    if canonical is None:
        raise MappingError("questionnaire is required", ".questionnaire", "required")
    url, _, version = canonical.partition("|")
    if url != QUESTIONNAIRE_CHECK_IN:
        raise MappingError(
            f"questionnaire must be {QUESTIONNAIRE_CHECK_IN}", ".questionnaire", "value"
        )
    if version and version != QUESTIONNAIRE_CHECK_IN_VERSION:
        raise MappingError(
            f"questionnaire version {show_code(version)} is not supported", ".questionnaire",
            "not-supported",
        )  # fmt: skip


def _read_item(item: JsonObject, seen: set[str], fields: dict[str, Any]) -> None:
    link = get_str(item, "linkId", "")
    if link is None:
        raise MappingError("linkId is required", ".linkId", "required")
    if link in seen:
        raise MappingError(f"linkId {show_code(link)} is answered twice", ".linkId", "invariant")
    seen.add(link)
    answers = get_list(item, "answer", "") or []
    if not answers:
        return
    if len(answers) > 1:
        raise MappingError("only one answer is allowed", ".answer", "invariant")
    answer = item_object(answers, 0, "", "answer")
    where = ".answer[0]"
    if link in BOOLEAN_QUESTIONS or link == STOP_PROGRAM:
        value = answer.get("valueBoolean")
        if type(value) is not bool:
            raise MappingError("valueBoolean (true or false) is required", where, "structure")
        fields[_FIELD_OF[link]] = value
    elif link in _DATE_FIELD:
        day: date | None = get_date(answer, "valueDate", where)
        if day is None:
            raise MappingError("valueDate is required", where + ".valueDate", "required")
        fields[_DATE_FIELD[link]] = day
    elif link == PICKUP_QUESTION:
        fields["pickup"] = _pickup_choice(answer, where)
    elif link == DETAILS:
        text = get_str(answer, "valueString", where)
        if text is None:
            raise MappingError("valueString is required", where + ".valueString", "required")
        if len(text) > MAX_DETAILS:
            raise MappingError(f"longer than {MAX_DETAILS} characters", where, "value")
        fields["details"] = text
    else:
        raise MappingError(f"unknown linkId {show_code(link)}", ".linkId", "not-supported")


def _pickup_choice(answer: JsonObject, where: str) -> PickupChoice:
    coding = get_object(answer, "valueCoding", where)
    if coding is None:
        raise MappingError("valueCoding is required", where + ".valueCoding", "required")
    system = get_str(coding, "system", where + ".valueCoding")
    code = get_code(coding, "code", where + ".valueCoding")
    if system != CS_PICKUP_CHOICE or code is None:
        raise MappingError(
            f"valueCoding must be a code of {CS_PICKUP_CHOICE}", where + ".valueCoding", "value"
        )
    return member_of(PickupChoice, code, "pickup answer", where + ".valueCoding.code")
