"""`fhir-sync sync` configuration: the run's objects, built from the settings tree.

Every key of `[sync]`, `[ehr]`, `[pharmacy]` and `[target]` is declared once, with its check
and help text, in `fhir_sync.settings.sync`, and looked up flags > environment > TOML file in
`fhir_sync.settings.layers`, where an error names its origin (`--page-size`,
`FHIR_SYNC_EHR_PAGE_SIZE`, `sync.toml [ehr] page_size`). This module only assembles: the
endpoints' settings and credentials for the adapters, the engine's preferences. Nothing is
checked later: a run that starts has settings that make sense. Secrets (tokens, private keys)
never appear in messages.

Each endpoint (`ehr`, `pharmacy`, `target`) has its own section. Credentials are never shared
between sections: a token for the EHR must not reach another server just because it was
named as the target. The target *is* the EHR (same client, same settings) unless another URL
is given for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters.http import (
    AuthConfig,
    EndpointSettings,
    NoAuth,
    SmartBackendServices,
    StaticBearer,
)
from adapters.http.credentials import SigningAlgorithm
from adapters.http.media import format_instant, parse_instant
from fhir_sync.engine import Preferences
from fhir_sync.settings.layers import ConfigError as ConfigError
from fhir_sync.settings.layers import Layers, check_tables, read_toml, unknown_keys
from fhir_sync.settings.layers import env_name as env_name
from fhir_sync.settings.sync import CONFIG_ENV as CONFIG_ENV
from fhir_sync.settings.sync import DEFAULT_PAGE_SIZE as DEFAULT_PAGE_SIZE
from fhir_sync.settings.sync import ENDPOINTS as ENDPOINTS
from fhir_sync.settings.sync import TABLES, EndpointSection, SyncSection, flag_names
from mappings.fhir_values import ID_PATTERN
from mappings.pickup_hours import PickupHours

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

ENDPOINT_KEYS = EndpointSection.keys()
SYNC_KEYS = SyncSection.keys()
PREFERENCE_KEYS = tuple(f.name for f in fields(Preferences) if f.name in SYNC_KEYS)
#: (section, key) -> the flag that sets it, for messages and for the CLI's mapping.
FLAGS: dict[tuple[str, str], str] = flag_names()


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
    data = read_toml(path, "config file")
    check_tables(data, TABLES, f"config file {path}")
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
    layers = Layers(flags, environ, file, str(path) if path is not None else "", FLAGS)

    sync = layers.resolve(SyncSection, "sync")
    ehr = _endpoint(layers, "ehr", sync, WRITE_SCOPES)
    if ehr is None:
        raise ConfigError(
            "the EHR is required: --ehr URL, FHIR_SYNC_EHR_URL or [ehr] url in the config file"
        )
    pharmacy = _endpoint(layers, "pharmacy", sync, READ_SCOPES)
    target = _endpoint(layers, "target", sync, WRITE_SCOPES)
    if target is not None and target.base_url == ehr.base_url:
        target = None
    if pharmacy is not None and pharmacy.base_url == ehr.base_url:
        pharmacy = None

    # The [sync] keys named like the engine's preferences are them (their defaults too).
    terms = {name: getattr(sync, name) for name in PREFERENCE_KEYS}
    return SyncConfig(
        ehr=ehr,
        pharmacy=pharmacy,
        target=target,
        today=sync.today or date.today(),
        prefs=Preferences(closed_weekdays=sync.closed, **terms),
        location=sync.location,
        concurrency=sync.concurrency,
        keep_anchor=sync.keep_anchor,
        pickup=sync.pickup,
    )


def endpoint_from_table(
    name: str, table: Mapping[str, Any], origin: str, *, scopes: tuple[str, ...] = WRITE_SCOPES
) -> EndpointSettings:
    """One endpoint from a TOML table with the keys of an `[ehr]` section, nothing else read
    (the server's endpoint file: flags and `FHIR_SYNC_EHR_*` variables must not leak in)."""
    unknown_keys(table, EndpointSection, f"{origin}: unknown key(s) in [{name}]")
    layers = Layers({}, {}, {name: table}, origin)
    found = _endpoint(layers, name, SyncSection(), scopes)
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
    layers: Layers, section: str, sync: SyncSection, default_scopes: tuple[str, ...]
) -> EndpointSettings | None:
    if layers.get(section, "url") is None:
        given = sorted(k for k in ENDPOINT_KEYS if layers.get(section, k) is not None)
        if given:
            raise ConfigError(
                f"{layers.origin(section, given[0])}: [{section}] has settings but no url"
            )
        return None
    table = layers.resolve(EndpointSection, section)
    url = cast(str, table.url)
    values: dict[str, Any] = {
        "base_url": url,
        "auth": _auth(layers, section, table, default_scopes),
        "page_size": table.page_size or sync.page_size,
        "concurrency": table.concurrency or sync.concurrency,
        "quirks": table.quirks,
        "supports_transactions": table.transactions,
    }
    if table.timeout is not None:
        values["timeout"] = table.timeout
        values["connect_timeout"] = min(table.timeout, 10.0)
    if table.max_attempts is not None:
        values["max_attempts"] = table.max_attempts
    if table.backoff_base is not None:
        values["backoff_base"] = table.backoff_base
    try:
        return EndpointSettings(**values)
    except ValueError as exc:
        raise ConfigError(f"{layers.origin(section, 'url')}: {exc}") from None


def _auth(
    layers: Layers, section: str, table: EndpointSection, default_scopes: tuple[str, ...]
) -> AuthConfig:
    token, client_id, key_path = table.token, table.client_id, table.private_key
    kind = table.auth
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
            ("key_id", table.key_id),
        )
        if value is None
    ]
    if missing:
        names = ", ".join(_how_to_set(section, m) for m in missing)
        raise ConfigError(f"[{section}] SMART Backend Services needs {names}")
    if token is not None:
        raise ConfigError(f"[{section}]: give either a token or SMART credentials, not both")
    alg = cast(SigningAlgorithm, table.alg or "RS384")
    pem = _private_key(Path(cast(str, key_path)), alg, layers.origin(section, "private_key"))
    return SmartBackendServices(
        client_id=cast(str, client_id),
        private_key_pem=pem,
        key_id=cast(str, table.key_id),
        scopes=table.scopes or default_scopes,
        algorithm=alg,
        token_url=table.token_url,
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
