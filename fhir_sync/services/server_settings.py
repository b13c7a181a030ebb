"""Server configuration from the environment, so that one container image fits every site.

The variables are declared and checked in the settings tree (fhir_sync/settings: the store,
server and edge sections); `ServerSettings` is the value the API and the workers are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final

from fhir_sync.services.edge_settings import EdgeSettings
from fhir_sync.settings import (
    DEFAULT_MAX_BODY_BYTES,
    EdgeSection,
    FhirSyncSettings,
    ServerSection,
    StoreSection,
)
from mappings.pickup_hours import PickupHours

AUTH_ENV: Final = ServerSection.variable("auth")
__all__ = ["AUTH_ENV", "DEFAULT_MAX_BODY_BYTES", "ServerSettings", "today_for"]


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
    migrate_on_start: bool = ServerSection.defaults()["migrate_on_start"]
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
        store = StoreSection.from_env(environ)
        server = ServerSection.from_env(environ)
        return cls.of(store, server, EdgeSection.from_env(environ))

    @classmethod
    def from_tree(cls, tree: FhirSyncSettings) -> ServerSettings:
        return cls.of(tree.store, tree.server, tree.edge)

    @classmethod
    def of(cls, store: StoreSection, server: ServerSection, edge: EdgeSection) -> ServerSettings:
        return cls(
            database_url=store.url(),
            public_url=server.public_url,
            auth_required=server.auth,
            migrate_on_start=server.migrate_on_start,
            today=server.today,
            production=server.production,
            api_docs=server.production is False if server.api_docs is None else server.api_docs,
            max_body_bytes=server.max_body_bytes,
            edge=EdgeSettings.of(edge),
            pickup=server.pickup,
        )


def today_for(settings: ServerSettings) -> date:
    """The server's day: the fixed one of tests and demos, else today's UTC date."""
    return settings.today or datetime.now(UTC).date()
