"""Which SMART scopes each client role may hold, and what a token request is granted.

One table (`ROLE_SCOPES`) answers both the token endpoint (granted = requested ∩ allowed) and
the SMART configuration (`scopes_supported`), so what is advertised is what can be had. Routes
state the scope they need (`require_scope`); a role gets a scope here only for routes that
exist, so nothing is granted that means nothing.

Requests may use SMART v2 letters (`system/CarePlan.rs`, `system/*.cruds`) or v1 words
(`system/*.read`); grants are always v2 and name concrete types, so a token says exactly what
its holder may do. `patient/`, `user/`, query-restricted scopes and types the server does not
serve are dropped rather than refused: the client gets what it may have, and only a request
that would get nothing at all is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from mappings.kinds import PHARMACY_ONLY_TYPES, READ_SCOPES

ROLES: Final = ("ehr", "prescriber", "payer", "pharmacy")
LETTERS: Final = "cruds"  # SMART v2 order: create, read, update, delete, search

_READ_PLANS: Final = READ_SCOPES  # every stored type, as mappings/kinds.py declares it
ROLE_SCOPES: Final[Mapping[str, Mapping[str, str]]] = {
    "ehr": _READ_PLANS,
    "prescriber": _READ_PLANS,
    # Payers read only their own members' resources: the filter comes from the token's payer.
    "payer": {**_READ_PLANS, "Group": "rs"},
    # Patient.u: the enrollment operations ($enroll, $unenroll, $hold, $resume, $sync, $plan).
    # The monthly cycle's calls, call records and check-ins, which stay in the pharmacy (the
    # kinds mappings/kinds.py gives no scope: CommunicationRequest, Communication,
    # QuestionnaireResponse). Task.u: a preparation's state (PUT with If-Match).
    "pharmacy": {
        **_READ_PLANS,
        **dict.fromkeys(PHARMACY_ONLY_TYPES, "rs"),
        "Patient": "rus",
        "Task": "rus",
        "Group": "rs",
        "AuditEvent": "rs",
    },
}

_SCOPE: Final = re.compile(r"system/(\*|[A-Z][A-Za-z]{0,63})\.(\*|read|write|[cruds]{1,5})")
_V1_WORDS: Final = {"read": "rs", "write": "cud", "*": LETTERS}


def granted_scopes(requested: str, role: str) -> tuple[str, ...]:
    """The v2 scopes of `requested` (space-separated) that `role` may hold, one per type."""
    allowed = ROLE_SCOPES[role]
    wanted: dict[str, set[str]] = {}
    for scope in requested.split():
        parsed = _SCOPE.fullmatch(scope)
        if parsed is None:
            continue
        kind, letters = parsed.groups()
        letters = _V1_WORDS.get(letters, letters)
        for allowed_kind, allowed_letters in allowed.items():
            if kind in ("*", allowed_kind):
                common = set(letters) & set(allowed_letters)
                wanted.setdefault(allowed_kind, set()).update(common)
    return tuple(
        f"system/{kind}.{_ordered(letters)}" for kind, letters in sorted(wanted.items()) if letters
    )


def supported_scopes() -> list[str]:
    """Every scope some role can be granted, for the SMART configuration."""
    every: dict[str, set[str]] = {}
    for allowed in ROLE_SCOPES.values():
        for kind, letters in allowed.items():
            every.setdefault(kind, set()).update(letters)
    return [f"system/{kind}.{_ordered(letters)}" for kind, letters in sorted(every.items())]


def _ordered(letters: set[str]) -> str:
    return "".join(letter for letter in LETTERS if letter in letters)
