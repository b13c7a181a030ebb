"""Who is calling and what they may do: the seam between the routes and authorization.

Every FHIR route declares the scope it needs with `Depends(require_scope("CarePlan.rs"))` and
receives a `Caller`. The app installs an `Authorizer` on `app.state.authorizer`
(api/security) that turns the bearer token into the caller, or admits the anonymous pharmacy
while tokens are not enforced; without one, `auth_required` true refuses every request (401)
rather than serving data to anyone. `Caller.payer` is what payer isolation filters on (searches
pass it to the store as `ResourceQuery.payer`). The caller is also left on `request.state` for
the audit trail, which records who asked even when the answer was 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from fhir_sync.api.errors import FhirError


@dataclass(frozen=True, slots=True)
class Caller:
    """`scopes` as SMART v2 strings (`system/CarePlan.rs`); `payer` set for payer clients."""

    client_id: str | None
    role: str
    scopes: frozenset[str]
    payer: str | None = None
    generation: int | None = None  # of the client's registration the token was issued to

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

    def enforcing(self) -> bool:
        """Whether tokens are required right now (the SMART configuration says so)."""
        ...


def tokens_enforced(request: Request) -> bool:
    """Whether API calls need an access token right now. `settings.auth_required` alone does
    not say: None (the default, `auto`) enforces tokens once a client has been registered."""
    authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
    if authorizer is not None:
        return authorizer.enforcing()
    return bool(request.app.state.settings.auth_required)


def require_scope(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, after checking it holds `scope` (403 otherwise). Async
    although it only computes: FastAPI runs a sync dependency in the thread pool, and that hop
    costs more than the check."""

    async def dependency(request: Request) -> Caller:
        authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
        if authorizer is not None:
            caller = authorizer.authenticate(request)
        elif request.app.state.settings.auth_required:
            raise FhirError(
                401,
                "authorization is required and no token service is configured",
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            caller = ANONYMOUS_PHARMACY
        request.state.caller = caller
        if not caller.allows(scope):
            raise FhirError(
                403,
                f"the access token lacks the scope system/{scope}",
                headers={
                    "WWW-Authenticate": f'Bearer realm="fhir-sync", error="insufficient_scope", '
                    f'scope="system/{scope}"'
                },
            )
        return caller

    dependency.__name__ = f"require_{scope.replace('.', '_').replace('*', 'all')}"
    return dependency
