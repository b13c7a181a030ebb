"""`fhir-sync sync` configuration: flags over environment over a TOML file, checked once.

Every value is looked up in that order and parsed where it was found, so an error names its
origin (`--page-size`, `FHIR_SYNC_EHR_PAGE_SIZE`, `sync.toml [ehr] page_size`). Nothing is
checked later: a run that starts has settings that make sense. Secrets (tokens, private keys)
never appear in messages.

Each endpoint (`ehr`, `pharmacy`, `target`) has its own section. Credentials are never shared
between sections: a token for the EHR must not reach another server just because it was
named as the target. The target *is* the EHR (same client, same settings) unless another URL
is given for it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters.http import (
    AuthConfig,
    EndpointSettings,
    NoAuth,
    Quirk,
    SmartBackendServices,
    StaticBearer,
)
from adapters.http.credentials import SigningAlgorithm
from adapters.http.media import format_instant, parse_instant
from fhir_sync.engine import ControlledPolicy, Preferences
from fhir_sync.fill_settings import FILL_SETTINGS, apply_fill_settings
from fhir_sync.services.plan_terms import parse_closed_days, supported_cycle
from fhir_sync.sync.service import DEFAULT_WORKERS
from mappings.fhir_literals import local_reference
from mappings.fhir_values import ID_PATTERN
from mappings.pickup_hours import PickupHours, pickup_hours

T = TypeVar("T")

ENDPOINTS = ("ehr", "pharmacy", "target")
ENV_PREFIX = "FHIR_SYNC_"
CONFIG_ENV = "FHIR_SYNC_CONFIG"
DEFAULT_PAGE_SIZE = 100

#: What an EHR / target token needs: read orders and fills, read and write the plan.
WRITE_SCOPES = (
    "system/Patient.rs",
    "system/MedicationRequest.rs",
    "system/MedicationDispense.rs",
    "system/Medication.rs",
    "system/CarePlan.cruds",
    "system/Appointment.cruds",
    "system/Task.cruds",
)
#: What a pharmacy token needs: read fills.
READ_SCOPES = ("system/MedicationDispense.rs", "system/Medication.rs")

ENDPOINT_KEYS = frozenset(
    {
        "url",
        "auth",
        "token",
        "client_id",
        "private_key",
        "key_id",
        "alg",
        "token_url",
        "scopes",
        "page_size",
        "concurrency",
        "timeout",
        "max_attempts",
        "backoff_base",
        "quirks",
        "transactions",
    }
)
SYNC_KEYS = frozenset(
    {
        "today",
        "anchor_day",
        "cycle_days",
        "closed",
        "lead_days",
        "controlled",
        "location",
        "concurrency",
        "page_size",
        "keep_anchor",
        "time_zone",
        "pickup_hours",
        *(setting.key for setting in FILL_SETTINGS),
    }
)

#: (section, key) -> the flag that sets it, for messages and for the CLI's mapping.
FLAGS: dict[tuple[str, str], str] = {
    ("ehr", "url"): "--ehr",
    ("pharmacy", "url"): "--pharmacy",
    ("target", "url"): "--target",
    ("ehr", "token"): "--token",
    ("ehr", "client_id"): "--client-id",
    ("ehr", "private_key"): "--private-key",
    ("ehr", "key_id"): "--key-id",
    ("ehr", "alg"): "--alg",
    ("ehr", "token_url"): "--token-url",
    ("ehr", "scopes"): "--scope",
    ("sync", "today"): "--today",
    ("sync", "anchor_day"): "--anchor-day",
    ("sync", "cycle_days"): "--cycle-days",
    ("sync", "closed"): "--closed",
    ("sync", "lead_days"): "--lead-days",
    ("sync", "controlled"): "--controlled",
    ("sync", "location"): "--pharmacy-location",
    ("sync", "concurrency"): "--concurrency",
    ("sync", "page_size"): "--page-size",
    ("sync", "keep_anchor"): "--keep-anchor/--reanchor",
    ("sync", "time_zone"): "--time-zone",
    ("sync", "pickup_hours"): "--pickup-hours",
    **{("sync", setting.key): setting.flag for setting in FILL_SETTINGS},
}


class ConfigError(ValueError):
    """A setting is missing, unknown or invalid; the message says which and where from."""


@dataclass(frozen=True, slots=True)
class Found:
    value: Any
    origin: str


def env_name(section: str, key: str) -> str:
    middle = "" if section == "sync" else f"{section.upper()}_"
    return f"{ENV_PREFIX}{middle}{key.upper()}"


class Layers:
    """Looks a setting up in flags, then the environment, then the file."""

    def __init__(
        self,
        flags: Mapping[tuple[str, str], Any],
        env: Mapping[str, str],
        file: Mapping[str, Any],
        file_name: str,
    ) -> None:
        self._flags = flags
        self._env = env
        self._file = file
        self._file_name = file_name

    def get(self, section: str, key: str) -> Found | None:
        if (section, key) in self._flags:
            return Found(self._flags[(section, key)], FLAGS.get((section, key), key))
        name = env_name(section, key)
        value = self._env.get(name)
        if value is not None and value != "":
            return Found(value, name)
        table = self._file.get(section)
        if isinstance(table, Mapping) and key in table:
            return Found(table[key], f"{self._file_name} [{section}] {key}")
        return None


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Everything a sync run needs, checked. `target` None means: write to the EHR."""

    ehr: EndpointSettings
    pharmacy: EndpointSettings | None
    target: EndpointSettings | None
    today: date
    prefs: Preferences
    location: str | None
    concurrency: int
    keep_anchor: bool
    pickup: PickupHours = field(default_factory=PickupHours)


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's tables; unknown sections and keys are errors (typos must not pass)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for section, table in data.items():
        allowed = SYNC_KEYS if section == "sync" else ENDPOINT_KEYS
        if section not in ("sync", *ENDPOINTS):
            raise ConfigError(
                f"config file {path}: unknown section [{section}] (use [sync], [ehr],"
                " [pharmacy], [target])"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: {section} must be a table ([{section}])")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ConfigError(
                f"config file {path}: unknown key(s) in [{section}]: {', '.join(unknown)}"
            )
    return data


def load_config(
    flags: Mapping[tuple[str, str], Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> SyncConfig:
    """Merges and checks the layers; raises ConfigError with a message for the user."""
    environ = os.environ if env is None else env
    path = config_file
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    file = read_config_file(path) if path is not None else {}
    layers = Layers(flags, environ, file, str(path) if path is not None else "")

    concurrency = _value(layers, "sync", "concurrency", _positive_int) or DEFAULT_WORKERS
    page_size = _value(layers, "sync", "page_size", _positive_int) or DEFAULT_PAGE_SIZE
    ehr = _endpoint(layers, "ehr", concurrency, page_size, WRITE_SCOPES)
    if ehr is None:
        raise ConfigError(
            "the EHR is required: --ehr URL, FHIR_SYNC_EHR_URL or [ehr] url in the config file"
        )
    pharmacy = _endpoint(layers, "pharmacy", concurrency, page_size, READ_SCOPES)
    target = _endpoint(layers, "target", concurrency, page_size, WRITE_SCOPES)
    if target is not None and target.base_url == ehr.base_url:
        target = None
    if pharmacy is not None and pharmacy.base_url == ehr.base_url:
        pharmacy = None

    cycle_days = _value(layers, "sync", "cycle_days", _cycle_days) or 30
    anchor_day = _value(layers, "sync", "anchor_day", _positive_int)
    if anchor_day is not None and anchor_day > 31:
        raise ConfigError(f"{_origin(layers, 'sync', 'anchor_day')}: must be a day of month 1-31")
    lead_days = _value(layers, "sync", "lead_days", _non_negative_int)
    if lead_days is not None and lead_days > 90:
        raise ConfigError(f"{_origin(layers, 'sync', 'lead_days')}: must be 0-90")
    prefs = Preferences(
        cycle_days=cycle_days,
        anchor_day=anchor_day,
        closed_weekdays=_value(layers, "sync", "closed", _closed) or frozenset(),
        lead_days=7 if lead_days is None else lead_days,
        controlled=_value(layers, "sync", "controlled", _controlled) or ControlledPolicy.SYNC,
    )
    fill_values = {
        setting.key: _value(layers, "sync", setting.key, setting.parse)
        for setting in FILL_SETTINGS
        if layers.get("sync", setting.key) is not None
    }
    prefs = apply_fill_settings(prefs, fill_values)
    keep_anchor = _value(layers, "sync", "keep_anchor", _bool)
    zone = _value(layers, "sync", "time_zone", _text)
    hours = _value(layers, "sync", "pickup_hours", _text)
    try:
        pickup = pickup_hours(hours, zone)
    except ValueError as exc:
        origin = _origin(layers, "sync", "pickup_hours" if hours else "time_zone")
        raise ConfigError(f"{origin}: {exc}") from None
    return SyncConfig(
        ehr=ehr,
        pharmacy=pharmacy,
        target=target,
        today=_value(layers, "sync", "today", _date) or date.today(),
        prefs=prefs,
        location=_value(layers, "sync", "location", _location),
        concurrency=concurrency,
        keep_anchor=True if keep_anchor is None else keep_anchor,
        pickup=pickup,
    )


def endpoint_from_table(
    name: str, table: Mapping[str, Any], origin: str, *, scopes: tuple[str, ...] = WRITE_SCOPES
) -> EndpointSettings:
    """One endpoint from a TOML table with the keys of an `[ehr]` section, nothing else read
    (the server's endpoint file: flags and `FHIR_SYNC_EHR_*` variables must not leak in)."""
    unknown = sorted(set(table) - ENDPOINT_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) in [{name}]: {', '.join(unknown)}")
    layers = Layers({}, {}, {name: table}, origin)
    found = _endpoint(layers, name, DEFAULT_WORKERS, DEFAULT_PAGE_SIZE, scopes)
    if found is None:
        raise ConfigError(f"{origin} [{name}]: url is missing")
    return found


def parse_since(text: str) -> str:
    """`--since`: a date (midnight UTC) or a FHIR instant with a time zone."""
    value = text.strip()
    if len(value) == 10:
        try:
            return f"{date.fromisoformat(value).isoformat()}T00:00:00Z"
        except ValueError:
            pass
    moment = parse_instant(value) if "T" in value else None
    if moment is None:
        raise ConfigError(
            f"--since: {text!r} is not a date (YYYY-MM-DD) or an instant with a time zone"
            " (YYYY-MM-DDThh:mm:ssZ)"
        )
    return format_instant(moment)


def check_patient_ids(ids: list[str]) -> tuple[str, ...]:
    bad = [i for i in ids if ID_PATTERN.fullmatch(i) is None]
    if bad:
        raise ConfigError(
            f"--patient: {len(bad)} value(s) are not FHIR ids ([A-Za-z0-9-.]{{1,64}})"
        )
    return tuple(dict.fromkeys(ids))


# ---------------------------------------------------------------- endpoints


def _endpoint(
    layers: Layers,
    section: str,
    concurrency: int,
    page_size: int,
    default_scopes: tuple[str, ...],
) -> EndpointSettings | None:
    url = _value(layers, section, "url", _url)
    if url is None:
        extra = [k for k in ENDPOINT_KEYS if layers.get(section, k) is not None]
        if extra:
            origin = _origin(layers, section, sorted(extra)[0])
            raise ConfigError(f"{origin}: [{section}] has settings but no url")
        return None
    auth = _auth(layers, section, default_scopes)
    values: dict[str, Any] = {
        "base_url": url,
        "auth": auth,
        "page_size": _value(layers, section, "page_size", _positive_int) or page_size,
        "concurrency": _value(layers, section, "concurrency", _positive_int) or concurrency,
        "quirks": _value(layers, section, "quirks", _quirks) or frozenset(),
        "supports_transactions": _value(layers, section, "transactions", _bool),
    }
    timeout = _value(layers, section, "timeout", _positive_float)
    if timeout is not None:
        values["timeout"] = timeout
        values["connect_timeout"] = min(timeout, 10.0)
    attempts = _value(layers, section, "max_attempts", _positive_int)
    if attempts is not None:
        values["max_attempts"] = attempts
    backoff = _value(layers, section, "backoff_base", _non_negative_float)
    if backoff is not None:
        values["backoff_base"] = backoff
    try:
        return EndpointSettings(**values)
    except ValueError as exc:
        raise ConfigError(f"{_origin(layers, section, 'url')}: {exc}") from None


def _auth(layers: Layers, section: str, default_scopes: tuple[str, ...]) -> AuthConfig:
    kind = _value(layers, section, "auth", _auth_kind)
    token = _value(layers, section, "token", _text)
    client_id = _value(layers, section, "client_id", _text)
    key_path = _value(layers, section, "private_key", _text)
    if kind is None:
        kind = "smart" if client_id or key_path else "bearer" if token else "none"
    if kind == "none":
        return NoAuth()
    if kind == "bearer":
        if token is None:
            raise ConfigError(
                f"[{section}] bearer auth needs a token ({env_name(section, 'token')})"
            )
        if client_id or key_path:
            raise ConfigError(f"[{section}]: give either a token or SMART credentials, not both")
        return StaticBearer(token)
    missing = [
        name
        for name, value in (
            ("client_id", client_id),
            ("private_key", key_path),
            ("key_id", _value(layers, section, "key_id", _text)),
        )
        if value is None
    ]
    if missing:
        names = ", ".join(_how_to_set(section, m) for m in missing)
        raise ConfigError(f"[{section}] SMART Backend Services needs {names}")
    if token is not None:
        raise ConfigError(f"[{section}]: give either a token or SMART credentials, not both")
    alg = cast(SigningAlgorithm, _value(layers, section, "alg", _alg) or "RS384")
    key_origin = _origin(layers, section, "private_key")
    pem = _private_key(Path(cast(str, key_path)), alg, key_origin)
    scopes = _value(layers, section, "scopes", _words) or default_scopes
    return SmartBackendServices(
        client_id=cast(str, client_id),
        private_key_pem=pem,
        key_id=cast(str, _value(layers, section, "key_id", _text)),
        scopes=scopes,
        algorithm=alg,
        token_url=_value(layers, section, "token_url", _url),
    )


def _private_key(path: Path, alg: str, origin: str) -> bytes:
    """Reads the PEM and checks it is a private key of the kind `alg` signs with."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{origin}: {path} is not an unencrypted PEM private key (PKCS#8 or PKCS#1)"
        ) from None
    if alg == "RS384" and not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{origin}: RS384 needs an RSA private key")
    if alg == "ES384" and not (
        isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1)
    ):
        raise ConfigError(f"{origin}: ES384 needs an EC private key on curve P-384")
    return pem


def _how_to_set(section: str, key: str) -> str:
    flag = FLAGS.get((section, key))
    return f"{flag} or {env_name(section, key)}" if flag else env_name(section, key)


# ---------------------------------------------------------------- values


def _value(layers: Layers, section: str, key: str, parse: Callable[[Any], T]) -> T | None:
    found = layers.get(section, key)
    if found is None:
        return None
    try:
        return parse(found.value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{found.origin}: {exc}") from None


def _origin(layers: Layers, section: str, key: str) -> str:
    found = layers.get(section, key)
    return found.origin if found is not None else f"[{section}] {key}"


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _url(value: Any) -> str:
    text = _text(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return text


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("must be a whole number")


def _cycle_days(value: Any) -> int:
    return supported_cycle(_positive_int(value))


def _positive_int(value: Any) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def _non_negative_int(value: Any) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError("must be a number")


def _positive_float(value: Any) -> float:
    number = _float(value)
    if not number > 0:
        raise ValueError("must be more than 0")
    return number


def _non_negative_float(value: Any) -> float:
    number = _float(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a date (YYYY-MM-DD)")


def _words(value: Any) -> tuple[str, ...]:
    """A TOML list, a repeated flag, or one string separated by spaces or commas."""
    items = value if isinstance(value, list | tuple) else [value]
    words: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("must be strings")
        words.extend(w for w in item.replace(",", " ").split() if w)
    return tuple(dict.fromkeys(words))


def _closed(value: Any) -> frozenset[int]:
    text = ",".join(_words(value)) if value else ""
    try:
        return parse_closed_days(text)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("--closed: ")) from None


def _controlled(value: Any) -> ControlledPolicy:
    text = _text(value).lower()
    try:
        return ControlledPolicy(text)
    except ValueError:
        known = ", ".join(p.value for p in ControlledPolicy)
        raise ValueError(f"unknown policy {text!r} (known: {known})") from None


def _quirks(value: Any) -> frozenset[Quirk]:
    known = {q.value: q for q in Quirk}
    chosen = _words(value)
    unknown = [q for q in chosen if q not in known]
    if unknown:
        raise ValueError(f"unknown quirk(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return frozenset(known[q] for q in chosen)


def _alg(value: Any) -> str:
    text = _text(value).upper()
    if text not in ("RS384", "ES384"):
        raise ValueError("must be RS384 or ES384")
    return text


def _auth_kind(value: Any) -> str:
    text = _text(value).lower()
    if text not in ("none", "bearer", "smart"):
        raise ValueError("must be none, bearer or smart")
    return text


def _location(value: Any) -> str:
    return local_reference(_text(value), "Location")
