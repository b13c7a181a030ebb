"""Server configuration from the environment, so that one container image fits every site."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from fhir_sync.store.database import database_url
from mappings.pickup_hours import PickupHours, pickup_hours

PUBLIC_URL_ENV: Final = "FHIR_SYNC_PUBLIC_URL"
AUTH_ENV: Final = "FHIR_SYNC_AUTH"
MIGRATE_ENV: Final = "FHIR_SYNC_MIGRATE_ON_START"
TODAY_ENV: Final = "FHIR_SYNC_TODAY"
TIME_ZONE_ENV: Final = "FHIR_SYNC_TIME_ZONE"
PICKUP_HOURS_ENV: Final = "FHIR_SYNC_PICKUP_HOURS"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`public_url`: the base URL clients reach the server at (behind a proxy it differs from
    the request's), used in `fullUrl`s and paging links; None: taken from each request.
    `auth_required`: whether API calls need an access token: True always, False never (every
    caller is the anonymous pharmacy), None (`auto`, the default) as soon as any client has been
    registered with `fhir-sync clients add` (see server/security/authorizer.py).
    `today`: plan as of this date instead of the UTC date (demos and tests).
    `pickup`: the pharmacy's time zone and pickup hours for enrollments that name none."""

    database_url: str
    public_url: str | None = None
    auth_required: bool | None = None
    migrate_on_start: bool = True
    today: date | None = None
    default_count: int = 50
    max_count: int = 1000
    pickup: PickupHours = field(default_factory=PickupHours)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = dict(os.environ if environ is None else environ)
        today = env.get(TODAY_ENV, "").strip()
        return cls(
            database_url=database_url(env),
            public_url=env.get(PUBLIC_URL_ENV, "").strip().rstrip("/") or None,
            auth_required=_auth_mode(env.get(AUTH_ENV)),
            migrate_on_start=_flag(env.get(MIGRATE_ENV), default=True),
            today=date.fromisoformat(today) if today else None,
            pickup=_pickup(env),
        )


def _auth_mode(value: str | None) -> bool | None:
    """`auto` (or unset) -> None; otherwise a flag. An unrecognized value fails the start
    rather than silently leaving the API open."""
    text = (value or "").strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{AUTH_ENV} must be auto, 1 or 0")


def _pickup(env: Mapping[str, str]) -> PickupHours:
    zone = env.get(TIME_ZONE_ENV, "").strip() or None
    hours = env.get(PICKUP_HOURS_ENV, "").strip() or None
    try:
        return pickup_hours(hours, zone)
    except ValueError as exc:
        raise ValueError(f"{PICKUP_HOURS_ENV if hours else TIME_ZONE_ENV}: {exc}") from None


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
