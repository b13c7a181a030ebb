"""Unit words as prescriptions and products spell them, reduced to what the rules compare.

A dose says "10 mg", "2 puffs", "1 drop", "34 units"; a product says "20 MG Oral Tablet",
"100 UNT/ML Pen Injector", "200 ACTUAT"; a dispense says "30 {tbl}" or "1 inhaler". The rules
only need to know which of these are amounts of the drug (mass, insulin units), which are
administrations of a device (actuations, drops), which are volumes and which are things a
pharmacy counts out (tablets, inhalers, pens). Plain tables, lower-cased keys, UCUM and the
common free-text spellings side by side.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

# Mass units in milligrams.
MASS_MG: Final[dict[str, Fraction]] = {
    "mg": Fraction(1),
    "milligram": Fraction(1),
    "milligrams": Fraction(1),
    "mcg": Fraction(1, 1000),
    "ug": Fraction(1, 1000),
    "µg": Fraction(1, 1000),
    "microgram": Fraction(1, 1000),
    "micrograms": Fraction(1, 1000),
    "g": Fraction(1000),
    "gram": Fraction(1000),
    "grams": Fraction(1000),
}

INSULIN_UNIT: Final = "unit"
ACTUATION: Final = "actuation"
DROP: Final = "drop"
ML: Final = "mL"

# Unit word -> canonical name. Counted things keep their own name (tablet, inhaler, ...).
_ALIASES: Final[dict[str, str]] = {
    # amounts of drug that are not a mass
    "u": INSULIN_UNIT,
    "unit": INSULIN_UNIT,
    "units": INSULIN_UNIT,
    "unt": INSULIN_UNIT,
    "iu": INSULIN_UNIT,
    "[iu]": INSULIN_UNIT,
    "[iu]/ml": INSULIN_UNIT,
    "international unit": INSULIN_UNIT,
    # administrations of a device
    "puff": ACTUATION,
    "puffs": ACTUATION,
    "actuation": ACTUATION,
    "actuations": ACTUATION,
    "actuat": ACTUATION,
    "{actuat}": ACTUATION,
    "{actuation}": ACTUATION,
    "{puff}": ACTUATION,
    "spray": ACTUATION,
    "sprays": ACTUATION,
    "inhalation": ACTUATION,
    "inhalations": ACTUATION,
    "drop": DROP,
    "drops": DROP,
    "[drp]": DROP,
    "gtt": DROP,
    "gtts": DROP,
    # volume
    "ml": ML,
    "milliliter": ML,
    "milliliters": ML,
    "millilitre": ML,
    "cm3": ML,
    "cc": ML,
    # counted things
    "tablet": "tablet",
    "tablets": "tablet",
    "tab": "tablet",
    "tabs": "tablet",
    "{tbl}": "tablet",
    "{tablet}": "tablet",
    "{tab}": "tablet",
    "capsule": "capsule",
    "capsules": "capsule",
    "cap": "capsule",
    "caps": "capsule",
    "{cap}": "capsule",
    "{capsule}": "capsule",
    "patch": "patch",
    "patches": "patch",
    "{patch}": "patch",
    "inhaler": "inhaler",
    "inhalers": "inhaler",
    "{inhaler}": "inhaler",
    "canister": "inhaler",
    "canisters": "inhaler",
    "pen": "pen",
    "pens": "pen",
    "{pen}": "pen",
    "syringe": "syringe",
    "syringes": "syringe",
    "{syringe}": "syringe",
    "kit": "kit",
    "kits": "kit",
    "{kit}": "kit",
    "pack": "pack",
    "packs": "pack",
    "{pack}": "pack",
    "blister": "pack",
    "bottle": "bottle",
    "bottles": "bottle",
    "{bottle}": "bottle",
    "tube": "tube",
    "tubes": "tube",
    "{tube}": "tube",
    "vial": "vial",
    "vials": "vial",
    "{vial}": "vial",
    "implant": "implant",
    "{implant}": "implant",
    "ring": "ring",
    "{ring}": "ring",
    "application": "application",
    "applications": "application",
    "{application}": "application",
}

# Dispense units and their UCUM codes (annotations for counted things).
DISPENSE_CODES: Final[dict[str, str]] = {
    "tablet": "{tbl}",
    "capsule": "{cap}",
    "mL": "mL",
    "g": "g",
    "inhaler": "{inhaler}",
    "pen": "{pen}",
    "patch": "{patch}",
    "syringe": "{syringe}",
    "kit": "{kit}",
    "pack": "{pack}",
    "bottle": "{bottle}",
    "tube": "{tube}",
    "vial": "{vial}",
    "implant": "{implant}",
    "ring": "{ring}",
}

# Units a quantity must never be dispensed or billed in.
DOSE_ONLY: Final = frozenset({"mass", INSULIN_UNIT, ACTUATION, DROP, "application"})


def canonical(unit: str | None) -> str | None:
    """The canonical name of a unit word: 'mass' for any mass, None when unknown or absent."""
    if unit is None:
        return None
    key = unit.strip().lower()
    if key in MASS_MG:
        return "mass"
    found = _ALIASES.get(key)
    if found is not None:
        return found
    if key.endswith("s") and key[:-1] in _ALIASES:
        return _ALIASES[key[:-1]]
    return None


def mass_mg(unit: str | None) -> Fraction | None:
    """Milligrams in one of `unit`, None when `unit` is not a mass."""
    if unit is None:
        return None
    return MASS_MG.get(unit.strip().lower())


def is_dispensable(unit: str | None) -> bool:
    """Whether a quantity in `unit` is something a pharmacy hands over (not mg, puffs...)."""
    name = canonical(unit)
    return name is not None and name not in DOSE_ONLY


def show(value: Fraction) -> str:
    """A quantity for a note: whole numbers plain, others to 4 significant digits."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4g}"
