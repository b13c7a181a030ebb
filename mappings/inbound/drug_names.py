"""Product facts read from an RxNorm clinical drug name (the SCD/SBD naming convention).

RxNorm names clinical drugs "[quantity] [ingredient strength] [/ ingredient strength...]
[dose form] [brand]": "atorvastatin 20 MG Oral Tablet", "3 ML insulin glargine 100 UNT/ML Pen
Injector", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "{21 (...) / 7 (...) }
Pack" (NLM, RxNorm technical documentation, term types SCD/SBD). The name is often all a
sender gives about the product, so it is read here: one regular-expression pass per distinct
name, cached, because a bulk run sees a few thousand names among a million orders.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Final

from fhir_sync.engine.products import ProductFacts, Source, form_family

_LEADING: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+(ML|ACTUAT)\s+", re.IGNORECASE)
_STRENGTH: Final = re.compile(
    r"(\d+(?:\.\d+)?)\s+(MG|MCG|UNT|G|MEQ)(?:/(ML|ACTUAT|HR|MG))?(?=\s|$)", re.IGNORECASE
)
_PACK_COUNT: Final = re.compile(r"(?:^|[{/])\s*(\d+)\s*\(")
_BRAND: Final = re.compile(r"\s*\[[^\]]*\]\s*$")


@lru_cache(maxsize=8192)
def name_facts(name: str) -> ProductFacts | None:
    """What a clinical drug name says about the product, None when it says nothing."""
    text = _BRAND.sub("", name).strip()
    if not text:
        return None
    if text.endswith("} Pack") and text.startswith("{"):
        counts = [int(n) for n in _PACK_COUNT.findall(text)]
        if not counts:
            return None
        return ProductFacts(
            Source.DRUG_NAME,
            form="} Pack",
            amount=Fraction(sum(counts)),
            amount_unit="tablet",
            unbreakable=True,
        )
    amount = amount_unit = None
    leading = _LEADING.match(text)
    if leading is not None:
        amount = Fraction(leading.group(1))
        amount_unit = leading.group(2)
        text = text[leading.end() :]
    strengths = list(_STRENGTH.finditer(text))
    form = None
    strength = strength_unit = strength_per = None
    if strengths:
        last = strengths[-1]
        rest = text[last.end() :].strip()
        form = rest or None
        if len(strengths) == 1:
            strength = Fraction(last.group(1))
            strength_unit = last.group(2)
            strength_per = last.group(3)
            if strength_per is not None and strength_per.upper() in ("HR", "MG"):
                strength = strength_unit = strength_per = None
    elif form_family(text) is not None:
        form = text
    if form is not None and form_family(form) is None:
        form = None
    if form is None and strength is None and amount is None:
        return None
    return ProductFacts(
        Source.DRUG_NAME,
        form=form,
        strength=strength,
        strength_unit=strength_unit,
        strength_per=strength_per,
        amount=amount,
        amount_unit=amount_unit,
        unbreakable=amount is not None,
    )
