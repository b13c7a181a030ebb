"""`fhir-sync sync` settings: precedence flags > env > file, and errors that name their origin."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from adapters.http import NoAuth, Quirk, SmartBackendServices, StaticBearer
from fhir_sync.cli import app
from fhir_sync.engine import ControlledPolicy
from fhir_sync.sync.config import (
    READ_SCOPES,
    WRITE_SCOPES,
    ConfigError,
    check_patient_ids,
    load_config,
    parse_since,
)

EHR = "https://ehr.example.org/fhir"


def flags(**values: Any) -> dict[tuple[str, str], Any]:
    """`ehr_url="..."` -> {("ehr", "url"): "..."}."""
    out: dict[tuple[str, str], Any] = {}
    for name, value in values.items():
        section, _, key = name.partition("_")
        out[(section, key)] = value
    return out


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "rsa.pem"
    path.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    return path


@pytest.fixture(scope="module")
def ec_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "ec.pem"
    path.write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    return path


def test_flags_win_over_env_which_wins_over_the_file(tmp_path: Path) -> None:
    file = tmp_path / "sync.toml"
    file.write_text(
        "[sync]\ncycle_days = 90\nlead_days = 3\nanchor_day = 5\n"
        '[ehr]\nurl = "https://file.example.org/fhir"\npage_size = 50\n'
    )
    env = {"FHIR_SYNC_EHR_URL": EHR, "FHIR_SYNC_LEAD_DAYS": "4"}

    config = load_config(flags(sync_lead=None) | {("sync", "anchor_day"): 9}, env, file)

    assert config.ehr.base_url == EHR  # env over file
    assert config.ehr.page_size == 50  # file, nothing above it
    assert config.prefs.cycle_days == 90
    assert config.prefs.lead_days == 4  # env over file
    assert config.prefs.anchor_day == 9  # flag over file


def test_defaults(tmp_path: Path) -> None:
    config = load_config(flags(ehr_url=EHR), {})

    assert config.ehr.auth == NoAuth()
    assert config.ehr.page_size == 100
    assert config.ehr.concurrency == config.concurrency == 8
    assert config.pharmacy is None and config.target is None
    assert config.prefs.cycle_days == 30 and config.prefs.lead_days == 7
    assert config.today == date.today()
    assert config.keep_anchor


def test_the_config_file_comes_from_the_environment_too(tmp_path: Path) -> None:
    file = tmp_path / "sync.toml"
    file.write_text(f'[ehr]\nurl = "{EHR}"\nquirks = ["offset-paging"]\ntransactions = false\n')

    config = load_config({}, {"FHIR_SYNC_CONFIG": str(file)})

    assert config.ehr.quirks == frozenset({Quirk.OFFSET_PAGING})
    assert config.ehr.supports_transactions is False


def test_a_target_or_pharmacy_equal_to_the_ehr_is_the_ehr() -> None:
    config = load_config(flags(ehr_url=EHR, target_url=EHR + "/", pharmacy_url=EHR), {})

    assert config.target is None and config.pharmacy is None


def test_bearer_token_from_the_environment_stays_with_its_endpoint() -> None:
    env = {
        "FHIR_SYNC_EHR_URL": EHR,
        "FHIR_SYNC_EHR_TOKEN": "s3cret",
        "FHIR_SYNC_PHARMACY_URL": "https://rx.example.org/fhir",
        "FHIR_SYNC_TARGET_URL": "https://other.example.org/fhir",
    }

    config = load_config({}, env)

    assert config.ehr.auth == StaticBearer("s3cret")
    assert config.pharmacy is not None and config.pharmacy.auth == NoAuth()
    assert config.target is not None and config.target.auth == NoAuth()
    assert "s3cret" not in repr(config)


def test_smart_from_flags(rsa_key_file: Path) -> None:
    config = load_config(
        flags(ehr_url=EHR, ehr_client_id="fhir-sync", ehr_key_id="k1")
        | {("ehr", "private_key"): str(rsa_key_file), ("ehr", "scopes"): ["system/*.rs", "a b"]},
        {},
    )

    auth = config.ehr.auth
    assert isinstance(auth, SmartBackendServices)
    assert (auth.client_id, auth.key_id, auth.algorithm) == ("fhir-sync", "k1", "RS384")
    assert auth.scopes == ("system/*.rs", "a", "b")
    assert auth.private_key_pem == rsa_key_file.read_bytes()


def test_smart_default_scopes_read_fills_on_a_pharmacy(ec_key_file: Path) -> None:
    env = {
        "FHIR_SYNC_EHR_URL": EHR,
        "FHIR_SYNC_PHARMACY_URL": "https://rx.example.org/fhir",
        "FHIR_SYNC_PHARMACY_CLIENT_ID": "c",
        "FHIR_SYNC_PHARMACY_KEY_ID": "k",
        "FHIR_SYNC_PHARMACY_PRIVATE_KEY": str(ec_key_file),
        "FHIR_SYNC_PHARMACY_ALG": "es384",
    }

    config = load_config({}, env)

    assert config.pharmacy is not None
    auth = config.pharmacy.auth
    assert isinstance(auth, SmartBackendServices)
    assert auth.algorithm == "ES384" and auth.scopes == READ_SCOPES
    assert WRITE_SCOPES[0] == "system/Patient.rs"


@pytest.mark.parametrize(
    ("given", "env", "message"),
    [
        ({}, {}, "the EHR is required"),
        (flags(ehr_url="ftp://x"), {}, "--ehr: must be an http(s) URL"),
        (
            flags(ehr_url=EHR),
            {"FHIR_SYNC_EHR_PAGE_SIZE": "many"},
            "FHIR_SYNC_EHR_PAGE_SIZE: must be",
        ),
        (flags(ehr_url=EHR, sync_concurrency=0), {}, "--concurrency: must be 1 or more"),
        (flags(ehr_url=EHR, sync_cycle=31) | {("sync", "cycle_days"): 31}, {}, "--cycle-days"),
        (flags(ehr_url=EHR) | {("sync", "closed"): "mon,funday"}, {}, "--closed: unknown weekday"),
        (flags(ehr_url=EHR) | {("sync", "today"): "22/11/2026"}, {}, "--today: must be a date"),
        (flags(ehr_url=EHR) | {("sync", "location"): "a b"}, {}, "--pharmacy-location"),
        (flags(ehr_url=EHR) | {("sync", "controlled"): "some"}, {}, "--controlled: unknown policy"),
        (
            flags(ehr_url=EHR, ehr_client_id="c"),
            {},
            "needs --private-key or FHIR_SYNC_EHR_PRIVATE_KEY",
        ),
        (flags(ehr_url=EHR, ehr_token="t", ehr_client_id="c"), {}, "SMART Backend Services needs"),
        (
            flags(ehr_url=EHR),
            {"FHIR_SYNC_EHR_QUIRKS": "offset-paging,teleport"},
            "unknown quirk(s) teleport",
        ),
        (
            flags(ehr_url=EHR),
            {"FHIR_SYNC_TARGET_PAGE_SIZE": "5"},
            "[target] has settings but no url",
        ),
    ],
)
def test_bad_settings_say_what_and_where(
    given: dict[tuple[str, str], Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(given, env)

    assert message in str(caught.value)


def test_a_private_key_of_the_wrong_kind_is_refused(rsa_key_file: Path, tmp_path: Path) -> None:
    base = flags(ehr_url=EHR, ehr_client_id="c") | {("ehr", "key_id"): "k"}
    with pytest.raises(ConfigError, match="ES384 needs an EC private key"):
        load_config(base | {("ehr", "private_key"): str(rsa_key_file), ("ehr", "alg"): "ES384"}, {})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_config(base | {("ehr", "private_key"): str(junk)}, {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(base | {("ehr", "private_key"): str(tmp_path / "missing.pem")}, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ehr\nurl = 1", "is not valid TOML"),
        ("[ehrr]\nurl = 'x'", "unknown section [ehrr]"),
        ("[ehr]\nurll = 'x'", "unknown key(s) in [ehr]: urll"),
        ("[sync]\ncycle_days = 'thirty'", "[sync] cycle_days: must be a whole number"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "sync.toml"
    file.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_config(flags(ehr_url=EHR), {}, file)

    assert message in str(caught.value)


def test_since_accepts_dates_and_instants() -> None:
    assert parse_since("2026-01-31") == "2026-01-31T00:00:00Z"
    assert parse_since("2026-01-31T10:00:00+02:00") == "2026-01-31T08:00:00.000Z"
    for bad in ("yesterday", "2026-01-31T10:00:00", "2026-13-01"):
        with pytest.raises(ConfigError, match="--since"):
            parse_since(bad)


def test_patient_ids_must_be_fhir_ids_and_are_deduplicated() -> None:
    assert check_patient_ids(["a", "b", "a"]) == ("a", "b")
    with pytest.raises(ConfigError, match="1 value"):
        check_patient_ids(["a", "../etc"])


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ehr", EHR, "--patient", "a", "--bulk"], "--patient cannot be combined"),
        (["--ehr", EHR, "--since", "2026-01-01", "--bulk"], "use one of them"),
        (["--ehr", EHR, "--cycle-days", "31"], "--cycle-days: must be 28, 30 or 90"),
        (["--ehr", EHR, "--config", "/nonexistent/sync.toml"], "cannot read config file"),
        (["--ehr", EHR, "--no-such-flag"], "No such option"),
        (
            [
                "--ehr",
                EHR,
                "--private-key",
                "/nonexistent.pem",
                "--client-id",
                "c",
                "--key-id",
                "k",
            ],
            "cannot read",
        ),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sync", *args])

    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2, output
    assert message in output
    assert "Traceback" not in output


def test_fill_settings_from_flags_env_and_file(tmp_path: Path) -> None:
    from fractions import Fraction

    file = tmp_path / "sync.toml"
    file.write_text(
        "[sync]\nwindow_days = 2\nrefill_threshold = 0.75\ndaily_limit = 25\n"
        'form_thresholds = { ophthalmic = "0.70", otic = 0.6 }\n'
    )
    env = {"FHIR_SYNC_TOLERANCE_DAYS": "1"}
    config = load_config(flags(ehr_url=EHR) | {("sync", "window_days"): 5}, env, file)
    prefs = config.prefs
    assert prefs.window_days == 5  # flag over file
    assert prefs.tolerance_days == 1  # environment
    assert prefs.refill_threshold == Fraction(3, 4) and prefs.daily_limit == 25
    assert prefs.form_thresholds == (("ophthalmic", Fraction(7, 10)), ("otic", Fraction(3, 5)))
    unlimited = load_config(flags(ehr_url=EHR) | {("sync", "daily_limit"): 0}, {})
    assert unlimited.prefs.daily_limit is None
    defaults = load_config(flags(ehr_url=EHR), {}).prefs
    assert (defaults.window_days, defaults.tolerance_days, defaults.daily_limit) == (3, 0, 40)


def test_bad_fill_settings_name_their_origin(tmp_path: Path) -> None:
    file = tmp_path / "sync.toml"
    file.write_text("[sync]\nrefill_threshold = 1.5\n")
    with pytest.raises(ConfigError, match=r"refill_threshold.*between 0.50 and 1.00"):
        load_config(flags(ehr_url=EHR), {}, file)
    with pytest.raises(ConfigError, match="--window-days"):
        load_config(flags(ehr_url=EHR) | {("sync", "window_days"): 30}, {})


def test_the_controlled_substance_policy_is_a_toml_key_an_env_variable_and_a_flag(
    tmp_path: Path,
) -> None:
    file = tmp_path / "sync.toml"
    file.write_text(f'[sync]\ncontrolled = "skip-all"\n[ehr]\nurl = "{EHR}"\n')
    assert load_config({}, {}, file).prefs.controlled is ControlledPolicy.SKIP_ALL
    env = {"FHIR_SYNC_CONTROLLED": "skip-cii"}
    assert load_config({}, env, file).prefs.controlled is ControlledPolicy.SKIP_CII
    flag = {("sync", "controlled"): "sync"}
    assert load_config(flag, env, file).prefs.controlled is ControlledPolicy.SYNC
    assert load_config(flags(ehr_url=EHR), {}).prefs.controlled is ControlledPolicy.SYNC


def test_pen_priming_and_drops_per_ml_are_registry_settings(tmp_path: Path) -> None:
    """Declared once (fhir_sync/fill_settings.py): a TOML key, an environment variable, a flag
    and an $enroll/$plan parameter alike, with one range check (priming 0-20 units, 10-40
    drops per mL; domain.md section 7: 2-unit safety test, about 20 drops per mL)."""
    from fhir_sync.fill_settings import BY_PARAMETER

    file = tmp_path / "sync.toml"
    file.write_text("[sync]\npriming_units = 1\n")
    env = {"FHIR_SYNC_DROPS_PER_ML": "15"}
    prefs = load_config(flags(ehr_url=EHR), env, file).prefs
    assert (prefs.priming_units, prefs.drops_per_ml) == (1, 15)
    defaults = load_config(flags(ehr_url=EHR), {}).prefs
    assert (defaults.priming_units, defaults.drops_per_ml) == (2, 20)
    with pytest.raises(ConfigError, match="--priming-units"):
        load_config(flags(ehr_url=EHR) | {("sync", "priming_units"): 30}, {})
    with pytest.raises(ConfigError, match="--drops-per-ml"):
        load_config(flags(ehr_url=EHR) | {("sync", "drops_per_ml"): 5}, {})
    assert BY_PARAMETER["primingUnits"].key == "priming_units"
    assert BY_PARAMETER["dropsPerMl"].key == "drops_per_ml"
