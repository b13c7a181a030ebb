from __future__ import annotations

import pytest

from fhir_sync.engine.types import Schedule
from mappings.inbound.schedules import CONTROLLED_WORDS, schedule_from_text


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("Oxycodone Hydrochloride 5 MG Oral Tablet", Schedule.CII),
        ("Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet", Schedule.CII),
        ("24 HR Methylphenidate 36 MG Extended Release Tablet", Schedule.CII),
        ("lisdexamfetamine dimesylate 30 MG Oral Capsule", Schedule.CII),
        ("Adderall XR 20 mg", Schedule.CII),
        ("Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film", Schedule.CIII),
        ("testosterone cypionate 200 MG/ML Injectable Solution", Schedule.CIII),
        ("Butalbital / Acetaminophen / Caffeine", Schedule.CIII),
        ("Diazepam [Valium]", Schedule.CIV),
        ("ZOLPIDEM TARTRATE 10 MG", Schedule.CIV),
        ("traMADol 50 mg", Schedule.CIV),
        ("Pregabalin 75 MG Oral Capsule", Schedule.CV),
        ("lacosamide 100 MG", Schedule.CV),
        ("Codeine Phosphate 2 MG/ML / Guaifenesin 20 MG/ML Oral Solution", Schedule.CV),
        ("Promethazine / codeine syrup", Schedule.CV),
        ("Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet", Schedule.CIII),
        ("Codeine sulfate 30 MG Oral Tablet", Schedule.CII),
        # 21 CFR 1308.13(e): codeine combinations of at most 90 mg a unit are C-III
        ("Tylenol with Codeine #3", Schedule.CIII),
        ("Acetaminophen with Codeine #3 Oral Tablet", Schedule.CIII),
        ("APAP/Codeine No. 4", Schedule.CIII),
        # 21 CFR 1308.14(c): clobazam is C-IV
        ("clobazam 10 MG Oral Tablet", Schedule.CIV),
        ("Onfi 2.5 MG/ML Oral Suspension", Schedule.CIV),
        # a controlled ingredient combined with a non-controlled one keeps its own schedule
        ("buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet", Schedule.CIII),
        ("Acetaminophen 325 MG Oral Tablet", Schedule.NONE),
        ("Alprazolam 0.5 mg and oxycodone 5 mg", Schedule.CII),  # strictest wins
        ("Lorazepam / pregabalin", Schedule.CIV),
        ("Lisinopril 10 MG Oral Tablet", Schedule.NONE),
        ("Morphinan-free text: paramorphine", Schedule.NONE),  # whole words only
        ("Dextromethorphan 15 MG", Schedule.NONE),
        ("", Schedule.NONE),
    ],
)
def test_schedule_from_text(text: str, schedule: Schedule) -> None:
    assert schedule_from_text(text) is schedule


def test_the_table_holds_lower_case_single_words() -> None:
    assert all(word.isalpha() and word.islower() for word in CONTROLLED_WORDS)
