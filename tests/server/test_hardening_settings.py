"""The settings that bound what the server accepts and shows, and the ids it derives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from fhir_sync.api.app import create_app
from fhir_sync.services.groups import payer_group_id
from fhir_sync.services.server_settings import DEFAULT_MAX_BODY_BYTES, ServerSettings

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_production_is_the_default_and_hides_the_api_docs() -> None:
    settings = ServerSettings.from_env({})
    assert settings.production
    assert not settings.api_docs
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("environ", "docs"),
    [
        ({"FHIR_SYNC_ENV": "development"}, True),
        ({"FHIR_SYNC_ENV": "Development "}, True),
        ({"FHIR_SYNC_ENV": "development", "FHIR_SYNC_API_DOCS": "0"}, False),
        ({"FHIR_SYNC_ENV": "production", "FHIR_SYNC_API_DOCS": "1"}, True),
        ({"FHIR_SYNC_API_DOCS": "auto"}, False),
    ],
)
def test_api_docs_follow_the_environment_unless_set(environ: dict[str, str], docs: bool) -> None:
    assert ServerSettings.from_env(environ).api_docs is docs


@pytest.mark.parametrize(
    "environ",
    [
        {"FHIR_SYNC_ENV": "staging"},
        {"FHIR_SYNC_API_DOCS": "maybe"},
        {"FHIR_SYNC_MAX_BODY_BYTES": "0"},
        {"FHIR_SYNC_MAX_BODY_BYTES": "4MiB"},
        {"FHIR_SYNC_MAX_BODY_BYTES": "\u00b2"},
    ],
)
def test_a_bad_setting_fails_the_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="FHIR_SYNC_"):
        ServerSettings.from_env(environ)


def test_the_body_limit_is_a_setting() -> None:
    assert ServerSettings.from_env({"FHIR_SYNC_MAX_BODY_BYTES": "1024"}).max_body_bytes == 1024


@pytest.mark.parametrize("docs", [True, False])
def test_docs_are_served_only_when_enabled(tmp_path: Path, docs: bool) -> None:
    settings = ServerSettings(
        database_url=f"sqlite:///{tmp_path / 'docs.sqlite3'}", api_docs=docs, production=not docs
    )
    with TestClient(create_app(settings)) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == (200 if docs else 404), path
        assert client.get("/fhir/metadata").status_code == 200


def test_readable_payer_group_ids_are_kept() -> None:
    assert payer_group_id("Organization/acme") == "payer-acme"
    assert payer_group_id("Organization/" + "a" * 58) == "payer-" + "a" * 58


@pytest.mark.parametrize(
    "payer",
    ["Organization/a b\x00c", "Organization/" + "p" * 188, "Organization/", "Organization/é"],
)
def test_other_payers_get_a_derived_id(payer: str) -> None:
    group_id = payer_group_id(payer)
    assert FHIR_ID.fullmatch(group_id), group_id
    assert group_id == payer_group_id(payer)  # stable: the same payer, the same Group


@given(st.text(max_size=300))
def test_every_payer_group_id_is_a_fhir_id(payer: str) -> None:
    assert FHIR_ID.fullmatch(payer_group_id("Organization/" + payer))
    assert FHIR_ID.fullmatch(payer_group_id(payer))
