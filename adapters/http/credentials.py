"""How an endpoint wants us to authenticate: plain, immutable configuration.

Secrets are excluded from ``repr`` so settings can be logged or shown in errors without leaking
a token or a private key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

SigningAlgorithm: TypeAlias = Literal["RS384", "ES384"]


@dataclass(frozen=True, slots=True)
class NoAuth:
    """Open endpoint (test servers, a trusted network segment)."""


@dataclass(frozen=True, slots=True)
class StaticBearer:
    """A long-lived token issued out of band; a 401 cannot be fixed by us, so it surfaces."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SmartBackendServices:
    """SMART Backend Services: client_credentials with a private_key_jwt client assertion.

    ``token_url`` is discovered from ``[base]/.well-known/smart-configuration`` when None.
    ``assertion_lifetime`` stays below the spec's 5 minutes to absorb clock skew between us and
    the authorisation server. The token is reused until ``refresh_margin`` seconds before it
    expires, so a request never goes out with a token about to lapse in flight.
    """

    client_id: str
    private_key_pem: bytes = field(repr=False)
    key_id: str
    scopes: tuple[str, ...] = (
        "system/MedicationRequest.rs",
        "system/MedicationDispense.rs",
        "system/Medication.rs",
        "system/Patient.rs",
    )
    algorithm: SigningAlgorithm = "RS384"
    token_url: str | None = None
    jku: str | None = None
    assertion_lifetime: float = 240.0
    refresh_margin: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.assertion_lifetime <= 300:
            raise ValueError("assertion_lifetime must be within (0, 300] seconds")
        if self.algorithm not in ("RS384", "ES384"):
            raise ValueError("algorithm must be RS384 or ES384")


AuthConfig: TypeAlias = NoAuth | StaticBearer | SmartBackendServices
