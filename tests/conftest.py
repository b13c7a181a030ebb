"""Shared test fixtures: paths to the repo's fixtures and to ../shared beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = REPO / "fixtures"
REQUIRED = bool(os.environ.get("FHIR_SYNC_REQUIRE_INTEGRATION"))


def shared_data(name: str) -> Path:
    """A data set from ../shared/data; skips on a developer machine without it, fails in CI."""
    path = SHARED / "data" / name
    if not path.is_dir():
        if REQUIRED:
            pytest.fail(f"{path} is missing and FHIR_SYNC_REQUIRE_INTEGRATION is set")
        pytest.skip(f"{path} is not available")
    return path
