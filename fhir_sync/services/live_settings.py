"""How the server works with live FHIR endpoints: credentials per endpoint, the write-back
workers, change notifications. From the environment, like `ServerSettings`, so that
`fhir-sync serve` and `fhir-sync worker` processes of one deployment read the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from adapters.http import EndpointSettings
from fhir_sync.settings import LiveSection
from fhir_sync.settings.layers import read_toml
from fhir_sync.sync.config import ConfigError, endpoint_from_table

ENDPOINTS_ENV: Final = LiveSection.variable("endpoints")
OUTBOX_WORKERS_ENV: Final = LiveSection.variable("outbox_workers")
_DEFAULT = LiveSection.defaults()


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """`endpoints`: per base URL, the settings (auth, limits, quirks) of a configured endpoint;
    an enrollment's URL that is not listed is reached with defaults and no credentials.

    `outbox_workers`: concurrent write-back loops per process (0: this process sends nothing,
    separate `fhir-sync worker` processes do). `outbox_lease`: seconds a worker owns a claimed
    write; a send is abandoned before its lease ends, so a slow EHR never sees the same write
    from two workers at once, and a crashed worker's writes are taken over after it.
    `outbox_max_attempts`: attempts before a write is given up (state `dead`).
    `notification_token`: the bearer token the EHR's Subscription sends (channel.header).
    The variables are declared and checked in the settings tree (`LiveSection`); the other
    fields are tuning for tests.
    """

    endpoints: Mapping[str, EndpointSettings] = field(default_factory=dict)
    outbox_workers: int = _DEFAULT["outbox_workers"]
    outbox_batch: int = 4
    outbox_lease: float = _DEFAULT["outbox_lease"]
    outbox_max_attempts: int = _DEFAULT["outbox_max_attempts"]
    retry_base: float = 5.0
    retry_max: float = 900.0
    poll_interval: float = _DEFAULT["poll_interval"]
    hold_check_interval: float = 60.0
    notification_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        LiveSection.checked(
            outbox_workers=self.outbox_workers,
            outbox_lease=self.outbox_lease,
            outbox_max_attempts=self.outbox_max_attempts,
            poll_interval=self.poll_interval,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LiveSettings:
        return cls.of(LiveSection.from_env(environ))

    @classmethod
    def of(cls, section: LiveSection) -> LiveSettings:
        return cls(
            endpoints=read_endpoints_file(section.endpoints) if section.endpoints else {},
            outbox_workers=section.outbox_workers,
            outbox_lease=section.outbox_lease,
            outbox_max_attempts=section.outbox_max_attempts,
            poll_interval=section.poll_interval,
            notification_token=section.notification_token,
        )

    def endpoint(self, url: str) -> EndpointSettings:
        """The settings to reach `url` with (a FHIR base URL as enrollments store it)."""
        key = url.rstrip("/")
        return self.endpoints.get(key) or EndpointSettings(base_url=key)


def read_endpoints_file(path: Path) -> dict[str, EndpointSettings]:
    """`[endpoint.<name>]` tables with the keys of `fhir-sync sync`'s `[ehr]` section, read and
    checked by the same declarations (`settings.sync.EndpointSection`).

    Credentials go only to the URL they are listed with: an enrollment naming another URL
    gets no token, whatever the file holds.
    """
    data = read_toml(path, f"{ENDPOINTS_ENV} file")
    unknown = sorted(set(data) - {"endpoint"})
    tables = data.get("endpoint", {})
    if unknown or not isinstance(tables, dict):
        raise ConfigError(f"{path}: use [endpoint.<name>] tables only")
    found: dict[str, EndpointSettings] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: endpoint.{name} must be a table")
        settings = endpoint_from_table(name, table, str(path))
        if settings.base_url in found:
            raise ConfigError(f"{path}: [endpoint.{name}] repeats the url of another endpoint")
        found[settings.base_url] = settings
    return found
