"""What a medication name says about the therapy: its ingredients, strength and dose form.

RxNorm clinical drug names follow "[ingredient] [strength] [dose form]" ("atorvastatin 20 MG
Oral Tablet"; combinations join components with " / "; branded names add "[Brand]"; a few
forms lead with a duration, "24 HR ... Extended Release Oral Tablet"). Two orders for the same
ingredients in the same form are one therapy, whatever their strengths: "atorvastatin 20 MG Oral
Tablet" and "atorvastatin 40 MG Oral Tablet" are two strengths of one statin, so a newer one is a
dose change, not a second drug. The parser is deliberately forgiving ("Lasix 40mg",
"Atorvastatin (Lipitor)") and answers None only when no ingredient word is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

# Salt and ester words that name the same active moiety for matching (RxNorm keeps them in
# the precise ingredient; a prescriber changing "metformin hydrochloride 500" to "metformin
# 1000" changes the dose, not the drug).
_SALT_WORDS: Final = (
    "hydrochloride hcl sodium potassium calcium magnesium besylate maleate mesylate tartrate "
    "succinate fumarate citrate phosphate sulfate acetate bitartrate bromide hydrobromide "
    "propionate dihydrate monohydrate trihydrate hyclate disodium"
)
_SALTS: Final = frozenset(_SALT_WORDS.split())
_STRENGTH: Final = re.compile(
    r"(?<![a-z])(\d+(?:[.,]\d+)?)\s*((?:mg|mcg|unt|meq|g)/(?:ml|actuat|hr|g|\d+\s*ml)|"
    r"mg|mcg|g|unt|units?|meq|ml|%|iu)(?![a-z])"
)
_DURATION_PREFIX: Final = re.compile(r"^(\d+\s*(?:hr|day|actuat|ml))\s+")
_BRACKETS: Final = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_WORD: Final = re.compile(r"[a-z][a-z0-9\-]*|\d+")
# " / " between components, or "/" between two ingredient words ("Fluticasone/Salmeterol");
# never the "/" of a unit ("MG/ML", "MG/ACTUAT").
_COMPONENTS: Final = re.compile(r"\s/\s|(?<=[a-z]{2})(?<!mg)(?<!mcg)(?<!unt)(?<!meq)/(?=[a-z])")
# Words that begin a dose form when a name states no strength ("Trinessa 28 Day Pack").
_FORM_TEXT: Final = (
    "oral tablet capsule chewable injectable injection solution suspension pack day topical "
    "cream ointment inhaler inhalation transdermal patch prefilled pen auto-injector spray "
    "ophthalmic nasal extended delayed release vaginal ring drug implant"
)
_FORM_WORDS: Final = frozenset(_FORM_TEXT.split())


@dataclass(frozen=True, slots=True)
class Product:
    """The parts of a medication name: `ingredient` ("amlodipine", "acetaminophen+codeine"),
    `strength` ("5 mg", "" when the name has none) and `form` ("oral tablet", "" when none)."""

    ingredient: str
    strength: str
    form: str

    @property
    def therapy(self) -> str:
        """Ingredient and form: what stays the same when only the strength changes."""
        return f"{self.ingredient}|{self.form}"

    @property
    def key(self) -> str:
        return f"{self.ingredient}|{self.strength}|{self.form}"


@lru_cache(maxsize=8192)
def product_of(name: str | None) -> Product | None:
    """The product a name describes, or None when it names no ingredient. Cached: a bulk run
    sees a few thousand distinct names."""
    if not name:
        return None
    text = " ".join(_BRACKETS.sub(" ", name.lower()).replace("_", " ").split())
    prefix = _DURATION_PREFIX.match(text)
    lead = ""
    if prefix is not None:
        lead, text = prefix.group(1), text[prefix.end() :]
    ingredients: list[str] = []
    strengths: list[str] = []
    form = ""
    parts = [p.strip() for p in _COMPONENTS.split(text) if p.strip()]
    for index, part in enumerate(parts):
        found = _STRENGTH.search(part)
        head, tail = (part[: found.start()], part[found.end() :]) if found else (part, "")
        words = _WORD.findall(head)
        cut = next(
            (i for i, w in enumerate(words) if i and (w.isdigit() or w in _FORM_WORDS)), None
        )
        if cut is not None:
            tail = " ".join(words[cut:]) + " " + tail
            words = words[:cut]
        words = [w for w in words if w not in _SALTS and not w.isdigit()]
        if words:
            ingredients.append(" ".join(words))
        if found:
            strengths.append(f"{found.group(1).replace(',', '.')} {found.group(2)}")
        if index == len(parts) - 1:
            form = " ".join(_WORD.findall(tail))
    if not ingredients:
        return None
    if lead and form:
        form = f"{lead} {form}"
    return Product("+".join(sorted(ingredients)), " / ".join(strengths), form)
