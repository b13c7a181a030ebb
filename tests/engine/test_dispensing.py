"""Quantities a pharmacist can dispense, per conversion and per form.

Each expected number is worked out by hand from the rule beside it; the rules and their
sources are in ../shared/domain.md sections 2 and 7 and docs/dispensing-rules.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from fhir_sync.engine import Dosage, Fill, Order, Preferences, plan_patient
from fhir_sync.engine.dispensing import (
    FLAG_DOSE_SUPPLY,
    FLAG_IN_USE,
    FLAG_NO_UNIT,
    FLAG_PACK_CYCLE,
    FLAG_PRN_PART,
    Dispensing,
    Unresolved,
    resolve,
)
from fhir_sync.engine.products import ProductFacts, Source
from fhir_sync.engine.types import Exclusion

TODAY = date(2026, 11, 22)
F = Fraction


def name(form: str, **kw: object) -> ProductFacts:
    return ProductFacts(Source.DRUG_NAME, form=form, **kw)  # type: ignore[arg-type]


def dose(
    amount: float, unit: str | None, per_day: float = 1, period: float = 1, **kw: object
) -> Dosage:
    return Dosage(amount, per_day, period, dose_unit=unit, **kw)  # type: ignore[arg-type]


def order(*dosages: Dosage, facts: tuple[ProductFacts, ...] = (), **kw: object) -> Order:
    return Order(
        id=str(kw.pop("oid", "a")),
        drug_key=str(kw.pop("drug", "d")),
        dosages=dosages,
        authored_on=TODAY - timedelta(days=30),
        facts=facts,
        **kw,  # type: ignore[arg-type]
    )


def resolved(
    o: Order, fills: list[Fill] | None = None, prefs: Preferences | None = None
) -> Dispensing:
    found = resolve(o, fills or [], prefs or Preferences())
    assert isinstance(found, Dispensing), found
    return found


def only(o: Order, prefs: Preferences | None = None, fills: list[Fill] | None = None):  # type: ignore[no-untyped-def]
    plan = plan_patient(
        "p", [o], fills or [], TODAY, prefs or Preferences(anchor_date=TODAY + timedelta(days=10))
    )
    (result,) = plan.orders
    return result


TABLET_20MG = name("Oral Tablet", strength=F(20), strength_unit="MG")


def test_mg_dose_on_a_tablet_is_counted_in_tablets_by_strength() -> None:
    # atorvastatin 20 MG Oral Tablet, 40 mg once daily: 40/20 = 2 tablets a day; a 30-day cycle
    # is 60 tablets, never "1200 mg".
    found = resolved(order(dose(40, "mg"), facts=(TABLET_20MG,)))
    assert found.unit == "tablet" and found.daily == 2 and found.step == 1
    assert found.source is Source.DRUG_NAME
    plan = only(order(dose(40, "mg"), facts=(TABLET_20MG,)))
    assert plan.unit == "tablet" and plan.cycle_quantity == 60
    # 10 days to the anchor, supply gone today: 10 days x 2 = 20 tablets, 10 days billed.
    assert plan.quantity == 20 and plan.fill_days == 10


def test_mcg_dose_converts_through_mg() -> None:
    # levothyroxine 0.075 MG Oral Tablet, 75 mcg daily = 0.075 mg / 0.075 mg = 1 tablet.
    facts = (name("Oral Tablet", strength=F("0.075"), strength_unit="MG"),)
    assert resolved(order(dose(75, "mcg"), facts=facts)).daily == 1


def test_mg_dose_of_a_solution_is_counted_in_ml_by_concentration() -> None:
    # amoxicillin 250 MG/5 ML = 50 mg/mL; 500 mg twice daily = 1000 mg / 50 = 20 mL a day;
    # 30 days = 600 mL (not "30000 mg").
    facts = (name("Oral Suspension", strength=F(50), strength_unit="MG", strength_per="ML"),)
    found = resolved(order(dose(500, "mg", per_day=2), facts=facts))
    assert found.unit == "mL" and found.daily == 20
    assert only(order(dose(500, "mg", per_day=2), facts=facts)).cycle_quantity == 600


def test_insulin_units_become_ml_and_whole_pens_with_priming() -> None:
    # insulin glargine 100 UNT/ML, 3 mL pens: 20 units at bedtime + 2 units priming = 22 units
    # = 0.22 mL a day. One pen (3 mL) lasts floor(3 / 0.22) = 13 days.
    # Refill-too-soon wins over the sync (issue: "never so many that the next claim would come
    # before the payer accepts it"; domain.md section 2: paid from F + ceil(0.8 x D)):
    # - a cycle needs ceil(30 x 0.22 / 3) = ceil(2.2) = 3 pens = 9 mL, lasting floor(9 / 0.22)
    #   = 40 days; the next cycle's refill 30 days later is paid only from ceil(0.8 x 40) = 32;
    # - 2 pens (6 mL) last floor(6 / 0.22) = 27 days: the patient would be 3 days without;
    # - the short fill to the anchor 10 days away is 1 pen (13 days), paid again only from
    #   ceil(0.8 x 13) = 11 > 10.
    # So the pens go out on their own date: today the 2 pens that fit in a cycle (6 mL, billed
    # 27 days), refilled when they run out (TODAY + 27), paid from TODAY + ceil(0.8 x 27) = 22.
    facts = (
        name("Pen Injector", strength=F(100), strength_unit="UNT", strength_per="ML",
             amount=F(3), amount_unit="ML", unbreakable=True),
    )  # fmt: skip
    found = resolved(order(dose(20, "unit"), facts=facts))
    assert found.unit == "mL" and found.daily == F(22, 100) and found.step == 3
    plan = only(order(dose(20, "unit"), facts=facts))
    assert plan.own_date and "own date" in plan.reason and plan.increment == 3
    assert plan.next_fill == TODAY and plan.quantity == 6 and plan.fill_days == 27
    assert plan.cycle_quantity == 6 and FLAG_PACK_CYCLE in dict(plan.flags)
    assert plan.fills[1].day == TODAY + timedelta(days=27)
    assert plan.fills[1].earliest == TODAY + timedelta(days=22)
    # Priming is a setting: with none, 20 units = 0.2 mL a day, a pen lasts 15 days.
    assert resolved(
        order(dose(20, "unit"), facts=facts), prefs=Preferences(priming_units=0)
    ).daily == F(1, 5)


def test_insulin_carton_lasting_five_cycles_is_dispensed_once_in_five_cycles() -> None:
    # 10 units + 2 priming = 12 units/day = 0.12 mL; a carton of 5 x 3 mL pens (15 mL, stated
    # by package-size) lasts 15 / 0.12 = 125 days: 4 whole 30-day cycles, so it goes out on the
    # anchor of the cycle in which it runs out, never every cycle.
    facts = (
        name("Pen Injector", strength=F(100), strength_unit="UNT", strength_per="ML",
             amount=F(3), amount_unit="ML", unbreakable=True),
        ProductFacts(Source.PACKAGE_EXTENSION, amount=F(15), amount_unit="mL", unbreakable=True),
    )  # fmt: skip
    anchor = TODAY + timedelta(days=10)
    last = Fill(
        "f1", TODAY - timedelta(days=120), "a", days_supply=F(125), quantity=F(15), unit="mL"
    )
    plan = only(order(dose(10, "unit"), facts=facts), fills=[last])
    assert plan.quantity == 15 and plan.increment == 15 and plan.cycles_per_fill == 4
    # Runs out TODAY + 5, before the anchor: one carton on that day, lasting to +130 days,
    # which falls in the cycle starting on anchor + 120 (= TODAY + 130).
    assert plan.next_fill == TODAY + timedelta(days=5) and plan.fill_days == 125
    assert plan.carrying[0] == anchor + timedelta(days=120)
    assert plan.package is not None and "carton" in plan.package


def test_actuations_become_whole_inhalers_by_the_canister_count() -> None:
    # albuterol 0.09 MG/ACTUAT, 200 ACTUAT: 2 puffs twice a day = 4 puffs, 1/50 inhaler a day;
    # one inhaler lasts 50 days: dispensed 1 inhaler, 50 days billed, not "120 puffs".
    facts = (
        name("Metered Dose Inhaler", strength=F("0.09"), strength_unit="MG",
             strength_per="ACTUAT", amount=F(200), amount_unit="ACTUAT", unbreakable=True),
    )  # fmt: skip
    found = resolved(order(dose(2, "puff", per_day=2), facts=facts))
    assert found.unit == "inhaler" and found.daily == F(1, 50) and found.step == 1
    plan = only(order(dose(2, "puff", per_day=2), facts=facts))
    assert plan.quantity == 1 and plan.fill_days == 50 and plan.cycles_per_fill == 1
    # A dose in mcg goes through the strength: 180 mcg = 2 actuations of 0.09 mg.
    assert resolved(order(dose(180, "mcg", per_day=2), facts=facts)).daily == F(1, 50)


def test_inhaler_without_an_actuation_count_is_not_guessed() -> None:
    facts = (name("Metered Dose Inhaler"),)
    found = resolve(order(dose(2, "puff", per_day=2), facts=facts), [], Preferences())
    assert isinstance(found, Unresolved) and "actuations" in found.missing
    # With the prescription's own quantity and duration (1 inhaler per 25 days) it is planned.
    rx = order(dose(2, "puff", per_day=2), facts=facts, supply_quantity=1, supply_days=25,
               supply_unit="inhaler")  # fmt: skip
    assert resolved(rx).source is Source.PRESCRIPTION and resolved(rx).daily == F(1, 25)


def test_eye_drops_at_20_drops_per_ml_both_eyes_doubled() -> None:
    # latanoprost, 2.5 mL bottle: 1 drop in both eyes at bedtime = 2 drops = 0.1 mL a day;
    # a bottle lasts 2.5 / 0.1 = 25 days. At 30 drops/mL (a setting) it lasts 37 days.
    facts = (
        ProductFacts(
            Source.MEDICATION, form="Ophthalmic Solution", amount=F("2.5"), amount_unit="mL"
        ),
    )
    both = dose(1, "drop", both_eyes=True)
    found = resolved(order(both, facts=facts))
    assert found.unit == "mL" and found.daily == F(1, 10) and found.step == F(5, 2)
    assert found.step_days == 25
    wide = resolved(order(both, facts=facts), prefs=Preferences(drops_per_ml=30))
    assert wide.step_days == 37  # floor(2.5 / (2/30)) = floor(37.5)
    # A 30-day cycle: ceil(30 x 0.1 / 2.5) = 2 bottles would be 50 days; whole bottles that
    # fit: 1 bottle (25 days), flagged, and no 28/90-day cycle is a whole number of bottles.
    plan = only(order(both, facts=facts))
    assert plan.cycle_quantity == F(5, 2) and any(f[0] == FLAG_PACK_CYCLE for f in plan.flags)


def test_eye_drops_without_a_bottle_size_are_left_out_naming_it() -> None:
    plan = only(order(dose(1, "drop"), facts=(name("Ophthalmic Solution"),)))
    assert not plan.synced and plan.exclusion is Exclusion.NO_DISPENSE_UNIT
    assert "bottle size" in plan.reason


def test_weekly_drug_goes_out_in_whole_weekly_doses() -> None:
    # methotrexate 2.5 MG Oral Tablet, 15 mg weekly = 6 tablets once a week: 6/7 a day.
    # 28 days = 4 doses = 24 tablets (never 25); days billed floor(24 / (6/7)) = 28.
    facts = (name("Oral Tablet", strength=F("2.5"), strength_unit="MG"),)
    o = order(dose(15, "mg", per_day=1, period=7), facts=facts)
    found = resolved(o)
    assert found.daily == F(6, 7) and found.step == 6
    plan = only(o, Preferences(cycle_days=28, anchor_date=TODAY + timedelta(days=10)))
    assert plan.cycle_quantity == 24 and plan.fitting_cycle is None
    # On a 30-day cycle whole weekly doses do not fit: a cycle's refill is ceil(30 / 7) = 5
    # doses = 30 tablets, billing floor(30 / (6/7)) = 35 days (paid again from ceil(0.8 x 35)
    # = 28 <= 30), and a 28-day cycle is named. The short fill to the anchor 10 days away
    # would be ceil(10 / 7) = 2 doses = 12 tablets = 14 days, paid again only from
    # ceil(0.8 x 14) = 12 > 10 (refill-too-soon wins); so it reaches the pickup after it,
    # 40 days away: ceil(40 / 7) = 6 doses = 36 tablets, billed floor(36 / (6/7)) = 42 days,
    # paid again from ceil(0.8 x 42) = 34 <= 40.
    plan30 = only(o)
    assert plan30.cycle_quantity == 30 and plan30.fitting_cycle == 28
    assert plan30.short_fill and plan30.quantity == 36 and plan30.fill_days == 42
    assert plan30.sync_date == TODAY + timedelta(days=40)
    assert plan30.fills[1].earliest == TODAY + timedelta(days=34)


def test_monday_to_friday_for_28_days_is_20() -> None:
    # dayOfWeek mon..fri, once a day: 5 per 7 days; 28 days = 20 tablets exactly.
    o = order(Dosage(1, 5, 7, dose_unit="tablet"))
    plan = only(o, Preferences(cycle_days=28, anchor_date=TODAY + timedelta(days=10)))
    assert plan.cycle_quantity == 20


def test_28_tablet_blister_on_a_30_day_cycle_is_whole_packs_and_names_a_28_day_cycle() -> None:
    # {21 active / 7 inert} Pack: 28 tablets sold whole, 1 a day. Not 30 tablets, not 2 packs
    # every 30 days: 1 pack a cycle, and a 28-day cycle would fit it.
    facts = (
        ProductFacts(
            Source.DRUG_NAME, form="} Pack", amount=F(28), amount_unit="tablet", unbreakable=True
        ),
    )
    plan = only(order(dose(1, "tablet"), facts=facts))
    assert plan.cycle_quantity == 28 and plan.fitting_cycle == 28
    assert plan.quantity % 28 == 0 and plan.fill_days == plan.quantity  # 1 a day
    note = dict(plan.flags)[FLAG_PACK_CYCLE]
    assert "28-day cycle would fit" in note


def test_depot_kit_lasting_three_cycles_is_not_dispensed_every_month() -> None:
    # leuprolide 22.5 MG kit every 12 weeks (84 days): 1 kit per 84 days. On a 28-day cycle
    # that is 3 cycles: dispensed once in 3 cycles.
    facts = (name("Prefilled Syringe", strength=F("22.5"), strength_unit="MG"),)
    o = order(dose(22.5, "mg", period=84), facts=facts)
    anchor = TODAY + timedelta(days=10)
    last = Fill(
        "f1", anchor - timedelta(days=84), "a", days_supply=F(84), quantity=F(1), unit="syringe"
    )
    plan = only(o, Preferences(cycle_days=28, anchor_date=anchor), fills=[last])
    assert plan.unit == "syringe" and plan.quantity == 1 and plan.cycles_per_fill == 3
    assert plan.next_fill == anchor and plan.fill_days == 84
    assert plan.carrying == (
        anchor + timedelta(days=84),
        anchor + timedelta(days=168),
        anchor + timedelta(days=252),
    )


def test_concurrent_am_and_pm_instructions_add_up_and_agree_with_the_prescription() -> None:
    # sequence 1: 2 tablets in the morning, sequence 2: 1 at night, both unbounded: 3 a day,
    # as the prescription's 90 tablets per 30 days says: no flag.
    am = Dosage(2, 1, 1, sequence=1, dose_unit="tablet")
    pm = Dosage(1, 1, 1, sequence=2, dose_unit="tablet")
    o = order(am, pm, supply_quantity=90, supply_days=30, supply_unit="tablet")
    found = resolved(o)
    assert found.daily == 3 and not found.flags


def test_dosage_and_prescription_that_disagree_are_flagged() -> None:
    # 1 tablet twice a day = 2 a day, but 90 tablets per 30 days = 3 a day: 90 tablets last 45
    # days at the dosage. The plan follows the dosage and flags it for the pre-pickup call.
    o = order(
        dose(1, "tablet", per_day=2), supply_quantity=90, supply_days=30, supply_unit="tablet"
    )
    found = resolved(o)
    assert found.daily == 2 and dict(found.flags)[FLAG_DOSE_SUPPLY].startswith("the dosage uses 2")


def test_bounded_sequences_are_sequential_not_added() -> None:
    # a 7-day titration of 1 tablet (bounded), then 2 tablets ongoing: 2 a day, not 3.
    start = Dosage(1, 1, 1, sequence=1, dose_unit="tablet", bounded=True)
    then = Dosage(2, 1, 1, sequence=2, dose_unit="tablet")
    assert resolved(order(start, then)).daily == 2


def test_scheduled_part_is_synced_and_the_prn_part_noted() -> None:
    # furosemide 40 mg every morning + 1 extra tablet as needed for swelling: 1 a day synced.
    scheduled = dose(1, "tablet")
    extra = Dosage(1, 1, 1, as_needed=True, dose_unit="tablet")
    plan = only(order(scheduled, extra))
    assert plan.synced and plan.daily_dose == 1 and FLAG_PRN_PART in dict(plan.flags)


def test_prn_said_only_in_the_text_is_not_synced() -> None:
    plan = only(order(Dosage(1, 4, 1, dose_unit="tablet", prn_text=True)))
    assert not plan.synced and plan.exclusion is Exclusion.AS_NEEDED_TEXT
    assert "text says" in plan.reason


def test_mg_dose_without_a_strength_is_planned_from_the_prescription_or_left_out() -> None:
    # "Atorvastatin" (no strength, no form), 10 mg daily, 30 days: nothing joins mg to a tablet.
    bare = order(dose(10, "mg"), supply_days=30)
    plan = only(bare)
    assert not plan.synced and plan.exclusion is Exclusion.NO_DISPENSE_UNIT
    assert "the dose is in mg and nothing says what is dispensed" in plan.reason
    # With the prescription's 30 tablets per 30 days it is planned from those, in tablets.
    with_qty = order(dose(10, "mg"), supply_quantity=30, supply_days=30, supply_unit="tablet")
    plan = only(with_qty)
    assert plan.synced and plan.unit == "tablet" and plan.cycle_quantity == 30
    assert ("daily", "prescription") in plan.sources


def test_a_dispense_is_never_divided_by_a_daily_dose_in_another_unit() -> None:
    # 1 inhaler handed over 10 days ago without a days supply; dose 2 puffs twice a day with a
    # 200-actuation canister: it lasts 50 days (1 / (4/200)), not 1 / 4 puffs = 0 days.
    facts = (name("Metered Dose Inhaler", amount=F(200), amount_unit="ACTUAT", unbreakable=True),)
    fill = Fill("f", TODAY - timedelta(days=10), "a", quantity=F(1), unit="inhaler")
    plan = only(order(dose(2, "puff", per_day=2), facts=facts), fills=[fill])
    assert plan.run_out == TODAY + timedelta(days=40)
    # A dispense in an unknown unit of another kind (mg on an inhaler) tells nothing.
    odd = Fill("f", TODAY - timedelta(days=10), "a", quantity=F(1), unit="mg")
    plan = only(order(dose(2, "puff", per_day=2), facts=facts), fills=[odd])
    assert plan.run_out == TODAY  # no usable supply: due now


def test_exact_arithmetic_does_not_overshoot() -> None:
    # 6 tablets a week for 28 days: 28 x 6/7 = 24 exactly (a 6-decimal float made ceil give 25).
    o = order(Dosage(6, 1, 7, dose_unit="tablet"))
    plan = only(o, Preferences(cycle_days=28, anchor_date=TODAY + timedelta(days=10)))
    assert plan.cycle_quantity == 24
    # Every 8 hours: 3 a day exactly (1 / (8/24)); days billed floor, never more.
    assert resolved(order(Dosage(1, 1, F(1, 3), dose_unit="tablet"))).daily == 3


def test_a_bare_count_dose_takes_the_unit_the_prescription_dispenses_in() -> None:
    # Synthea-style "1" (no unit), once a day, prescription 90 tablet for 90 days
    # (docs/dispensing-rules.md s.1, "A dose with no unit"): an unqualified count is read in
    # the unit the drug is dispensed in, so 1 tablet a day; a 30-day cycle is 30 x 1 = 30
    # tablets, and the unit's source is the prescription.
    counted = order(dose(1, None), supply_quantity=90, supply_days=90, supply_unit="tablet")
    plan = only(counted)
    assert plan.synced and plan.unit == "tablet" and plan.daily_dose == 1
    assert plan.cycle_quantity == 30
    assert ("unit", "prescription") in plan.sources
    assert FLAG_NO_UNIT not in dict(plan.flags)


def test_a_bare_count_dose_takes_the_unit_of_the_last_dispense() -> None:
    # No prescription quantity; the last dispense was 60 capsules for 30 days. Dose "2" a day:
    # 2 capsules a day (the count read in the unit dispensed), 30 days x 2 = 60 capsules.
    fill = Fill(
        "f", TODAY - timedelta(days=20), "a", quantity=F(60), days_supply=30, unit="capsule"
    )
    plan = only(order(dose(2, None)), fills=[fill])
    assert plan.synced and plan.unit == "capsule" and plan.daily_dose == 2
    assert plan.cycle_quantity == 60
    assert ("unit", "dispenses") in plan.sources


def test_a_bare_count_with_no_unit_anywhere_is_flagged_not_billed_as_a_unit() -> None:
    # "Simvistatin 10 MG", dose "1" daily, nothing naming a form or a unit (synthea): the plan
    # counts doses (1 a day, 30 a cycle) and says so, for the pharmacist to confirm the unit.
    plan = only(order(dose(1, None)))
    assert plan.synced and plan.unit is None and plan.cycle_quantity == 30
    assert ("daily", "dose-count") in plan.sources
    assert "confirm the dosage form and unit" in dict(plan.flags)[FLAG_NO_UNIT]


def test_a_prescription_quantity_without_a_unit_is_flagged_not_billed_as_a_unit() -> None:
    # Synthea-style dispenseRequest.quantity 90 with no unit, expectedSupplyDuration 90 days,
    # dose 10 mg and nothing naming a strength or a form: planned from the prescription
    # (90 / 90 = 1 a day, 30 a cycle), the numbers are the prescription's own, and the plan
    # asks the pharmacist to confirm what they count.
    plan = only(order(dose(10, "mg"), supply_quantity=90, supply_days=90))
    assert plan.synced and plan.unit is None and plan.cycle_quantity == 30
    assert ("daily", "prescription") in plan.sources
    assert "prescription's quantity has no unit" in dict(plan.flags)[FLAG_NO_UNIT]
    # With a dose form in the drug name the same bare 90 counts tablets: no flag.
    named = order(dose(10, "mg"), supply_quantity=90, supply_days=90, facts=(name("Oral Tablet"),))
    plan = only(named)
    assert plan.synced and plan.unit == "tablet" and FLAG_NO_UNIT not in dict(plan.flags)


def test_an_insulin_pen_lasts_at_most_its_in_use_days() -> None:
    # insulin glargine 100 UNT/ML, 3 mL pen (300 units), 5 units at bedtime + 2 units priming
    # = 7 units a day: by units one pen lasts floor(300 / 7) = 42 days, but the Lantus SoloStar
    # label discards an opened pen after 28 days (domain.md s.7: days supply capped by in-use
    # expiry). So a pen is used up at 3 mL / 28 days = 3/28 mL a day, and n pens bill n x 28
    # days: 1 pen 28 days, 2 pens 56 days.
    facts = (
        name("Pen Injector", strength=F(100), strength_unit="UNT", strength_per="ML",
             amount=F(3), amount_unit="ML", unbreakable=True),
    )  # fmt: skip
    glargine = order(dose(5, "unit"), facts=facts, name="insulin glargine 100 UNT/ML Pen Injector")
    found = resolved(glargine)
    assert found.unit == "mL" and found.step == 3 and found.daily == F(3, 28)
    assert "discarded after 28 days" in dict(found.flags)[FLAG_IN_USE]
    plan = only(glargine)
    assert plan.synced or plan.own_date
    assert plan.fill_days == 28 * plan.quantity / 3
    # Insulin degludec (Tresiba FlexTouch label: 56 days in use): the same 7 units a day last
    # 42 days by units, within 56: not capped, 0.07 mL a day.
    degludec = order(dose(5, "unit"), facts=facts, name="insulin degludec 100 UNT/ML Pen Injector")
    assert resolved(degludec).daily == F(7, 100) and not resolved(degludec).flags
    # 20 + 2 units = 0.22 mL a day: a pen lasts floor(3 / 0.22) = 13 days, far within 28.
    assert resolved(order(dose(20, "unit"), facts=facts)).daily == F(22, 100)


def test_weekly_alternating_doses_add_up_over_the_week() -> None:
    # warfarin 5 mg: 2 tablets Mon/Wed/Fri and 1 tablet Tue/Thu/Sat/Sun (two instructions with
    # timing.repeat.dayOfWeek, mapped as 3 and 4 doses per 7 days; concurrent, so they add
    # up, docs/dispensing-rules.md s.2 and s.4): 2 x 3 + 1 x 4 = 10 tablets a week = 10/7 a
    # day. A 30-day cycle: ceil(30 x 10/7) = ceil(42.86) = 43 tablets, billed
    # floor(43 / (10/7)) = floor(30.1) = 30 days. (Any 30 days hold 4 whole weeks, 40 tablets,
    # and 2 more days needing at most 2 + 1 = 3: 43 always covers them.)
    mwf = Dosage(2, 3, 7, dose_unit="tablet")
    rest = Dosage(1, 4, 7, dose_unit="tablet")
    found = resolved(order(mwf, rest))
    assert found.daily == F(10, 7) and found.step == 1
    plan = only(order(mwf, rest), prefs=Preferences())
    assert plan.synced and plan.cycle_quantity == 43
    assert plan.quantity == 43 and plan.fill_days == 30
