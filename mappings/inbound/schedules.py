"""A heuristic guess of the DEA schedule from a medication's name.

Senders rarely state the schedule, yet the engine must treat controlled drugs differently
(no refills for C-II, 5 refills / 6 months for C-III and C-IV). This table of well-known
federal controlled ingredients (21 CFR 1308.12-1308.15) and a few brand names catches the
common cases; it is deliberately short, ignores state schedules and will miss drugs. The
`controlled-substance-schedule` extension always wins over it (see docs/sync-plan-profile.md).

Matching is one pass over the lower-cased words of the text with a dict lookup per word,
cached per text, which keeps it cheap on the hot path; the strictest match wins.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from fhir_sync.engine.types import Schedule

# Sources, per schedule: 21 CFR 1308.12 (Schedule II), 1308.13 (III), 1308.14 (IV),
# 1308.15 (V); hydrocodone combinations moved to II in 2014 (79 FR 49661).
_CII = (
    "oxycodone hydrocodone morphine fentanyl hydromorphone oxymorphone methadone tapentadol "
    "meperidine levorphanol methylphenidate dexmethylphenidate amphetamine methamphetamine "
    "lisdexamfetamine dextroamphetamine cocaine nabilone "
    "percocet oxycontin roxicodone norco vicodin dilaudid duragesic nucynta ritalin concerta "
    "focalin adderall vyvanse dexedrine"
)
_CIII = (
    "buprenorphine testosterone ketamine butalbital nandrolone oxandrolone dronabinol "
    "benzphetamine phendimetrazine perampanel "
    "suboxone subutex androgel marinol"
)
_CIV = (
    "alprazolam lorazepam diazepam clonazepam temazepam triazolam oxazepam chlordiazepoxide "
    "clorazepate midazolam zolpidem eszopiclone zaleplon suvorexant lemborexant tramadol "
    "carisoprodol phenobarbital modafinil armodafinil phentermine clobazam "
    "xanax ativan valium klonopin restoril ambien lunesta ultram soma provigil nuvigil onfi "
    "sympazan"
)
_CV = "pregabalin lacosamide brivaracetam cenobamate lyrica vimpat briviact"

# Word -> schedule; the enum order (NONE < CII ... < CV) is not strictness, see _STRICTNESS.
CONTROLLED_WORDS: Final[dict[str, Schedule]] = {
    **dict.fromkeys(_CV.split(), Schedule.CV),
    **dict.fromkeys(_CIV.split(), Schedule.CIV),
    **dict.fromkeys(_CIII.split(), Schedule.CIII),
    **dict.fromkeys(_CII.split(), Schedule.CII),
}

# Codeine's schedule depends on what it is combined with (21 CFR 1308.12, .13(e), .15(c)).
_CODEINE_CV_PARTNERS: Final = frozenset(
    {"guaifenesin", "promethazine", "chlorpheniramine", "pseudoephedrine"}
)
_CODEINE_CIII_PARTNERS: Final = frozenset(
    {"acetaminophen", "aspirin", "butalbital", "carisoprodol", "tylenol", "apap", "fioricet"}
)
# "Tylenol with Codeine #3", "APAP/Codeine #4": the number names an acetaminophen/codeine
# tablet (#3 = 300 mg / 30 mg), a Schedule III combination (21 CFR 1308.13(e)).
_CODEINE_NUMBERED: Final = re.compile(r"codeine\s*(?:no\.?|#)\s*[1-4]\b")

_STRICTNESS: Final = {
    Schedule.NONE: 0,
    Schedule.CV: 1,
    Schedule.CIV: 2,
    Schedule.CIII: 3,
    Schedule.CII: 4,
}

_WORD: Final = re.compile(r"[a-z]+")

SCHEDULE_BY_CODE: Final[dict[str, Schedule]] = {
    "CII": Schedule.CII,
    "CIII": Schedule.CIII,
    "CIV": Schedule.CIV,
    "CV": Schedule.CV,
    "none": Schedule.NONE,
}


@lru_cache(maxsize=8192)
def schedule_from_text(text: str) -> Schedule:
    """The strictest schedule of the controlled ingredients named in `text`, else NONE.

    Cached: a bulk run sees a few thousand distinct drug names among a million orders.
    """
    words = _WORD.findall(text.lower())
    best = Schedule.NONE
    codeine = False
    for word in words:
        found = CONTROLLED_WORDS.get(word)
        if found is not None and _STRICTNESS[found] > _STRICTNESS[best]:
            best = found
        elif word == "codeine":
            codeine = True
    if codeine and best is not Schedule.CII:
        found = _codeine_schedule(words, text.lower())
        if _STRICTNESS[found] > _STRICTNESS[best]:
            best = found
    return best


def _codeine_schedule(words: list[str], text: str) -> Schedule:
    present = set(words)
    if not present.isdisjoint(_CODEINE_CV_PARTNERS):
        return Schedule.CV
    if not present.isdisjoint(_CODEINE_CIII_PARTNERS) or _CODEINE_NUMBERED.search(text):
        return Schedule.CIII
    return Schedule.CII
