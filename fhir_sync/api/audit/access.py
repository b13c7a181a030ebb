"""One API call as the audit trail sees it: who, what, when, how it ended, whose data.

The facts come from the finished request, not from each route: the matched route's path
template says what kind of access it was (`/fhir/<Type>` a search, `/fhir/<Type>/{id}` a read,
`/fhir/<Type>/{id}/$op` an operation), the caller is the one `require_scope` established, and
the status is what was sent. Only searches have to say what they returned (`note_disclosed`),
since no path names those resources.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from fastapi import Request

from fhir_sync.api.auth import Caller
from fhir_sync.api.search_request import ID_PATTERN
from mappings.operations import operation_at

MAX_QUERY: Final = 4000  # characters of a search's parameters kept
_DISCLOSED: Final = "audit_disclosed"
_METHOD_ACTIONS: Final = {"GET": "R", "HEAD": "R", "POST": "E", "PUT": "U", "DELETE": "D"}


@dataclass(frozen=True, slots=True)
class Access:
    """`interaction`: read, search-type, an operation (`$enroll`) or the route's name.
    `patient_id`: the patient the path names. `disclosed`: (type, ids) the answer held."""

    recorded: datetime
    client_id: str | None
    role: str
    action: str
    interaction: str
    resource_type: str | None
    resource_id: str | None
    patient_id: str | None
    status: int
    query: str | None = None
    disclosed: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def outcome(self) -> str:
        """AuditEvent.outcome: 0 success, 4 minor failure (refused, not found), 8 serious."""
        if self.status < 400:
            return "0"
        return "4" if self.status < 500 else "8"


def note_disclosed(request: Request, resource_type: str, ids: Iterable[str]) -> None:
    """Record that the answer carries these resources (searches, includes)."""
    found: list[tuple[str, tuple[str, ...]]] | None = getattr(request.state, _DISCLOSED, None)
    if found is None:
        found = []
        setattr(request.state, _DISCLOSED, found)
    found.append((resource_type, tuple(ids)))


def access_of(scope: MutableMapping[str, Any], status: int) -> Access | None:
    """The access the finished request made, or None when it is not audited: no route
    matched, or no caller was established (the route needs none, or the token was refused:
    nobody to name, and recording those would let anyone fill the audit table)."""
    state = scope.get("state") or {}
    caller: Caller | None = state.get("caller")
    route = scope.get("route")
    path = getattr(route, "path", None)
    if caller is None or not isinstance(path, str) or not path.startswith("/fhir/"):
        return None
    parts = path.removeprefix("/fhir/").split("/")
    params: dict[str, Any] = scope.get("path_params") or {}
    resource_type = parts[0] if parts[0][:1].isupper() and "{" not in parts[0] else None
    resource_id = _path_id(parts[1], params) if len(parts) > 1 else None
    disclosed = tuple(state.get(_DISCLOSED, ()))
    query = None
    if resource_type and len(parts) == 1:
        interaction, action = "search-type", "E"
        query = _query(scope.get("query_string", b""))
    elif resource_type and len(parts) == 2 and parts[1].startswith("{"):
        # A PUT is an update (a preparation Task's state); it answers the Task, as a read does.
        interaction, action = ("update", "U") if scope.get("method") == "PUT" else ("read", "R")
        if status < 400 and resource_id is not None:
            disclosed += ((resource_type, (resource_id,)),)
    elif resource_type and len(parts) == 3 and parts[2].startswith("$"):
        interaction, action = parts[2], _operation_action(path)
    else:
        resource_type = resource_id = None
        interaction = str(getattr(route, "name", "") or path)[:32]
        action = _METHOD_ACTIONS.get(scope.get("method", ""), "E")
    return Access(
        recorded=datetime.now(UTC),
        client_id=caller.client_id,
        role=caller.role,
        action=action,
        interaction=interaction,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=resource_id if resource_type == "Patient" else None,
        status=status,
        query=query,
        disclosed=disclosed,
    )


def _operation_action(path: str) -> str:
    """Every operation route is registered (api/operation_route.py), so the registry
    knows its action; a path it does not know is not an operation route."""
    operation = operation_at(path)
    if operation is None:
        raise LookupError(f"{path} is routed as an operation but not registered as one")
    return operation.audit_action


def _path_id(part: str, params: dict[str, Any]) -> str | None:
    """The id the path carries, when it is one (an id that is not valid is not recorded: it
    may be anything a client typed, of any length)."""
    if not (part.startswith("{") and part.endswith("}")):
        return None
    value = params.get(part[1:-1])
    return value if isinstance(value, str) and ID_PATTERN.fullmatch(value) else None


def _query(raw: bytes) -> str:
    """The search's parameters re-encoded (so any byte a client sent is stored as ASCII)."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return urlencode(pairs)[:MAX_QUERY]
