"""The dose-form group a payer treats apart for refill-too-soon, read from the drug's name.

Some Part D plans pay an eye-drop refill at 70% of the days supply used instead of 80%, since
drops are lost in use (domain.md section 2). An RxNorm name says the form ("... Ophthalmic
Solution", "... Ophthalmic Suspension"); text orders say "eye drops".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from fhir_sync.engine.types import OPHTHALMIC

_OPHTHALMIC: Final = re.compile(r"\bophthalmic\b|\beye\s*drops?\b|\bopht\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def form_group(names: str) -> str | None:
    """ "ophthalmic" for eye drops, else None (the plan's ordinary threshold applies)."""
    return OPHTHALMIC if _OPHTHALMIC.search(names) else None
