"""The sections of the settings tree, one field per FHIR_SYNC_* variable (field name = the
variable without its prefix). Each field's validator is the only place its value is parsed and
checked; the README's table of variables is made from the `help` texts (tests/settings)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode

from fhir_sync.settings.base import Section, setting
from fhir_sync.settings.layers import KeyedError
from fhir_sync.settings.values import pickup
from fhir_sync.store.location import DATABASE_FILE
from mappings.pickup_hours import PickupHours

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
TRUE_WORDS: Final = ("1", "true", "yes", "on")
FALSE_WORDS: Final = ("0", "false", "no", "off")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _items(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item.strip() for item in _text(value).split(",") if item.strip()]


def _auto_flag(value: Any, name: str) -> bool | None:
    """`auto` (or unset) -> None; otherwise a flag. An unrecognized value fails the start
    rather than silently leaving the API open."""
    if value is None or isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("", "auto"):
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be auto, 1 or 0")


def _number(value: Any, name: str, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    if isinstance(value, int | float):
        return kind(value)
    try:
        return kind(_text(value))
    except ValueError:
        raise ValueError(f"{name} must be a number") from None


@dataclass(frozen=True, slots=True)
class Bound:
    """A numeric variable: its kind and the range it must be in (`message` says which)."""

    kind: type[int] | type[float]
    ok: Callable[[float], bool] = lambda _: True
    message: str = ""


class _Numbers(Section):
    """A section whose numeric variables are checked by one table (`numbers`)."""

    numbers: ClassVar[dict[str, Bound]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        bound = cls.numbers.get(str(info.field_name))
        if bound is None:
            return value
        name = cls.variable(str(info.field_name))
        number = _number(value, name, bound.kind)
        if not bound.ok(number):
            raise ValueError(f"{name} {bound.message}")
        return number


_ZERO_OR_MORE: Final = "must be 0 or more"


class StoreSection(Section):
    """Which database every command (`serve`, `worker`, `db`, `clients`, `outbox`) uses."""

    section: ClassVar[str] = "store"
    database_url: str = setting(
        "",
        "`postgresql://user@host:5432/db` (psycopg 3), or `sqlite:///path/file.sqlite3`",
        shown="the SQLite file `fhir-sync.sqlite3` in the data directory",
    )
    data_dir: str = setting(
        "",
        "the data directory of the embedded database (when `FHIR_SYNC_DATABASE_URL` is not set)",
        shown="`$XDG_DATA_HOME/fhir-sync`, else `~/.local/share/fhir-sync`",
    )
    xdg_data_home: str = setting("", "the XDG base directory for data", alias="XDG_DATA_HOME")
    home: str = setting("", "the user's home directory", alias="HOME")

    @field_validator("database_url", "data_dir", "xdg_data_home", "home", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> str:
        return _text(value)

    def data_directory(self) -> Path:
        """`FHIR_SYNC_DATA_DIR`, else `$XDG_DATA_HOME/fhir-sync`, else
        `~/.local/share/fhir-sync`: the same for every command, whatever folder it runs in."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        base = (
            Path(self.xdg_data_home)
            if self.xdg_data_home
            else Path(self.home or Path.home()) / ".local" / "share"
        )
        return (base / "fhir-sync").resolve()

    def url(self) -> str:
        """The configured URL, else the SQLite file in the data directory. `postgresql://` and
        `postgres://` URLs get the psycopg 3 driver, the only one installed."""
        if not self.database_url:
            return f"sqlite:///{self.data_directory() / DATABASE_FILE}"
        for prefix in ("postgresql://", "postgres://"):
            if self.database_url.startswith(prefix):
                return "postgresql+psycopg://" + self.database_url[len(prefix) :]
        return self.database_url


class ServerSection(Section):
    """What the FHIR server shows, accepts and plans as of."""

    section: ClassVar[str] = "server"
    public_url: str | None = setting(
        None,
        "the root URL clients use (behind a proxy), for `fullUrl`s, paging links and the token "
        "URL client assertions must name; required when `FHIR_SYNC_ENV=production` (the server "
        "refuses to start without it)",
        shown="the listening address, never the request's `Host` (`serve` says so at start)",
    )
    auth: bool | None = setting(
        None,
        "when API calls need an access token: `auto` once a client is registered, `1` always, "
        "`0` never (see [Security](#security-clients-access-tokens-scopes-and-the-audit-trail))",
        shown="`auto`",
    )
    migrate_on_start: bool = setting(
        True,
        "run the migrations when the server starts (an advisory lock serializes concurrent "
        "starts on PostgreSQL)",
        shown="`1`",
    )
    today: date | None = setting(
        None, "plan as of this date instead of today (demos, tests)", shown="the UTC date"
    )
    env: str | None = setting(
        None,
        "`production` or `development`; see [Limits on requests](#limits-on-requests)",
        shown="`production`",
    )
    api_docs: bool | None = setting(
        None,
        "serve `/docs`, `/redoc` and `/openapi.json` (without a token): `auto` in development "
        "only, `1` always, `0` never",
        shown="`auto`",
    )
    max_body_bytes: int = setting(
        DEFAULT_MAX_BODY_BYTES,
        "the largest request body accepted (a 413 past it)",
        shown="`4194304` (4 MiB)",
    )
    time_zone: str | None = setting(
        None,
        "the pharmacy's time zone for enrollments whose `$enroll` named none (also `fhir-sync "
        "sync`'s `[sync] time_zone`)",
        shown="`UTC`",
    )
    pickup_hours: str | None = setting(
        None,
        "the pharmacy's pickup hours for enrollments whose `$enroll` named none (also `fhir-sync "
        "sync`'s `[sync] pickup_hours`)",
        shown="`09:00-17:00`",
    )
    _pickup: PickupHours = PrivateAttr(default_factory=PickupHours)

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: Any) -> str | None:
        return None if value is None else _text(value).rstrip("/") or None

    @field_validator("auth", "api_docs", mode="before")
    @classmethod
    def _auto(cls, value: Any, info: ValidationInfo) -> bool | None:
        return _auto_flag(value, cls.variable(str(info.field_name)))

    @field_validator("migrate_on_start", mode="before")
    @classmethod
    def _migrate(cls, value: Any) -> bool:
        return value if isinstance(value, bool) else _text(value).lower() in TRUE_WORDS

    @field_validator("today", mode="before")
    @classmethod
    def _today(cls, value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(_text(value))

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> str | None:
        """Unset is kept apart from `production`: both hide developer conveniences, but only a
        declared production server refuses to start without its public URL (cli/serve.py)."""
        if value is None:
            return None
        text = _text(value).lower() or "production"
        if text not in ("production", "development"):
            raise ValueError("FHIR_SYNC_ENV must be production or development")
        return text

    @field_validator("max_body_bytes", mode="before")
    @classmethod
    def _max_body(cls, value: Any) -> int:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isascii() or not text.isdigit() or int(text) < 1:
            raise ValueError("FHIR_SYNC_MAX_BODY_BYTES must be a positive whole number")
        return int(text)

    @field_validator("time_zone", "pickup_hours", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return None if value is None else _text(value) or None

    @model_validator(mode="after")
    def _pickup_hours(self) -> ServerSection:
        try:
            self._pickup = pickup(self.pickup_hours, self.time_zone)
        except KeyedError as exc:
            raise ValueError(f"{self.variable(exc.key)}: {exc}") from None
        return self

    @property
    def production(self) -> bool:
        return self.env != "development"

    @property
    def declared_production(self) -> bool:
        return self.env == "production"

    @property
    def pickup(self) -> PickupHours:
        return self._pickup


class EdgeSection(_Numbers):
    """Whom the server believes about where it is and who is asking."""

    section: ClassVar[str] = "edge"
    numbers: ClassVar[dict[str, Bound]] = {
        **dict.fromkeys(
            ("token_rate_per_client", "token_rate_per_address"),
            Bound(int, lambda n: n >= 0, _ZERO_OR_MORE),
        ),
        **dict.fromkeys(
            ("jwks_timeout", "jwks_failure_cache"), Bound(float, lambda n: n >= 0, _ZERO_OR_MORE)
        ),
    }
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = setting(
        (),
        "addresses or networks (`10.0.0.5,10.1.0.0/16`) whose `X-Forwarded-For` and "
        "`X-Forwarded-Proto` are believed",
        shown="none: forwarded headers are ignored",
    )
    token_urls: Annotated[tuple[str, ...], NoDecode] = setting(
        (),
        "further URLs (comma separated) a client assertion's `aud` may name besides the "
        "server's own token URL, e.g. an old host name during a move",
        shown="none",
    )
    token_rate_per_client: int = setting(
        30,
        "token requests a minute per client id, per server process (`0`: no limit); past it a "
        "429 with `Retry-After`",
    )
    token_rate_per_address: int = setting(
        120,
        "token requests a minute per caller address, per server process (`0`: no limit); past "
        "it a 429 with `Retry-After`",
    )
    jwks_timeout: float = setting(2.0, "seconds to wait for a client's JWKS URL", shown="`2`")
    jwks_failure_cache: float = setting(
        30.0,
        "seconds a failed JWKS fetch is remembered (assertions naming that client fail at once "
        "meanwhile)",
        shown="`30`",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> tuple[str, ...]:
        items = _items(value)
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"FHIR_SYNC_TRUSTED_PROXIES: {item!r} is not an address or network"
                ) from None
        return tuple(items)

    @field_validator("token_urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> tuple[str, ...]:
        urls = tuple(item.rstrip("/") for item in _items(value))
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"FHIR_SYNC_TOKEN_URLS: {url!r} is not an http(s) URL")
        return urls


class LiveSection(_Numbers):
    """How the server works with live FHIR endpoints: credentials, write-back, notifications."""

    section: ClassVar[str] = "live"
    numbers: ClassVar[dict[str, Bound]] = {
        "outbox_workers": Bound(int, lambda n: n >= 0, _ZERO_OR_MORE),
        "outbox_lease": Bound(float, lambda n: n >= 2, "must be at least 2 seconds"),
        "outbox_max_attempts": Bound(int, lambda n: n >= 1, "must be 1 or more"),
        "poll_interval": Bound(float, lambda n: n > 0, "must be more than 0"),
    }
    endpoints: Path | None = setting(
        None,
        "a TOML file of the EHR/pharmacy endpoints and their credentials (below)",
        shown="none: every endpoint without credentials",
    )
    outbox_workers: int = setting(
        2,
        "write-back loops per process; `0` leaves the outbox to `fhir-sync worker` processes",
    )
    outbox_lease: float = setting(
        120.0,
        "seconds a worker owns a claimed write (longer than the EHR's slowest answer)",
        shown="`120`",
    )
    outbox_max_attempts: int = setting(10, "attempts before a write is given up (`dead`)")
    poll_interval: float = setting(
        1.0, "seconds an idle worker waits before it looks for work again", shown="`1`"
    )
    notification_token: str | None = setting(
        None,
        "a shared bearer token EHR Subscriptions may send to `/notifications/subscription` (a "
        "registered EHR client's access token is taken too)",
        shown="none (open while tokens are not enforced; then only client tokens)",
    )

    @field_validator("endpoints", mode="before")
    @classmethod
    def _endpoints(cls, value: Any) -> Path | None:
        return None if value is None else Path(_text(value)) if _text(value) else None

    @field_validator("notification_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> str | None:
        return None if value is None else _text(value) or None


class WorkerSection(_Numbers):
    """The background loops that run without HTTP (`fhir-sync worker`, and inside `serve`)."""

    section: ClassVar[str] = "worker"
    numbers: ClassVar[dict[str, Bound]] = {"cycle_interval": Bound(float)}
    cycle_interval: float = setting(
        900.0, "seconds between two runs of the day's cycle derivation", shown="`900`"
    )


class AppSection(Section):
    """The staff web app mounted at /app."""

    section: ClassVar[str] = "app"
    app: bool = setting(True, "mount the staff web app at `/app` (`0`: off)", shown="`1`")
    app_insecure_cookies: bool = setting(
        False,
        "send the web app's cookies without `Secure`, for plain HTTP on 127.0.0.1 (set by "
        "`fhir-sync demo`; never in production)",
        shown="`0`",
    )

    @field_validator("app", mode="before")
    @classmethod
    def _app(cls, value: Any) -> bool:
        return value if isinstance(value, bool) else _text(value).lower() not in FALSE_WORDS

    @field_validator("app_insecure_cookies", mode="before")
    @classmethod
    def _insecure(cls, value: Any) -> bool:
        return value if isinstance(value, bool) else _text(value) in ("1", "true", "yes")
