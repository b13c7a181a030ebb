"""The settings tree: each FHIR_SYNC_* variable declared once, the README's table made from
the declarations, and no variable read anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from fhir_sync.fill_settings import FILL_SETTINGS
from fhir_sync.settings import (
    SECTIONS,
    FhirSyncSettings,
    LiveSection,
    ServerSection,
    StoreSection,
    declared_variables,
    readme_table,
)
from fhir_sync.settings.sync import sync_readme_table
from fhir_sync.store.location import DATA_DIR_ENV
from fhir_sync.sync.config import CONFIG_ENV, ENDPOINT_KEYS, ENDPOINTS, SYNC_KEYS, env_name

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BEGIN = (
    "<!-- settings table: generated from fhir_sync/settings (readme_table), checked by "
    "tests/settings -->\n"
)
END = "<!-- end of settings table -->"
SYNC_BEGIN = (
    "<!-- sync settings table: generated from fhir_sync/settings/sync.py (sync_readme_table), "
    "checked by tests/settings -->\n"
)
SYNC_END = "<!-- end of sync settings table -->"
#: Variables of the test suite and the benchmarks, not of fhir-sync.
TEST_ONLY = {
    "FHIR_SYNC_TEST_POSTGRES_URL",
    "FHIR_SYNC_REQUIRE_INTEGRATION",
    "FHIR_SYNC_CONCURRENCY_SECONDS",
    "FHIR_SYNC_SOAK_SECONDS",
    "FHIR_SYNC_SCHEMATHESIS_EXAMPLES",
}


def _sync_variables() -> set[str]:
    """`fhir-sync sync`'s layered names (sync/config.py): FHIR_SYNC_<SECTION>_<KEY>."""
    names = {env_name(section, key) for section in ENDPOINTS for key in ENDPOINT_KEYS}
    names |= {env_name("sync", key) for key in SYNC_KEYS}
    return names | {CONFIG_ENV}


def test_the_readme_table_is_the_declarations() -> None:
    start = README.index(BEGIN) + len(BEGIN)
    assert README[start : README.index(END, start)] == readme_table()


def test_the_readme_sync_tables_are_the_declarations() -> None:
    """`fhir-sync sync`'s keys (settings/sync.py): one row each, made from the declarations."""
    start = README.index(SYNC_BEGIN) + len(SYNC_BEGIN)
    assert README[start : README.index(SYNC_END, start)] == sync_readme_table()


def test_the_readme_names_only_declared_variables() -> None:
    named = set(re.findall(r"FHIR_SYNC_[A-Z0-9_]*[A-Z0-9]", README))
    known = set(declared_variables()) | _sync_variables() | TEST_ONLY
    assert sorted(named - known) == []
    assert sorted(set(declared_variables()) - named) == []


def test_each_variable_is_declared_once() -> None:
    counted = [name for section in SECTIONS for name in section.variables()]
    assert len(counted) == len(set(counted)) == len(declared_variables())
    assert DATA_DIR_ENV in declared_variables()
    assert all(field.description for field in declared_variables().values())


def _reads_environment(node: ast.AST) -> bool:
    """`os.environ.get(...)`, `os.environ[...]` reads, `os.getenv(...)`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        target = node.func
        if target.attr == "getenv" and isinstance(target.value, ast.Name):
            return target.value.id == "os"
        if target.attr == "get" and isinstance(target.value, ast.Attribute):
            return target.value.attr == "environ"
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        value = node.value
        return isinstance(value, ast.Attribute) and value.attr == "environ"
    return False


def test_no_module_reads_the_environment_outside_the_settings() -> None:
    """The settings tree and `fhir-sync sync`'s layers (sync/config.py) are the readers."""
    allowed = {ROOT / "fhir_sync" / "sync" / "config.py"}
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "fhir_sync").rglob("*.py")
        if "settings" not in path.relative_to(ROOT / "fhir_sync").parts[:1]
        and path not in allowed
        and any(_reads_environment(node) for node in ast.walk(ast.parse(path.read_text())))
    )
    assert readers == []


def test_the_fill_settings_have_sync_variables() -> None:
    assert {env_name("sync", s.key) for s in FILL_SETTINGS} <= _sync_variables()


def test_one_mapping_gives_the_whole_tree() -> None:
    tree = FhirSyncSettings.from_env(
        {
            "FHIR_SYNC_DATABASE_URL": " postgres://u@h/db ",
            "FHIR_SYNC_ENV": "development",
            "FHIR_SYNC_OUTBOX_WORKERS": "0",
            "FHIR_SYNC_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16",
            "FHIR_SYNC_CYCLE_INTERVAL": "3600",
            "FHIR_SYNC_APP": "off",
        }
    )
    assert tree.store.url() == "postgresql+psycopg://u@h/db"
    assert not tree.server.production and not tree.server.declared_production
    assert tree.live.outbox_workers == 0
    assert tree.edge.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
    assert tree.worker.cycle_interval == 3600.0
    assert not tree.app.app


def test_unset_spaces_and_empty_are_the_default() -> None:
    for value in ("", "  "):
        section = ServerSection.from_env(
            {"FHIR_SYNC_ENV": value, "FHIR_SYNC_MAX_BODY_BYTES": value}
        )
        assert section.production and not section.declared_production
        assert section.max_body_bytes == 4 * 1024 * 1024


def test_the_data_directory_follows_xdg_then_home(tmp_path: Path) -> None:
    xdg = StoreSection.from_env({"XDG_DATA_HOME": str(tmp_path / "x"), "HOME": "/nowhere"})
    assert xdg.data_directory() == (tmp_path / "x" / "fhir-sync").resolve()
    home = StoreSection.from_env({"HOME": str(tmp_path)})
    assert (
        home.url()
        == f"sqlite:///{(tmp_path / '.local/share/fhir-sync').resolve()}/fhir-sync.sqlite3"
    )
    chosen = StoreSection.from_env({"FHIR_SYNC_DATA_DIR": str(tmp_path / "d"), "HOME": "/x"})
    assert chosen.data_directory() == (tmp_path / "d").resolve()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FHIR_SYNC_OUTBOX_WORKERS": "two"}, "FHIR_SYNC_OUTBOX_WORKERS must be a number"),
        ({"FHIR_SYNC_OUTBOX_WORKERS": "-1"}, "FHIR_SYNC_OUTBOX_WORKERS must be 0 or more"),
        ({"FHIR_SYNC_OUTBOX_LEASE": "1"}, "FHIR_SYNC_OUTBOX_LEASE must be at least 2 seconds"),
        ({"FHIR_SYNC_POLL_INTERVAL": "0"}, "FHIR_SYNC_POLL_INTERVAL must be more than 0"),
    ],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        LiveSection.from_env(environ)


def test_python_values_pass_the_same_checks() -> None:
    with pytest.raises(ValueError, match=r"^FHIR_SYNC_OUTBOX_MAX_ATTEMPTS must be 1 or more$"):
        LiveSection.checked(outbox_max_attempts=0)
