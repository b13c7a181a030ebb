"""The cycle's FHIR resources: valid R4, in plain words, idempotent, and the check-in's answers
read back exactly (docs/sync-plan-profile.md section 5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from fhir_sync.engine.checkin import PickupChoice
from fhir_sync.engine.cycle import derive_day
from fhir_sync.engine.cycle_types import (
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
    RenewalTrack,
)
from mappings.errors import MappingError
from mappings.inbound.checkin_response import map_check_in_response
from mappings.inbound.contact_input import map_contact_communication
from mappings.outbound.checkin_questionnaire import check_in_questionnaire
from mappings.outbound.cycle_entries import cycle_bundle
from mappings.outbound.outreach import call_request, contact_communication
from mappings.outbound.preparation_task import check_transition, preparation_task
from mappings.outbound.renewal_follow_up import followed_up_task
from mappings.profile import (
    CS_PICKUP_CHOICE,
    EXT_CLARIFICATION_CODE,
    EXT_EARLIEST_FILL,
    EXT_FILL_DAYS_SUPPLY,
    EXT_FILL_QUANTITY,
    QUESTIONNAIRE_CHECK_IN,
    SID_CYCLE_ITEM,
)
from mappings.validation import validate_resource

ANCHOR = date(2026, 12, 30)
CAREPLAN = "CarePlan/cp1"
PHARMACY = "Organization/pharm1"
FILLS = (
    CycleFill("mr-a", "atorvastatin 20 MG Oral Tablet", 30, "tablets", 30, date(2026, 12, 23)),
    CycleFill("mr-i", "insulin glargine 100 UNT/ML Pen Injector", 2, "pens", 30, None, "48"),
)
ENROLLED = Enrollment("p1", 30, (Cycle(ANCHOR, FILLS, date(2026, 12, 1)),))
SETTINGS = CycleSettings()


def item_on(day: date, kind: ItemKind, e: Enrollment = ENROLLED) -> Any:
    return next(i for i in derive_day(e, day, SETTINGS) if i.kind is kind)


def test_outreach_request_names_the_day_and_the_medicines_in_plain_words() -> None:
    outreach = item_on(date(2026, 12, 23), ItemKind.OUTREACH)
    request = call_request(outreach, careplan=CAREPLAN, sender=PHARMACY)
    assert validate_resource(request) == []
    assert request["identifier"] == [{"system": SID_CYCLE_ITEM, "value": "p1:outreach:2026-12-30"}]
    assert request["recipient"] == [{"reference": "Patient/p1"}]
    assert request["about"] == [{"reference": CAREPLAN}]
    assert request["occurrenceDateTime"] == "2026-12-23"
    text = request["payload"][0]["contentString"]
    assert text.startswith(
        "Your medicines will be ready to pick up on Wednesday, December 30, 2026: "
        "atorvastatin 20 MG Oral Tablet (30 tablets); "
        "insulin glargine 100 UNT/ML Pen Injector (2 pens)."
    )


def test_no_show_follow_up_says_the_medicines_are_waiting() -> None:
    e = replace(
        ENROLLED, cycles=(replace(ENROLLED.cycles[0], outcomes=((ANCHOR, PickupStatus.NO_SHOW),)),)
    )
    follow = item_on(date(2026, 12, 31), ItemKind.NO_SHOW_FOLLOW_UP, e)
    request = call_request(follow, careplan=CAREPLAN)
    assert validate_resource(request) == []
    assert request["payload"][0]["contentString"].startswith(
        "We missed you at the pharmacy on Wednesday, December 30, 2026."
    )


def test_call_outcomes_become_communications() -> None:
    reached = contact_communication(
        "p1:outreach:2026-12-30", "p1", Contact(ANCHOR, date(2026, 12, 23), ContactOutcome.REACHED)
    )
    missed = contact_communication(
        "p1:outreach:2026-12-30",
        "p1",
        Contact(ANCHOR, date(2026, 12, 23), ContactOutcome.WRONG_NUMBER),
    )
    for communication in (reached, missed):
        assert validate_resource(communication) == []
    assert reached["status"] == "completed" and "statusReason" not in reached
    assert missed["status"] == "not-done"
    assert missed["statusReason"]["coding"][0]["code"] == "wrong-number"
    assert missed["basedOn"] == [
        {
            "reference": "CommunicationRequest?identifier="
            "https://fhir-sync.org/sid/cycle-item|p1:outreach:2026-12-30"
        }
    ]


def test_preparation_task_lists_each_fill_in_the_dispense_unit() -> None:
    prep = item_on(date(2026, 12, 27), ItemKind.PREPARE)  # 12-30 - 3
    task = preparation_task(prep, careplan=CAREPLAN, pharmacy=PHARMACY)
    assert validate_resource(task) == []
    assert task["status"] == "requested" and task["owner"] == {"reference": PHARMACY}
    assert task["code"]["coding"][0]["code"] == "prepare-fills"
    assert task["restriction"]["period"] == {"start": "2026-12-27", "end": "2026-12-30"}
    atorvastatin, insulin = task["input"]
    assert atorvastatin["valueReference"]["reference"] == "MedicationRequest/mr-a"
    ext = {e["url"]: e for e in atorvastatin["extension"]}
    assert ext[EXT_FILL_QUANTITY]["valueQuantity"] == {"value": 30, "unit": "tablets"}
    assert ext[EXT_FILL_DAYS_SUPPLY]["valueQuantity"]["value"] == 30
    assert ext[EXT_EARLIEST_FILL]["valueDate"] == "2026-12-23"
    ext = {e["url"]: e for e in insulin["extension"]}
    assert ext[EXT_FILL_QUANTITY]["valueQuantity"] == {"value": 2, "unit": "pens"}
    assert ext[EXT_CLARIFICATION_CODE]["valueCode"] == "48"
    assert EXT_EARLIEST_FILL not in ext


def test_preparation_waiting_for_a_renewal_is_on_hold_with_the_reason() -> None:
    track = RenewalTrack("mr-a", ANCHOR, date(2026, 12, 7))
    prep = item_on(date(2026, 12, 27), ItemKind.PREPARE, replace(ENROLLED, renewals=(track,)))
    task = preparation_task(prep, careplan=CAREPLAN, pharmacy=PHARMACY)
    assert validate_resource(task) == []
    assert task["status"] == "on-hold"
    assert task["statusReason"]["text"] == "waiting for a renewal of atorvastatin 20 MG Oral Tablet"


def test_preparation_states_follow_the_workflow() -> None:
    check_transition("requested", "in-progress")
    check_transition("in-progress", "completed")
    check_transition("on-hold", "in-progress")
    with pytest.raises(ValueError, match="completed to in-progress"):
        check_transition("completed", "in-progress")
    with pytest.raises(ValueError):
        check_transition("requested", "completed")


def test_a_day_written_twice_is_the_same_conditional_bundle() -> None:
    items = derive_day(ENROLLED, date(2026, 12, 23), SETTINGS)
    first = cycle_bundle(items, careplan=CAREPLAN, pharmacy=PHARMACY)
    again = cycle_bundle(
        derive_day(ENROLLED, date(2026, 12, 23), SETTINGS), careplan=CAREPLAN, pharmacy=PHARMACY
    )
    assert first == again
    (entry,) = first["entry"]
    assert entry["request"] == {
        "method": "PUT",
        "url": "CommunicationRequest?identifier=https://fhir-sync.org/sid/cycle-item"
        "|p1:outreach:2026-12-30",
    }
    assert validate_resource(first) == []
    assert (
        cycle_bundle(derive_day(ENROLLED, ANCHOR, SETTINGS), careplan=CAREPLAN, pharmacy=PHARMACY)[
            "entry"
        ]
        == []
    )


def test_escalation_raises_the_renewal_task_priority_once() -> None:
    track = RenewalTrack("mr-a", ANCHOR, date(2026, 12, 7))
    e = replace(ENROLLED, renewals=(track,))
    escalate = item_on(date(2026, 12, 16), ItemKind.RENEWAL_ESCALATE, e)
    task = {"resourceType": "Task", "status": "requested", "intent": "order", "priority": "routine"}
    once = followed_up_task(task, escalate)
    assert once["priority"] == "urgent" and len(once["note"]) == 1
    assert followed_up_task(once, escalate) == once
    assert task["priority"] == "routine"  # the input is not changed


def test_questionnaire_is_valid_and_versioned() -> None:
    questionnaire = check_in_questionnaire()
    assert validate_resource(questionnaire) == []
    assert questionnaire["url"] == QUESTIONNAIRE_CHECK_IN and questionnaire["version"] == "1"
    assert [i["linkId"] for i in questionnaire["item"]] == [
        "taking-as-directed",
        "missed-doses",
        "hospital-visit",
        "new-medicines",
        "stopped-or-changed",
        "side-effects",
        "pickup",
        "new-date",
        "away-from",
        "away-until",
        "stop-program",
        "details",
    ]


def response(*items: dict[str, Any], **kw: Any) -> dict[str, Any]:
    base = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "questionnaire": QUESTIONNAIRE_CHECK_IN + "|1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-12-23T10:15:00-05:00",
        "item": list(items),
    }
    base.update(kw)
    return base


def yes(link: str, value: bool = True) -> dict[str, Any]:
    return {"linkId": link, "answer": [{"valueBoolean": value}]}


def test_check_in_answers_are_read_back() -> None:
    res = response(
        yes("taking-as-directed"),
        yes("hospital-visit"),
        yes("new-medicines", False),
        {
            "linkId": "pickup",
            "answer": [{"valueCoding": {"system": CS_PICKUP_CHOICE, "code": "away"}}],
        },
        {"linkId": "away-from", "answer": [{"valueDate": "2026-12-26"}]},
        {"linkId": "away-until", "answer": [{"valueDate": "2027-01-05"}]},
        {"linkId": "details", "answer": [{"valueString": "In hospital for two nights"}]},
        {"linkId": "side-effects"},
    )
    assert validate_resource(res) == []
    got = map_check_in_response(res)
    assert got.patient_id == "p1" and got.response_id == "qr1"
    a = got.answers
    assert a.answered_on == date(2026, 12, 23)  # the date as written, not converted to UTC
    assert a.taking_as_directed is True and a.hospital_visit is True and a.new_medicines is False
    assert a.side_effects is None and a.missed_doses is None
    assert a.pickup is PickupChoice.AWAY
    assert (a.away_from, a.away_until) == (date(2026, 12, 26), date(2027, 1, 5))
    assert a.details == "In hospital for two nights"


@pytest.mark.parametrize(
    ("res", "expression"),
    [
        (
            response(questionnaire="https://example.org/Questionnaire/other"),
            "QuestionnaireResponse.questionnaire",
        ),
        (
            response(questionnaire=QUESTIONNAIRE_CHECK_IN + "|9"),
            "QuestionnaireResponse.questionnaire",
        ),
        (response(status="in-progress"), "QuestionnaireResponse.status"),
        (response(status="done"), "QuestionnaireResponse.status"),
        (response(authored=None), "QuestionnaireResponse.authored"),
        (response(subject={"reference": "Group/g1"}), "QuestionnaireResponse.subject.reference"),
        (
            response(yes("hospital-visit"), yes("hospital-visit")),
            "QuestionnaireResponse.item[1].linkId",
        ),
        (response(yes("favourite-colour")), "QuestionnaireResponse.item[0].linkId"),
        (
            response({"linkId": "hospital-visit", "answer": [{"valueString": "yes"}]}),
            "QuestionnaireResponse.item[0].answer[0]",
        ),
        (
            response(
                {
                    "linkId": "pickup",
                    "answer": [{"valueCoding": {"system": CS_PICKUP_CHOICE, "code": "moon"}}],
                }
            ),
            "QuestionnaireResponse.item[0].answer[0].valueCoding.code",
        ),
        (
            response({"linkId": "new-date", "answer": [{"valueDate": "next week"}]}),
            "QuestionnaireResponse.item[0].answer[0].valueDate",
        ),
    ],
)
def test_bad_check_in_responses_are_refused_naming_the_element(
    res: dict[str, Any], expression: str
) -> None:
    with pytest.raises(MappingError) as caught:
        map_check_in_response(res)
    assert caught.value.expression == expression
    assert "yes" not in caught.value.message  # never the patient's answer


def test_a_recorded_call_reads_back_as_the_contact_it_was_written_from() -> None:
    for outcome in ContactOutcome:
        contact = Contact(ANCHOR, date(2026, 12, 24), outcome)
        written = contact_communication("p1:call-retry:2026-12-30:1", "p1", contact)
        got = map_contact_communication(written)
        assert got.contact == contact and got.request_item_id == "p1:call-retry:2026-12-30:1"


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ({"status": "completed"}, "Communication.status"),  # no answer cannot be completed
        ({"sent": None}, "Communication.sent"),
        ({"identifier": []}, "Communication.identifier"),
        (
            {
                "identifier": [
                    {
                        "system": "https://fhir-sync.org/sid/contact",
                        "value": "p2:outreach:2026-12-30",
                    }
                ]
            },
            "Communication.identifier",
        ),
        (
            {
                "identifier": [
                    {
                        "system": "https://fhir-sync.org/sid/contact",
                        "value": "p1:prepare:2026-12-30",
                    }
                ]
            },
            "Communication.identifier",
        ),
        ({"extension": []}, "Communication.extension"),
    ],
)
def test_a_call_record_that_contradicts_itself_is_refused(
    change: dict[str, Any], expression: str
) -> None:
    contact = Contact(ANCHOR, date(2026, 12, 24), ContactOutcome.NO_ANSWER)
    written = contact_communication("p1:outreach:2026-12-30", "p1", contact) | change
    with pytest.raises(MappingError) as caught:
        map_contact_communication(written)
    assert caught.value.expression == expression
