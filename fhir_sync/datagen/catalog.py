"""The drugs the generator prescribes, with real RxNorm codes and ordinary adult regimens.

Codes and displays are RxNorm SCD concepts checked against Synthea's medication cost table and
the CMS eCQM value-set expansions (dementia, anticoagulant, antidepressant, controlled-drug
lists). The two marked "unconfirmed" come from memory only; replace them before anyone relies
on them. Regimens are typical outpatient sigs chosen to exercise the engine (daily, twice daily,
every 12 hours, at bedtime, PRN), not clinical advice.

Deliberately different from the codes once suggested for this table: 966222 is levothyroxine
0.075 MG (not 0.05 MG), 312940 is sertraline 25 MG (50 MG is 312941), and atorvastatin 20 MG is
617310 (617312 is not the generic 20 MG tablet). No omeprazole is listed because no code for it
could be confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a drug is taken, which decides its fill pattern."""

    MAINTENANCE = "maintenance"
    PRN = "prn"
    ACUTE = "acute"
    SEASONAL = "seasonal"


@dataclass(frozen=True, slots=True)
class Form:
    """A dose unit as FHIR quantities and a pharmacist's sig both spell it."""

    unit: str
    ucum: str
    noun: str
    nouns: str
    verb: str
    route_code: str
    route_display: str
    route_words: str


TABLET = Form("tablet", "{tbl}", "tablet", "tablets", "Take", "26643006", "Oral route", "by mouth")
CAPSULE = Form(
    "capsule", "{cap}", "capsule", "capsules", "Take", "26643006", "Oral route", "by mouth"
)
PUFF = Form(
    "actuation",
    "{actuat}",
    "puff",
    "puffs",
    "Inhale",
    "447694001",
    "Respiratory tract route",
    "by mouth",
)
DROP = Form(
    "drop", "[drp]", "drop", "drops", "Instill", "54485002", "Ophthalmic route", "in both eyes"
)
MG_ORAL = Form("mg", "mg", "mg", "mg", "Take", "26643006", "Oral route", "by mouth")
KIT = Form(
    "kit", "{kit}", "kit", "kits", "Inject", "34206005", "Subcutaneous route", "under the skin"
)
PATCH = Form(
    "patch", "{patch}", "patch", "patches", "Apply", "45890007", "Transdermal route", "to the skin"
)
INSULIN = Form(
    "unit",
    "[IU]",
    "unit",
    "units",
    "Inject",
    "34206005",
    "Subcutaneous route",
    "under the skin",
)
PEN_MG = Form("mg", "mg", "mg", "mg", "Inject", "34206005", "Subcutaneous route", "under the skin")


@dataclass(frozen=True, slots=True)
class Regimen:
    """One dosing pattern: `dose` units, `frequency` times per `period` `period_unit`."""

    dose: float
    frequency: int
    period: float
    period_unit: str
    sig: str
    # Written as two concurrent instructions (sequence 1 and 2): morning and evening doses.
    split: tuple[float, float] | None = None
    # A second, as-needed instruction on top of the scheduled one ("1 more if swollen").
    extra_prn: str | None = None
    # Doses per administration site (2 for "in both eyes").
    sites: int = 1

    @property
    def per_day(self) -> float:
        """Units taken a day when taken exactly as written."""
        per_period = self.dose * self.frequency * self.sites
        if self.period_unit == "h":
            return per_period * 24 / self.period
        if self.period_unit == "wk":
            return per_period / (7 * self.period)
        return per_period / self.period


def daily(dose: float = 1, sig: str = "once daily") -> Regimen:
    """Once a day; `sig` says when (at bedtime, in the morning)."""
    return Regimen(dose, 1, 1, "d", sig)


def times_a_day(times: int, dose: float = 1) -> Regimen:
    """BID/TID/QID written as a frequency per day."""
    words = {2: "twice daily", 3: "three times daily", 4: "four times daily"}
    return Regimen(dose, times, 1, "d", words[times])


def every_hours(hours: int, dose: float = 1, sig: str = "") -> Regimen:
    """q`hours`h written as a period in hours, as many EHRs do."""
    return Regimen(dose, 1, hours, "h", sig or f"every {hours} hours")


@dataclass(frozen=True, slots=True)
class Drug:
    """A prescribable product and how the generator may order it.

    `package` is the size of a pack that cannot be split (inhaler, pen carton, bottle of drops)
    in `form` units; `fill_quantity` is what one PRN fill hands over; `course_days` are the
    lengths an acute course may have; `max_age` keeps, say, stimulants away from 90-year-olds.
    """

    code: str
    display: str
    form: Form
    kind: Kind
    regimens: tuple[Regimen, ...]
    weight: int = 1
    schedule: str | None = None
    package: float | None = None
    fill_quantity: float | None = None
    course_days: tuple[int, ...] = ()
    max_age: int | None = None
    reason: str = ""
    # What a pharmacy counts: `per_unit` dose units in one `dispense_unit` (2.5 mg a tablet,
    # 100 insulin units a mL, 20 drops a mL, 60 actuations an inhaler); None: the dose unit.
    per_unit: float = 1.0
    dispense_unit: str | None = None
    dispense_ucum: str | None = None
    # PRN said only in the sig text, without asNeededBoolean (as some EHRs send it).
    prn_in_text_only: bool = False


def _m(code: str, display: str, form: Form, weight: int, *regimens: Regimen) -> Drug:
    return Drug(code, display, form, Kind.MAINTENANCE, regimens, weight)


MAINTENANCE: tuple[Drug, ...] = (
    _m("314076", "lisinopril 10 MG Oral Tablet", TABLET, 14, daily()),
    _m("197361", "amlodipine 5 MG Oral Tablet", TABLET, 12, daily()),
    _m("308136", "amlodipine 2.5 MG Oral Tablet", TABLET, 3, daily()),
    _m("617310", "atorvastatin 20 MG Oral Tablet", TABLET, 12, daily(sig="at bedtime")),
    _m("259255", "atorvastatin 80 MG Oral Tablet", TABLET, 4, daily()),
    _m("312961", "simvastatin 20 MG Oral Tablet", TABLET, 5, daily(sig="in the evening")),
    _m(
        "861007",
        "metformin hydrochloride 500 MG Oral Tablet",
        TABLET,
        12,
        times_a_day(2),
        times_a_day(2, 2),
        daily(),
        Regimen(3, 1, 1, "d", "2 in the morning and 1 in the evening", split=(2, 1)),
    ),
    _m(
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        TABLET,
        5,
        daily(2, "with the evening meal"),
        daily(),
    ),
    _m(
        "966222",
        "levothyroxine sodium 0.075 MG Oral Tablet",
        TABLET,
        9,
        daily(sig="in the morning on an empty stomach"),
    ),
    _m("312941", "sertraline 50 MG Oral Tablet", TABLET, 6, daily(), daily(2)),
    _m("349332", "escitalopram 10 MG Oral Tablet", TABLET, 5, daily()),
    _m("200371", "citalopram 20 MG Oral Tablet", TABLET, 3, daily()),
    _m("310385", "fluoxetine 20 MG Oral Capsule", CAPSULE, 3, daily(sig="in the morning")),
    _m("596926", "duloxetine 20 MG Delayed Release Oral Capsule", CAPSULE, 2, times_a_day(2)),
    _m("310798", "hydrochlorothiazide 25 MG Oral Tablet", TABLET, 7, daily()),
    _m("979485", "losartan potassium 25 MG Oral Tablet", TABLET, 6, daily(), daily(2)),
    _m(
        "313988",
        "furosemide 40 MG Oral Tablet",
        TABLET,
        5,
        daily(),
        times_a_day(2),
        Regimen(1, 1, 1, "d", "every morning", extra_prn="as needed for swelling"),
    ),
    _m("309362", "clopidogrel 75 MG Oral Tablet", TABLET, 4, daily()),
    _m("855332", "warfarin sodium 5 MG Oral Tablet", TABLET, 3, daily(sig="in the evening")),
    _m("1364445", "apixaban 5 MG Oral Tablet", TABLET, 4, every_hours(12), times_a_day(2)),
    _m("197319", "allopurinol 100 MG Oral Tablet", TABLET, 3, daily(), daily(3)),
    _m("197604", "digoxin 0.125 MG Oral Tablet", TABLET, 2, daily()),
    _m("997223", "donepezil hydrochloride 10 MG Oral Tablet", TABLET, 2, daily(sig="at bedtime")),
    _m("996561", "memantine hydrochloride 10 MG Oral Tablet", TABLET, 1, times_a_day(2)),
    _m("199224", "anastrozole 1 MG Oral Tablet", TABLET, 1, daily()),
    _m("198240", "tamoxifen 10 MG Oral Tablet", TABLET, 1, times_a_day(2)),
    _m("979092", "hydroxychloroquine sulfate 200 MG Oral Tablet", TABLET, 1, times_a_day(2)),
    _m("197541", "colchicine 0.6 MG Oral Tablet", TABLET, 1, daily()),
    _m("243670", "aspirin 81 MG Oral Tablet", TABLET, 3, daily()),
    _m("1373463", "canagliflozin 100 MG Oral Tablet", TABLET, 2, daily(sig="before breakfast")),
    _m("904419", "alendronic acid 10 MG Oral Tablet", TABLET, 1, daily(sig="in the morning")),
)

# Packs a pharmacy cannot split: the dispensed quantity is a whole number of packs, so the
# billed days supply is whatever the packs last, rarely exactly 30 or 90.
UNBREAKABLE: tuple[Drug, ...] = (
    Drug(
        "896209",
        "60 ACTUAT fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT"
        " Dry Powder Inhaler",
        PUFF,
        Kind.MAINTENANCE,
        (times_a_day(2),),
        weight=5,
        package=60,
        per_unit=60,
        dispense_unit="inhaler",
        dispense_ucum="{inhaler}",
    ),
    Drug(
        "895994",
        "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        PUFF,
        Kind.MAINTENANCE,
        (times_a_day(2, 2),),
        weight=3,
        package=120,
        per_unit=120,
        dispense_unit="inhaler",
        dispense_ucum="{inhaler}",
    ),
    Drug(
        "847230",
        "3 ML insulin glargine 100 UNT/ML Pen Injector",
        INSULIN,
        Kind.MAINTENANCE,
        (daily(10, "at bedtime"), daily(20, "at bedtime"), daily(34, "at bedtime")),
        weight=4,
        package=1500,  # carton of five 300-unit pens
        per_unit=100,  # U-100
        dispense_unit="mL",
        dispense_ucum="mL",
    ),
    Drug(
        "897122",
        "3 ML liraglutide 6 MG/ML Pen Injector",
        PEN_MG,
        Kind.MAINTENANCE,
        (daily(1.2), daily(1.8)),
        weight=2,
        package=36,  # carton of two 18 mg pens
        per_unit=6,  # 6 mg/mL
        dispense_unit="mL",
        dispense_ucum="mL",
    ),
    Drug(
        "314072",  # unconfirmed
        "latanoprost 0.05 MG/ML Ophthalmic Solution",
        DROP,
        Kind.MAINTENANCE,
        (Regimen(1, 1, 1, "d", "at bedtime", sites=2),),
        weight=3,
        package=50,  # 2.5 mL bottle at 20 drops a mL
        per_unit=20,
        dispense_unit="mL",
        dispense_ucum="mL",
    ),
    Drug(
        "1359133",  # unconfirmed
        "{21 (norethindrone 1 MG / ethinyl estradiol 0.035 MG Oral Tablet) / "
        "7 (inert ingredients 1 MG Oral Tablet) } Pack",
        TABLET,
        Kind.MAINTENANCE,
        (daily(sig="at the same time each day"),),
        weight=3,
        package=28,  # a 28-day blister
        max_age=50,
    ),
    Drug(
        "1115457",  # unconfirmed
        "leuprolide acetate 22.5 MG Injection Kit",
        KIT,
        Kind.MAINTENANCE,
        (Regimen(1, 1, 12, "wk", "every 12 weeks"),),
        weight=2,
    ),
    Drug(
        "310212",  # unconfirmed
        "estradiol 0.05 MG/Day Transdermal System",
        PATCH,
        Kind.MAINTENANCE,
        (Regimen(1, 2, 1, "wk", "twice weekly"),),
        weight=2,
        package=8,  # a box of 8 patches
    ),
)

# Dosed in mg: the pharmacy converts by the tablet's strength or the solution's concentration.
BY_STRENGTH: tuple[Drug, ...] = (
    Drug(
        "105585",  # unconfirmed
        "methotrexate 2.5 MG Oral Tablet",
        MG_ORAL,
        Kind.MAINTENANCE,
        (Regimen(15, 1, 1, "wk", "once weekly"),),
        weight=2,
        per_unit=2.5,
        dispense_unit="tablet",
        dispense_ucum="{tbl}",
    ),
    Drug(
        "904421",  # unconfirmed
        "alendronic acid 70 MG Oral Tablet",
        MG_ORAL,
        Kind.MAINTENANCE,
        (Regimen(70, 1, 1, "wk", "once weekly in the morning"),),
        weight=2,
        per_unit=70,
        dispense_unit="tablet",
        dispense_ucum="{tbl}",
    ),
    Drug(
        "312174",  # unconfirmed
        "levetiracetam 100 MG/ML Oral Solution",
        MG_ORAL,
        Kind.MAINTENANCE,
        (times_a_day(2, 500),),
        weight=2,
        per_unit=100,
        dispense_unit="mL",
        dispense_ucum="mL",
    ),
    Drug(
        "197361",
        "amlodipine 5 MG Oral Tablet",
        MG_ORAL,
        Kind.MAINTENANCE,
        (daily(5), daily(10)),
        weight=4,
        per_unit=5,
        dispense_unit="tablet",
        dispense_ucum="{tbl}",
    ),
)

PRN: tuple[Drug, ...] = (
    Drug(
        "745679",
        "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        PUFF,
        Kind.PRN,
        (every_hours(4, 2, "every 4 to 6 hours as needed for wheezing"),),
        weight=6,
        package=200,
        fill_quantity=200,
        reason="wheezing",
        per_unit=200,
        dispense_unit="inhaler",
        dispense_ucum="{inhaler}",
    ),
    Drug(
        "310965",
        "ibuprofen 200 MG Oral Tablet",
        TABLET,
        Kind.PRN,
        (every_hours(6, 2, "every 6 hours as needed for pain"),),
        weight=3,
        fill_quantity=60,
    ),
    Drug(
        "198014",
        "naproxen 500 MG Oral Tablet",
        TABLET,
        Kind.PRN,
        (every_hours(12, 1, "every 12 hours as needed for pain"),),
        weight=3,
        fill_quantity=30,
    ),
    Drug(
        "313782",
        "acetaminophen 325 MG Oral Tablet",
        TABLET,
        Kind.PRN,
        (every_hours(6, 2, "every 6 hours as needed for pain"),),
        weight=3,
        fill_quantity=100,
        prn_in_text_only=True,
    ),
)

ACUTE: tuple[Drug, ...] = (
    Drug(
        "308192",
        "amoxicillin 500 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(8),),
        weight=5,
        course_days=(7, 10),
    ),
    Drug(
        "308460",
        "azithromycin 250 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (daily(),),
        weight=3,
        course_days=(5,),
    ),
    Drug(
        "562251",
        "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(8),),
        weight=3,
        course_days=(7, 10),
    ),
    Drug(
        "309097",
        "cefuroxime 250 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (times_a_day(2),),
        weight=2,
        course_days=(10,),
    ),
    Drug(
        "1650142",
        "doxycycline monohydrate 100 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (times_a_day(2),),
        weight=2,
        course_days=(7, 10),
    ),
    Drug(
        "834102",
        "penicillin V potassium 500 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(6),),
        weight=1,
        course_days=(10,),
    ),
    Drug(
        "311995",
        "nitrofurantoin macrocrystals 50 MG Oral Capsule",
        CAPSULE,
        Kind.ACUTE,
        (every_hours(6),),
        weight=2,
        course_days=(7,),
    ),
    Drug(
        "312617",
        "prednisone 5 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (daily(4, "once daily with food"),),
        weight=2,
        course_days=(5, 7),
    ),
)

SEASONAL: tuple[Drug, ...] = (
    Drug("311372", "loratadine 10 MG Oral Tablet", TABLET, Kind.SEASONAL, (daily(),), weight=3),
    Drug(
        "1014678",
        "cetirizine hydrochloride 10 MG Oral Tablet",
        TABLET,
        Kind.SEASONAL,
        (daily(),),
        weight=2,
    ),
)

# Federal schedules (21 CFR 1308). C-II: no refills; C-III/IV: at most 5 refills in 6 months.
CONTROLLED: tuple[Drug, ...] = (
    Drug(
        "1049621",
        "oxycodone hydrochloride 5 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(6, 1, "every 6 hours as needed for severe pain"),),
        weight=3,
        schedule="CII",
        course_days=(5, 7),
    ),
    Drug(
        "1049221",
        "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(6, 1, "every 6 hours as needed for pain"),),
        weight=2,
        schedule="CII",
        course_days=(3, 5, 7),
    ),
    Drug(
        "857005",
        "acetaminophen 325 MG / hydrocodone bitartrate 7.5 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(6, 1, "every 6 hours as needed for pain"),),
        weight=2,
        schedule="CII",
        course_days=(5, 7),
    ),
    Drug(
        "1091392",
        "methylphenidate hydrochloride 20 MG Oral Tablet",
        TABLET,
        Kind.MAINTENANCE,
        (times_a_day(2),),
        weight=3,
        schedule="CII",
        max_age=60,
    ),
    Drug(
        "993781",  # unconfirmed
        "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet",
        TABLET,
        Kind.ACUTE,
        (every_hours(6, 1, "every 6 hours as needed for pain"),),
        weight=1,
        schedule="CIII",
        course_days=(5,),
    ),
    Drug(
        "308048",
        "alprazolam 0.5 MG Oral Tablet",
        TABLET,
        Kind.PRN,
        (every_hours(8, 1, "up to three times daily as needed for anxiety"),),
        weight=2,
        schedule="CIV",
        fill_quantity=30,
    ),
    Drug(
        "854873",
        "zolpidem tartrate 10 MG Oral Tablet",
        TABLET,
        Kind.MAINTENANCE,
        (daily(sig="at bedtime"),),
        weight=3,
        schedule="CIV",
    ),
    Drug(
        "197591",
        "diazepam 5 MG Oral Tablet",
        TABLET,
        Kind.MAINTENANCE,
        (times_a_day(2),),
        weight=1,
        schedule="CIV",
    ),
    Drug(
        "483438",
        "pregabalin 100 MG Oral Capsule",
        CAPSULE,
        Kind.MAINTENANCE,
        (times_a_day(3),),
        weight=2,
        schedule="CV",
    ),
)

ALL_DRUGS: tuple[Drug, ...] = (
    MAINTENANCE + UNBREAKABLE + BY_STRENGTH + PRN + ACUTE + SEASONAL + CONTROLLED
)
BY_CODE: dict[str, Drug] = {drug.code: drug for drug in ALL_DRUGS}
