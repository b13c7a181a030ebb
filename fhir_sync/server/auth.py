"""Who is calling and what they may do: the seam the SMART authorization work plugs into.

Every FHIR route declares the scope it needs with `Depends(require_scope("CarePlan.rs"))` and
receives a `Caller`. Until the token endpoint exists, authorization is off (setting
`auth_required` false) and every caller is the anonymous pharmacy with every scope; switching it
on without an `Authorizer` installed refuses every request (401) rather than serving data to
anyone. The security work installs an `Authorizer` on `app.state.authorizer` that checks the
bearer token; routes do not change. `Caller.payer` is what payer isolation filters on
(searches pass it to the store as `ResourceQuery.payer`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from fhir_sync.server.errors import FhirError


@dataclass(frozen=True, slots=True)
class Caller:
    """`scopes` as SMART v2 strings (`system/CarePlan.rs`); `payer` set for payer clients."""

    client_id: str | None
    role: str
    scopes: frozenset[str]
    payer: str | None = None

    def allows(self, scope: str) -> bool:
        """`scope` is `<Type>.<letters>`; granted by `system/<Type or *>.<letters...>`."""
        kind, _, wanted = scope.partition(".")
        for granted in self.scopes:
            context, _, rest = granted.partition("/")
            granted_kind, _, letters = rest.partition(".")
            if context != "system" or granted_kind not in (kind, "*"):
                continue
            if all(letter in letters for letter in wanted):
                return True
        return False


ANONYMOUS_PHARMACY = Caller(client_id=None, role="pharmacy", scopes=frozenset({"system/*.cruds"}))


class Authorizer(Protocol):
    def authenticate(self, request: Request) -> Caller:
        """The caller behind the request's bearer token; raises FhirError 401 when missing,
        expired or forged."""
        ...


def require_scope(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, after checking it holds `scope` (403 otherwise). Async
    although it only computes: FastAPI runs a sync dependency in the thread pool, and that hop
    costs more than the check."""

    async def dependency(request: Request) -> Caller:
        settings = request.app.state.settings
        if not settings.auth_required:
            return ANONYMOUS_PHARMACY
        authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
        if authorizer is None:
            raise FhirError(
                401,
                "authorization is required and no token service is configured",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = authorizer.authenticate(request)
        if not caller.allows(scope):
            raise FhirError(403, f"the access token lacks the scope system/{scope}")
        return caller

    dependency.__name__ = f"require_{scope.replace('.', '_').replace('*', 'all')}"
    return dependency
