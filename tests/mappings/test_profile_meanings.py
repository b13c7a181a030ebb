"""What the sync-plan profile says to a reader: an order fhir-sync does not schedule is not
an order someone prohibited (doNotPerform is a modifier element in R4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.engine.types import Exclusion
from mappings.exclusion_codes import EXCLUSION_DISPLAY
from mappings.profile import CS_SYNC_EXCLUSION
from tests.conftest import FIXTURES, shared_data

PROFILE = Path(__file__).parents[2] / "docs" / "sync-plan-profile.md"


def _activities(source: Path, out: Path, today: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["plan", str(source), "--out", str(out), "--today", today])
    assert result.exit_code in (0, 1), result.output
    return [
        activity["detail"]
        for path in sorted(out.glob("*.json"))
        for entry in orjson.loads(path.read_bytes())["entry"]
        if entry["resource"]["resourceType"] == "CarePlan"
        for activity in entry["resource"].get("activity", [])
        if "detail" in activity
    ]


def _check(details: list[dict[str, Any]]) -> None:
    not_synced = [d for d in details if d["status"] != "scheduled"]
    assert not_synced, "the data has orders fhir-sync leaves out"
    # fhir-sync prohibits nothing: no activity may carry doNotPerform true.
    assert all(d.get("doNotPerform") is not True for d in details)
    for detail in not_synced:
        assert detail["status"] == "not-started"
        (coding,) = detail["statusReason"]["coding"]
        assert coding["system"] == CS_SYNC_EXCLUSION
        assert coding["code"] in {str(e) for e in Exclusion}
        assert detail["statusReason"]["text"]
    for detail in details:
        if detail["status"] == "scheduled":
            assert "statusReason" not in detail


def test_demo_plans_never_say_do_not_perform(tmp_path: Path) -> None:
    _check(_activities(FIXTURES / "demo", tmp_path, "2026-11-22"))


@pytest.mark.parametrize("name", ["synthea-r4", "clinosim-r4"])
def test_real_data_plans_never_say_do_not_perform(tmp_path: Path, name: str) -> None:
    today = "2019-06-01" if name == "synthea-r4" else "2025-06-01"
    _check(_activities(shared_data(name), tmp_path, today))


def test_every_exclusion_code_has_words_and_is_in_the_profile() -> None:
    document = PROFILE.read_text(encoding="utf-8")
    assert set(EXCLUSION_DISPLAY) == set(Exclusion)
    for exclusion, display in EXCLUSION_DISPLAY.items():
        assert f"| `{exclusion}` | {display} |" in document, exclusion
    assert "version 2" in document and "doNotPerform" in document
