"""Server configuration from the environment, so that one container image fits every site."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final

from fhir_sync.services.edge_settings import EdgeSettings
from fhir_sync.store.database import database_url
from mappings.pickup_hours import PickupHours, pickup_hours

PUBLIC_URL_ENV: Final = "FHIR_SYNC_PUBLIC_URL"
AUTH_ENV: Final = "FHIR_SYNC_AUTH"
MIGRATE_ENV: Final = "FHIR_SYNC_MIGRATE_ON_START"
TODAY_ENV: Final = "FHIR_SYNC_TODAY"
ENVIRONMENT_ENV: Final = "FHIR_SYNC_ENV"
API_DOCS_ENV: Final = "FHIR_SYNC_API_DOCS"
MAX_BODY_ENV: Final = "FHIR_SYNC_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
TIME_ZONE_ENV: Final = "FHIR_SYNC_TIME_ZONE"
PICKUP_HOURS_ENV: Final = "FHIR_SYNC_PICKUP_HOURS"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`public_url`: the base URL clients reach the server at (behind a proxy it differs from
    the request's), used in `fullUrl`s and paging links; None: taken from each request.
    `auth_required`: whether API calls need an access token: True always, False never (every
    caller is the anonymous pharmacy), None (`auto`, the default) as soon as any client has been
    registered with `fhir-sync clients add` (see api/security/authorizer.py).
    `today`: plan as of this date instead of the UTC date (demos and tests).
    `production`: False only when `FHIR_SYNC_ENV=development`; a production server keeps
    conveniences for developers off unless asked for them one by one.
    `api_docs`: serve `/docs`, `/redoc` and `/openapi.json` (without a token); by default only
    in development.
    `max_body_bytes`: the largest request body accepted; larger ones are a 413.
    `edge`: trusted proxies, accepted token URLs, token rate limits, JWKS fetching.
    `pickup`: the pharmacy's time zone and pickup hours for enrollments that name none."""

    database_url: str
    public_url: str | None = None
    auth_required: bool | None = None
    migrate_on_start: bool = True
    today: date | None = None
    default_count: int = 50
    max_count: int = 1000
    production: bool = True
    api_docs: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    pickup: PickupHours = field(default_factory=PickupHours)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = dict(os.environ if environ is None else environ)
        today = env.get(TODAY_ENV, "").strip()
        production = _environment(env.get(ENVIRONMENT_ENV)) == "production"
        return cls(
            database_url=database_url(env),
            public_url=env.get(PUBLIC_URL_ENV, "").strip().rstrip("/") or None,
            auth_required=_auth_mode(env.get(AUTH_ENV)),
            migrate_on_start=_flag(env.get(MIGRATE_ENV), default=True),
            today=date.fromisoformat(today) if today else None,
            production=production,
            api_docs=_auto_flag(API_DOCS_ENV, env.get(API_DOCS_ENV), auto=not production),
            max_body_bytes=_positive(MAX_BODY_ENV, env.get(MAX_BODY_ENV), DEFAULT_MAX_BODY_BYTES),
            edge=EdgeSettings.from_env(env),
            pickup=_pickup(env),
        )


def _environment(value: str | None) -> str:
    text = (value or "").strip().lower() or "production"
    if text not in ("production", "development"):
        raise ValueError(f"{ENVIRONMENT_ENV} must be production or development")
    return text


def _auto_flag(name: str, value: str | None, *, auto: bool) -> bool:
    flag = _auth_mode(value, name)
    return auto if flag is None else flag


def _positive(name: str, value: str | None, default: int) -> int:
    text = (value or "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a positive whole number")
    return int(text)


def _auth_mode(value: str | None, name: str = AUTH_ENV) -> bool | None:
    """`auto` (or unset) -> None; otherwise a flag. An unrecognized value fails the start
    rather than silently leaving the API open."""
    text = (value or "").strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be auto, 1 or 0")


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


def today_for(settings: ServerSettings) -> date:
    """The server's day: the fixed one of tests and demos, else today's UTC date."""
    return settings.today or datetime.now(UTC).date()
