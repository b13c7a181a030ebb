"""How much of the dispensed product a patient uses a day, in the unit a pharmacy hands over.

The dose is written in whatever the prescriber thinks in (mg, puffs, drops, insulin units);
the pharmacy counts tablets, mL, inhalers, pens. This module joins the two through the
product's strength, concentration or package contents, exactly (`Fraction`), and refuses to
guess: when they cannot be joined the order is planned from the prescription's own quantity
and duration, or from the last dispenses, and otherwise left out with what is missing.
A quantity is never divided by a daily dose in another unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Final

from fhir_sync.engine.products import Form, Product, Source, resolve_product
from fhir_sync.engine.types import Dosage, Fill, Order, Preferences, exact
from fhir_sync.engine.units import ML, canonical, is_dispensable, mass_mg, show

# U-100: the concentration of insulin unless the product states another (domain.md s.7).
DEFAULT_INSULIN_UNITS_PER_ML: Final = Fraction(100)
# Prefilled pens hold 3 mL (domain.md s.7); used only when a pen's volume is not stated.
DEFAULT_PEN_ML: Final = Fraction(3)

FLAG_DOSE_SUPPLY: Final = "dose-supply-mismatch"
FLAG_PRN_PART: Final = "prn-part-not-synced"
FLAG_PACK_CYCLE: Final = "pack-cycle-mismatch"
FLAG_NO_UNIT: Final = "dispense-unit-unknown"
FLAG_IN_USE: Final = "pen-in-use-expiry"

# Days an insulin pen may be used once opened, from the product labels (domain.md s.7): 28 for
# insulin glargine U-100 (Lantus SoloStar) and most insulin pens; 42 for insulin detemir
# (Levemir FlexPen), 56 for insulin degludec (Tresiba FlexTouch) and glargine U-300 (Toujeo).
DEFAULT_IN_USE_DAYS: Final = 28
_IN_USE_DAYS: Final = (("degludec", 56), ("detemir", 42))
_U300_IN_USE_DAYS: Final = 56


@dataclass(frozen=True, slots=True)
class Dispensing:
    """An order's daily use and dispensable increment, both in `unit`.

    `unit` is None only when nothing names a unit and the dose is a bare count (the plan then
    writes plain counts). `source` says where the daily amount came from: the dose joined to
    the product (the product's form source), the prescription's quantity/duration, or the
    dispenses. `whole_package` is True when `step` is a package sold whole.
    """

    daily: Fraction
    unit: str | None
    step: Fraction
    source: Source
    product: Product | None = None
    whole_package: bool = False
    package_text: str | None = None
    flags: tuple[tuple[str, str], ...] = ()

    @property
    def step_days(self) -> int:
        """Whole days one increment lasts."""
        return math.floor(self.step / self.daily)


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Why no daily amount in a dispense unit exists, naming what is missing."""

    missing: str


def resolve(order: Order, fills: Sequence[Fill], prefs: Preferences) -> Dispensing | Unresolved:
    """The order's Dispensing, or what is missing to compute one honestly."""
    product = resolve_product(order.facts)
    scheduled = [d for d in order.dosages if not (d.as_needed or d.prn_text)]
    flags: list[tuple[str, str]] = []
    if scheduled and len(scheduled) < len(order.dosages):
        flags.append(
            (
                FLAG_PRN_PART,
                "an additional as-needed instruction is not synced: ask the patient how much "
                "of it they use",
            )
        )
    missing: str | None = None
    if scheduled:
        if product is None:
            product = _product_from_dose_unit(scheduled)
        if product is None and all(d.dose_unit is None for d in _groups(scheduled)):
            product = _product_for_a_count(order, fills)
        joined = _from_dosages(tuple(scheduled), product, prefs)
        if isinstance(joined, str):
            missing = joined
        else:
            daily, per_dose = joined
            if daily > 0:
                step, whole, text = _increment(product, per_dose, order, prefs)
                if isinstance(step, str):
                    missing = step
                else:
                    flags.extend(
                        _cross_check(
                            order.supply_quantity,
                            order.supply_days,
                            order.supply_unit,
                            product,
                            daily,
                            step,
                        )
                    )
                    source = product.form_source if product is not None else Source.DOSE_COUNT
                    if product is not None and product.strength_source is not None:
                        source = _least_direct(source, product.strength_source)
                    if product is None:
                        flags.append((FLAG_NO_UNIT, _NO_UNIT_NOTE))
                    unit = product.unit if product is not None else None
                    if product is not None and product.form is Form.INSULIN_PEN:
                        daily = _in_use_daily(daily, product, order, flags)
                    return Dispensing(daily, unit, step, source, product, whole, text, tuple(flags))
    elif order.dosages:
        missing = "every instruction is as needed"
    else:
        missing = "the order has no dosage instructions"
    from_rx = _from_prescription(order, product)
    if from_rx is not None:
        daily, unit = from_rx
        step, whole, text = _fallback_increment(product, unit, order)
        if unit is None:
            flags.append((FLAG_NO_UNIT, _NO_UNIT_QUANTITY_NOTE.format(what="prescription's")))
        return Dispensing(
            daily, unit, step, Source.PRESCRIPTION, product, whole, text, tuple(flags)
        )
    from_fills = _from_fills(fills, product)
    if from_fills is not None:
        daily, unit = from_fills
        step, whole, text = _fallback_increment(product, unit, order)
        if unit is None:
            flags.append((FLAG_NO_UNIT, _NO_UNIT_QUANTITY_NOTE.format(what="last dispense's")))
        return Dispensing(daily, unit, step, Source.DISPENSES, product, whole, text, tuple(flags))
    return Unresolved(missing or "no daily dose")


_TRUST: Final = (
    Source.MEDICATION,
    Source.PRESCRIPTION,
    Source.DISPENSES,
    Source.DRUG_NAME,
    Source.PACKAGE_EXTENSION,
    Source.DOSE_UNIT,
    Source.DOSE_COUNT,
    Source.DEFAULT,
)

_NO_UNIT_NOTE: Final = (
    "the dose is a bare number with no unit and nothing names what is dispensed (no Medication, "
    "no dose form in the drug name, no unit on the prescription's or a past dispense's "
    "quantity): the quantities count doses; confirm the dosage form and unit before filling"
)
_NO_UNIT_QUANTITY_NOTE: Final = (
    "the {what} quantity has no unit and nothing names what is dispensed (no Medication, no "
    "dose form in the drug name): the quantities are that quantity's bare numbers; confirm the "
    "dosage form and unit before filling"
)


def _in_use_daily(
    daily: Fraction, product: Product, order: Order, flags: list[tuple[str, str]]
) -> Fraction:
    """The mL a day an insulin pen is used up, counting that an opened pen is thrown away
    after its in-use days even with units left (days supply = units / daily units, capped by
    in-use expiry: domain.md s.7). A pen of 3 mL at 5 + 2 units a day would last
    floor(300 / 7) = 42 days but is discarded after 28: it is used up at 3 / 28 mL a day."""
    pen = min(_pen_ml(product, order), DEFAULT_PEN_ML)
    days = _in_use_days(product, order)
    if pen / daily <= days:
        return daily
    flags.append(
        (
            FLAG_IN_USE,
            f"an opened pen is discarded after {days} days (product label) with insulin left: "
            f"each {show(pen)} mL pen counts {days} days",
        )
    )
    return pen / days


def _pen_ml(product: Product, order: Order) -> Fraction:
    """The volume of one pen: the product's own amount in mL (not a carton's), else 3 mL."""
    for fact in order.facts:
        if (
            fact.source is not Source.PACKAGE_EXTENSION
            and fact.amount
            and canonical(fact.amount_unit) == ML
        ):
            return fact.amount
    return DEFAULT_PEN_ML


def _in_use_days(product: Product, order: Order) -> int:
    name = (order.name or "").lower()
    for ingredient, days in _IN_USE_DAYS:
        if ingredient in name:
            return days
    if product.per_unit_of == "unit" and product.per_unit == 300:
        return _U300_IN_USE_DAYS
    return DEFAULT_IN_USE_DAYS


def _least_direct(a: Source, b: Source) -> Source:
    return a if _TRUST.index(a) >= _TRUST.index(b) else b


def _product_from_dose_unit(dosages: Sequence[Dosage]) -> Product | None:
    """A product named only by a dispensable dose unit ("1 tablet", "5 mL", "1 patch")."""
    for dosage in dosages:
        found = _product_of_unit(dosage.dose_unit, Source.DOSE_UNIT)
        if found is not None:
            return found
    return None


def _product_for_a_count(order: Order, fills: Sequence[Fill]) -> Product | None:
    """The dispense unit of a dose written as a bare count ("1", no unit): the unit of the
    prescription's own quantity ("90 tablet": the dose counts tablets), else of the last
    dispense that states one. A pharmacist reads an unqualified count in the unit the drug is
    dispensed in; without such a unit nothing says what the count counts."""
    found = _product_of_unit(order.supply_unit, Source.PRESCRIPTION)
    if found is not None:
        return found
    for fill in reversed(fills):
        found = _product_of_unit(fill.unit, Source.DISPENSES)
        if found is not None:
            return found
    return None


def _product_of_unit(written: str | None, source: Source) -> Product | None:
    unit = canonical(written)
    if unit is None or not is_dispensable(written):
        return None
    form = {
        "tablet": Form.SOLID,
        "capsule": Form.SOLID,
        ML: Form.LIQUID,
        "inhaler": Form.INHALER,
        "patch": Form.PATCH,
        "pen": Form.PEN,
    }.get(unit, Form.INJECTION)
    return Product(form, unit, source)


def _groups(dosages: Sequence[Dosage]) -> list[Dosage]:
    """The instructions that are taken now, together.

    Instructions of one `sequence` are concurrent. Several sequences: unbounded ones run
    concurrently (AM and PM written as 1 and 2) and add up; bounded ones (a titration, a
    loading dose) come one after another, so the ongoing, unbounded ones are what is taken;
    when every sequence is bounded, the last one is.
    """
    sequences = sorted({d.sequence for d in dosages})
    if len(sequences) == 1:
        return list(dosages)
    unbounded = [d for d in dosages if not d.bounded]
    if unbounded:
        return unbounded
    last = sequences[-1]
    return [d for d in dosages if d.sequence == last]


@lru_cache(maxsize=1 << 14)
def _from_dosages(
    dosages: tuple[Dosage, ...], product: Product | None, prefs: Preferences
) -> tuple[Fraction, Fraction | None] | str:
    """(daily use, amount per administration when there is one instruction) or what is
    missing. Cached: a population shares a few thousand instructions and products, and the
    exact arithmetic costs more than looking them up."""
    daily = Fraction(0)
    per_dose: Fraction | None = None
    taken = _groups(dosages)
    for dosage in taken:
        if dosage.dose is None:
            return "the dosage gives no amount per dose"
        if dosage.period_days is None or dosage.period_days <= 0:
            return "the dosage gives no frequency"
        amount = dosage.dose * (2 if dosage.both_eyes else 1)
        converted = convert(amount, dosage.dose_unit, product, prefs)
        if isinstance(converted, str):
            return converted
        if product is not None and product.form is Form.INSULIN_PEN:
            converted += Fraction(prefs.priming_units) / _insulin_per_ml(product)
        daily += converted * dosage.frequency / dosage.period_days
        # Doses further apart than a day (weekly, every N days) are dispensed whole.
        spaced = dosage.period_days / dosage.frequency > 1
        per_dose = converted if len(taken) == 1 and spaced else None
    return daily, per_dose


def _insulin_per_ml(product: Product) -> Fraction:
    if product.per_unit_of == "unit" and product.per_unit:
        return product.per_unit
    return DEFAULT_INSULIN_UNITS_PER_ML


def convert(
    amount: Fraction, unit: str | None, product: Product | None, prefs: Preferences
) -> Fraction | str:
    """`amount` of `unit` in the product's dispense unit, or what is missing to say."""
    name = canonical(unit)
    if product is None:
        if unit is None:
            return amount
        return (
            f"the dose is in {unit} and nothing says what is dispensed (no Medication, no dose "
            "form in the drug name, no unit on the prescription's quantity)"
        )
    target = product.unit
    if unit is None or name == target:
        return amount
    if name in ("tablet", "capsule") and target in ("tablet", "capsule"):
        return amount
    if name == "mass":
        factor = mass_mg(unit)
        assert factor is not None
        if target == "g":
            return amount * factor / 1000
        if product.per_unit_of == "mass" and product.per_unit:
            count = amount * factor / product.per_unit
            if product.form is Form.INHALER:
                return _per_inhaler(count, product)
            return count
        what = {
            Form.SOLID: "a strength per tablet or capsule",
            Form.PACK: "a strength per tablet",
            Form.LIQUID: "a concentration (mg/mL)",
            Form.PEN: "a concentration (mg/mL)",
            Form.EYE_DROPS: "a concentration (mg/mL)",
            Form.INHALER: "a strength per actuation",
        }.get(product.form, f"a strength per {target}")
        return f"the dose is in {unit} and the product states no {what}"
    if name == "unit":
        if product.per_unit_of == "unit" and product.per_unit:
            return amount / product.per_unit
        if product.form in (Form.INSULIN_PEN, Form.INSULIN_VIAL, Form.PEN) and target == ML:
            return amount / DEFAULT_INSULIN_UNITS_PER_ML
        return f"the dose is in {unit} and the product states no units per {target}"
    if name == "actuation":
        if product.form is Form.INHALER:
            return _per_inhaler(amount, product)
        return f"the dose is in {unit} and the product is not an inhaler"
    if name == "drop":
        if product.form is Form.EYE_DROPS or target == ML:
            return amount / Fraction(prefs.drops_per_ml)
        return f"the dose is in {unit} and the product is not a solution"
    if name == "pen" and product.form in (Form.INSULIN_PEN, Form.PEN):
        return amount * (product.package or DEFAULT_PEN_ML)
    if name == "application":
        return "the dose is an application (apply a thin layer), not an amount"
    return f"the dose unit {unit} cannot be counted in {target}"


def _per_inhaler(actuations: Fraction, product: Product) -> Fraction | str:
    if product.contents is None or product.contents_unit != "actuation":
        return "the inhaler's number of actuations is not stated"
    return actuations / product.contents


def _increment(
    product: Product | None, per_dose: Fraction | None, order: Order, prefs: Preferences
) -> tuple[Fraction | str, bool, str | None]:
    """(the smallest dispensable step, whether it is a whole package, its description)."""
    if product is not None:
        if product.package is not None:
            return product.package, True, product.package_text
        if product.form is Form.INSULIN_PEN or product.form is Form.PEN:
            return DEFAULT_PEN_ML, True, f"pen of {DEFAULT_PEN_ML} mL (the usual pen volume)"
        if product.form in (Form.EYE_DROPS, Form.INSULIN_VIAL):
            bottle = _prescribed_package(order, product, prefs)
            if bottle is None:
                what = "bottle" if product.form is Form.EYE_DROPS else "vial"
                return f"the {what} size is not stated", False, None
            return (
                bottle,
                True,
                f"{'bottle' if product.form is Form.EYE_DROPS else 'vial'} of {float(bottle):g} mL",
            )
    elif order.package_size:
        return order.package_size, True, f"package of {show(order.package_size)}"
    if per_dose is not None and per_dose > 0 and per_dose.denominator == 1 and per_dose > 1:
        # Weekly and every-N-days drugs go out in whole doses (methotrexate 6 tablets a week).
        return per_dose, False, None
    return Fraction(1), False, None


def _prescribed_package(order: Order, product: Product, prefs: Preferences) -> Fraction | None:
    """The prescription's own quantity, when it is a plausible single bottle or vial."""
    if order.supply_quantity is None or order.supply_quantity <= 0:
        return None
    value = convert(order.supply_quantity, order.supply_unit, product, prefs)
    if isinstance(value, str) or value <= 0 or canonical(order.supply_unit) != ML:
        return None
    return value


def _fallback_increment(
    product: Product | None, unit: str | None, order: Order
) -> tuple[Fraction, bool, str | None]:
    if product is not None:
        if product.package is not None and unit == product.unit:
            return product.package, True, product.package_text
    elif order.package_size:
        return order.package_size, True, f"package of {show(order.package_size)}"
    return Fraction(1), False, None


def _from_prescription(order: Order, product: Product | None) -> tuple[Fraction, str | None] | None:
    """dispenseRequest quantity / expectedSupplyDuration, in a dispense unit."""
    quantity, days = order.supply_quantity, order.supply_days
    if not quantity or not days or quantity <= 0 or days <= 0:
        return None
    found = _dispense_amount(quantity, order.supply_unit, product)
    if found is None:
        return None
    amount, unit = found
    return amount / days, unit


def _from_fills(
    fills: Sequence[Fill], product: Product | None
) -> tuple[Fraction, str | None] | None:
    """The last dispense's quantity / days supply, in a dispense unit."""
    for fill in reversed(fills):
        if fill.quantity and fill.days_supply and fill.quantity > 0 and fill.days_supply > 0:
            found = _dispense_amount(exact(fill.quantity), fill.unit, product)
            if found is not None:
                amount, unit = found
                return amount / exact(fill.days_supply), unit
    return None


def _dispense_amount(
    quantity: Fraction, unit: str | None, product: Product | None
) -> tuple[Fraction, str | None] | None:
    """A stated quantity in the product's dispense unit (a count of packages becomes their
    content), or as stated when it is itself in a dispense unit; None when it is in a dose
    unit that cannot be converted here."""
    name = canonical(unit)
    if product is not None:
        if unit is None or name == product.unit:
            return quantity, product.unit
        if name in ("tablet", "capsule") and product.unit in ("tablet", "capsule"):
            return quantity, product.unit
        if product.package is not None and name in ("pen", "bottle", "vial", "pack", "kit"):
            return quantity * product.package, product.unit
        if name == "mass" and product.unit == "g":
            factor = mass_mg(unit)
            assert factor is not None
            return quantity * factor / 1000, "g"
        if name == "unit" and product.unit == ML and product.per_unit_of == "unit":
            assert product.per_unit is not None
            return quantity / product.per_unit, ML
        if name == "actuation" and product.form is Form.INHALER and product.contents:
            return quantity / product.contents, product.unit
        return None
    if unit is None:
        return quantity, None
    if is_dispensable(unit):
        return quantity, name
    return None


def fill_amount(fill: Fill, dispensing: Dispensing) -> Fraction | None:
    """A dispense's quantity in the order's dispense unit, None when it cannot be told."""
    if fill.quantity is None or fill.quantity <= 0:
        return None
    found = _dispense_amount(exact(fill.quantity), fill.unit, dispensing.product)
    if found is None:
        return None
    amount, unit = found
    if dispensing.unit is not None and unit is not None and unit != dispensing.unit:
        return None
    return amount


@lru_cache(maxsize=1 << 14)  # as _from_dosages
def _cross_check(
    quantity: Fraction | None,
    days: Fraction | None,
    unit: str | None,
    product: Product | None,
    daily: Fraction,
    step: Fraction,
) -> tuple[tuple[str, str], ...]:
    """Flag a prescription whose quantity (in `unit`) and supply duration disagree with its
    dosage."""
    if not quantity or not days or quantity <= 0 or days <= 0:
        return ()
    found = _dispense_amount(quantity, unit, product)
    if found is None:
        return ()
    amount, _ = found
    lasts = math.floor(amount / daily)
    tolerance = max(1, math.ceil(step / daily))
    if abs(lasts - days) <= tolerance:
        return ()
    return (
        (
            FLAG_DOSE_SUPPLY,
            f"the dosage uses {show(daily)} a day, so the prescribed {show(amount)} last "
            f"{lasts} days, not the {show(days)} days the prescription says: confirm the dose "
            "on the pre-pickup call",
        ),
    )
