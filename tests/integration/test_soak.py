"""The soak benchmark, short: mixed load with one SIGKILL and restart on each database must
give no 5xx, come back up, and deliver everything queued before the kill (`python -m
bench.soak --seconds 600` is the full run; the README has its figures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.soak import soak
from tests.server.databases import ADMIN_URL

SECONDS = float(os.environ.get("FHIR_SYNC_SOAK_SECONDS", "10"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_short_soak_with_a_kill(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        pytest.importorskip("psycopg")
    figures = soak(
        backend, tmp_path, seconds=SECONDS, clients=3, postgres_url=ADMIN_URL, outbox_lease=5
    )
    assert figures["5xx"] == 0, figures["first 5xx"]
    assert figures["requests"] > 0
    assert figures["outbox drained s after restart"] is not None, figures
