"""What is dispensed for an order: its dispense unit, increment, strength and package.

Facts about the product arrive from several places, each less direct than the one before:
a `Medication` resource (form, amount, ingredient strength), the prescription's own quantity
unit, the unit of the last dispenses, the RxNorm clinical drug name, a `package-size`
extension. `resolve_product` takes each fact from the first place that states it and records
where it came from, so the plan can show a pharmacist why it is counting pens, not units.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import Final

from fhir_sync.engine.units import ML, canonical, mass_mg, show


class Source(StrEnum):
    """Where a fact about the dispensed product came from (stable codes, written in plans)."""

    MEDICATION = "medication"
    PRESCRIPTION = "prescription"
    DISPENSES = "dispenses"
    DRUG_NAME = "drug-name"
    PACKAGE_EXTENSION = "package-size"
    DOSE_UNIT = "dose-unit"
    DOSE_COUNT = "dose-count"  # a bare count with no unit anywhere: flagged, never billed as-is
    DEFAULT = "default"


class Form(StrEnum):
    """Dose-form families that dispense alike."""

    SOLID = "solid"
    LIQUID = "liquid"
    INSULIN_PEN = "insulin-pen"
    PEN = "pen"
    INSULIN_VIAL = "insulin-vial"
    INHALER = "inhaler"
    EYE_DROPS = "eye-drops"
    TOPICAL = "topical"
    PATCH = "patch"
    INJECTION = "injection"
    PACK = "pack"


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What one source says about the product; any field may be unknown.

    `form` is the dose-form text (RxNorm's "Oral Tablet", Medication.form's text or code
    display). `strength` is `strength_unit` per `strength_per` (mg per tablet when
    `strength_per` is None, mg or units per mL, mg per actuation). `amount` is what one package
    holds, in `amount_unit` (28 tablets, 3 mL, 200 actuations); `unbreakable` says whether
    that package is sold whole (a pen, an inhaler, a blister) rather than counted out of.
    """

    source: Source
    form: str | None = None
    strength: Fraction | None = None
    strength_unit: str | None = None
    strength_per: str | None = None
    amount: Fraction | None = None
    amount_unit: str | None = None
    unbreakable: bool = False


@dataclass(frozen=True, slots=True)
class Product:
    """The product as the rules see it, each fact with its source.

    `unit` is the dispense unit ("tablet", "mL", "inhaler", "patch", "kit"...). `per_unit` is
    the strength per dispense unit (mg per tablet, units per mL, mg per kit) in `per_unit_of`
    ('mass' or 'unit'). `package` is the unbreakable package in dispense units (3 mL pen,
    28-tablet blister, one inhaler) and `contents`/`contents_unit` what it holds in a
    dose unit the dose may be written in (200 actuations, 80 drops).
    """

    form: Form
    unit: str
    form_source: Source
    per_unit: Fraction | None = None
    per_unit_of: str | None = None
    strength_source: Source | None = None
    package: Fraction | None = None
    package_text: str | None = None
    package_source: Source | None = None
    contents: Fraction | None = None
    contents_unit: str | None = None


# Dose-form words -> form family, most specific first (matched as substrings, lower case).
_FORM_WORDS: Final[tuple[tuple[str, Form], ...]] = (
    ("pen injector", Form.PEN),
    ("auto-injector", Form.INJECTION),
    ("autoinjector", Form.INJECTION),
    ("prefilled syringe", Form.INJECTION),
    ("cartridge", Form.PEN),
    (" pen", Form.PEN),
    ("ophthalmic", Form.EYE_DROPS),
    ("eye drop", Form.EYE_DROPS),
    ("metered dose inhaler", Form.INHALER),
    ("dry powder inhaler", Form.INHALER),
    ("inhalation aerosol", Form.INHALER),
    ("inhaler", Form.INHALER),
    ("nasal spray", Form.INHALER),
    ("mucosal spray", Form.INHALER),
    ("transdermal", Form.PATCH),
    ("patch", Form.PATCH),
    ("cream", Form.TOPICAL),
    ("ointment", Form.TOPICAL),
    ("topical gel", Form.TOPICAL),
    ("topical", Form.TOPICAL),
    ("} pack", Form.PACK),
    ("blister", Form.PACK),
    ("kit", Form.INJECTION),
    ("implant", Form.INJECTION),
    ("injectable suspension", Form.INJECTION),
    ("extended release suspension", Form.INJECTION),
    ("injection", Form.INJECTION),
    ("injectable solution", Form.INJECTION),
    ("vial", Form.INJECTION),
    ("oral solution", Form.LIQUID),
    ("oral suspension", Form.LIQUID),
    ("syrup", Form.LIQUID),
    ("elixir", Form.LIQUID),
    ("solution", Form.LIQUID),
    ("suspension", Form.LIQUID),
    ("tablet", Form.SOLID),
    ("capsule", Form.SOLID),
    ("lozenge", Form.SOLID),
    ("troche", Form.SOLID),
    ("caplet", Form.SOLID),
)

_COUNT_UNIT_FORM: Final[dict[str, Form]] = {
    "tablet": Form.SOLID,
    "capsule": Form.SOLID,
    "inhaler": Form.INHALER,
    "patch": Form.PATCH,
    "pen": Form.PEN,
    "syringe": Form.INJECTION,
    "kit": Form.INJECTION,
    "implant": Form.INJECTION,
    "ring": Form.INJECTION,
    "pack": Form.PACK,
    "vial": Form.INJECTION,
}


def form_family(text: str | None) -> Form | None:
    """The form family named in a dose-form text, None when it names none."""
    if not text:
        return None
    low = f" {text.lower()}"
    for word, family in _FORM_WORDS:
        if word in low:
            return family
    return None


def _counted_noun(text: str | None) -> str:
    low = (text or "").lower()
    if "capsule" in low:
        return "capsule"
    return "tablet"


def _injection_unit(text: str | None) -> str:
    low = (text or "").lower()
    for word, unit in (
        ("syringe", "syringe"),
        ("auto-injector", "syringe"),
        ("autoinjector", "syringe"),
        ("kit", "kit"),
        ("implant", "implant"),
        ("vial", "vial"),
    ):
        if word in low:
            return unit
    return "kit"


@lru_cache(maxsize=4096)
def resolve_product(facts: tuple[ProductFacts, ...]) -> Product | None:
    """The product from `facts` (in order of trust); None when no source names a form.

    A form is taken from the first source that names one; strength and package from the first
    source that states them in a unit that fits that form. Cached: a population has a few
    thousand distinct products.
    """
    form: Form | None = None
    form_text: str | None = None
    form_source: Source | None = None
    for fact in facts:
        family = form_family(fact.form)
        if family is None and fact.amount_unit is not None:
            family = _COUNT_UNIT_FORM.get(canonical(fact.amount_unit) or "")
        if family is not None:
            form, form_text, form_source = family, fact.form, fact.source
            break
    if form is None or form_source is None:
        return None
    strength = _strength(facts, form)
    if form is Form.PEN and strength is not None and strength[1] == "unit":
        form = Form.INSULIN_PEN
    if (
        form is Form.INJECTION
        and strength is not None
        and strength[1] == "unit"
        and (strength[2] == ML)
    ):
        form = Form.INSULIN_VIAL
    unit = _dispense_unit(form, form_text)
    per_unit = per_unit_of = strength_source = None
    if strength is not None:
        value, of, per, strength_source = strength
        if per is None or canonical(per) == unit or (per == ML and unit == ML):
            per_unit, per_unit_of = value, of
        elif per == "actuation" and form is Form.INHALER:
            per_unit, per_unit_of = value, of  # per actuation; contents converts to inhalers
        else:
            strength_source = None
    product = Product(form, unit, form_source, per_unit, per_unit_of, strength_source)
    return _with_package(product, facts)


def _strength(
    facts: tuple[ProductFacts, ...], form: Form
) -> tuple[Fraction, str, str | None, Source] | None:
    """(value, 'mass' or 'unit', per what (None, mL or actuation), source) of the first source
    that gives a strength."""
    for fact in facts:
        if fact.strength is None or fact.strength <= 0:
            continue
        of = canonical(fact.strength_unit)
        if of == "mass":
            factor = mass_mg(fact.strength_unit)
            assert factor is not None
            value = fact.strength * factor
        elif of == "unit":
            value = fact.strength
        else:
            continue
        per = canonical(fact.strength_per) if fact.strength_per else None
        if per not in (None, ML, "actuation") and per not in _COUNT_UNIT_FORM:
            continue
        if per in _COUNT_UNIT_FORM:
            per = None
        return value, of, per, fact.source
    return None


def _dispense_unit(form: Form, text: str | None) -> str:
    if form is Form.SOLID or form is Form.PACK:
        return _counted_noun(text)
    if form in (Form.LIQUID, Form.INSULIN_PEN, Form.PEN, Form.INSULIN_VIAL, Form.EYE_DROPS):
        return ML
    if form is Form.TOPICAL:
        return "g"
    if form is Form.INHALER:
        return "inhaler"
    if form is Form.PATCH:
        return "patch"
    return _injection_unit(text)


def _with_package(product: Product, facts: tuple[ProductFacts, ...]) -> Product:
    """Attach the first package amount that can be expressed in the dispense unit."""
    chosen: tuple[Fraction | None, Fraction | None, str | None, str, Source] | None = None
    for fact in facts:
        if fact.amount is None or fact.amount <= 0:
            continue
        found = _package(product, fact)
        if found is None:
            continue
        if chosen is None:
            chosen = (*found, fact.source)
        elif (
            fact.source is Source.PACKAGE_EXTENSION
            and found[0] is not None
            and chosen[0] is not None
            and found[0] > chosen[0]
            and (found[0] / chosen[0]).denominator == 1
        ):
            # The sender says a carton of them is sold whole (five pens, two inhalers).
            count = found[0] / chosen[0]
            chosen = (
                found[0],
                chosen[1],
                chosen[2],
                f"carton of {count} x {chosen[3]}",
                fact.source,
            )
    if chosen is not None:
        package, contents, contents_unit, text, source = chosen
        return Product(
            product.form,
            product.unit,
            product.form_source,
            product.per_unit,
            product.per_unit_of,
            product.strength_source,
            package,
            text,
            source,
            contents,
            contents_unit,
        )
    return product


def _package(
    product: Product, fact: ProductFacts
) -> tuple[Fraction | None, Fraction | None, str | None, str] | None:
    assert fact.amount is not None
    amount = fact.amount
    unit = canonical(fact.amount_unit)
    form = product.form
    if form is Form.INHALER:
        if unit == "actuation":
            return Fraction(1), amount, "actuation", f"inhaler of {show(amount)} actuations"
        if unit == "inhaler":
            return amount, None, None, f"{show(amount)} inhaler(s)"
        return None
    if product.unit == ML:
        if unit == ML:
            what = {
                Form.INSULIN_PEN: "pen",
                Form.PEN: "pen",
                Form.EYE_DROPS: "bottle",
                Form.INSULIN_VIAL: "vial",
            }.get(form)
            if what is None:
                if not fact.unbreakable and fact.source is not Source.PACKAGE_EXTENSION:
                    return None  # a stock bottle: liquids are measured out of it
                what = "bottle"
            return amount, None, None, f"{what} of {show(amount)} mL"
        if unit == "unit" and product.per_unit_of == "unit" and product.per_unit:
            volume = amount / product.per_unit
            return volume, None, None, f"package of {show(volume)} mL ({show(amount)} units)"
        if unit == "drop" and form is Form.EYE_DROPS:
            return None  # a drop count is no volume; the bottle size must be stated in mL
        if unit == "pen" and form in (Form.INSULIN_PEN, Form.PEN):
            return None  # pens without their volume
        return None
    if unit == product.unit or (unit is None and fact.source is Source.PACKAGE_EXTENSION):
        if (
            product.form is Form.SOLID
            and not fact.unbreakable
            and (fact.source is not Source.PACKAGE_EXTENSION)
        ):
            return None  # a stock bottle of tablets is counted out of, not sold whole
        noun = {"tablet": "tablets", "capsule": "capsules"}.get(product.unit, product.unit)
        kind = "pack" if product.form in (Form.SOLID, Form.PACK) else "box"
        return amount, None, None, f"{kind} of {show(amount)} {noun}"
    if unit == "mass" and product.unit == "g":
        factor = mass_mg(fact.amount_unit)
        assert factor is not None
        grams = amount * factor / 1000
        return grams, None, None, f"tube of {show(grams)} g"
    return None
