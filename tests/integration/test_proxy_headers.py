"""What a real `fhir-sync serve` believes about its own URL: never the Host header, forwarded
headers only from FHIR_SYNC_TRUSTED_PROXIES, and it says at start which URL it answers to (and
refuses to start in declared production without one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.databases import sqlite_database

from .server_support import fhir_sync_env, serving

SPOOFED = {"Host": "attacker.example", "X-Forwarded-Proto": "https"}


def links(base_url: str) -> list[str]:
    response = httpx.get(f"{base_url}/CarePlan", headers=SPOOFED, timeout=10)
    assert response.status_code == 200, response.text
    return [link["url"] for link in response.json()["link"]]


def test_links_follow_neither_host_nor_untrusted_forwarded_headers(tmp_path: Path) -> None:
    with sqlite_database(tmp_path) as url, serving(tmp_path, fhir_sync_env(url)) as server:
        own = f"http://127.0.0.1:{server.port}/fhir/"
        assert all(link.startswith(own) for link in links(server.base_url))
    assert "FHIR_SYNC_PUBLIC_URL is not set" in server.log_path.read_text()


def test_a_trusted_proxy_sets_the_scheme(tmp_path: Path) -> None:
    env = fhir_sync_env("", FHIR_SYNC_TRUSTED_PROXIES="127.0.0.1")
    with sqlite_database(tmp_path) as url:
        env["FHIR_SYNC_DATABASE_URL"] = url
        with serving(tmp_path, env) as server:
            own = f"https://127.0.0.1:{server.port}/fhir/"
            assert all(link.startswith(own) for link in links(server.base_url))


def test_production_needs_the_public_url(tmp_path: Path) -> None:
    with sqlite_database(tmp_path) as url:
        env = fhir_sync_env(url, FHIR_SYNC_ENV="production")
        env.pop("FHIR_SYNC_PUBLIC_URL", None)
        result = subprocess.run(
            [sys.executable, "-m", "fhir_sync", "serve", "--port", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "FHIR_SYNC_PUBLIC_URL must be set in production" in result.stderr
