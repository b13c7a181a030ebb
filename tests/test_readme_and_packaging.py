"""What a new user reads first says what is true: how to run the tests, the plan synopsis,
the package metadata current pip accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readme_says_what_the_tests_need() -> None:
    start = README.index('pip install -e ".[dev]" && python -m pytest')
    nearby = README[start : start + 1200]
    for needed in ("127.0.0.1:5432", "../shared", "skipped", "FHIR_SYNC_TEST_POSTGRES_URL"):
        assert needed in nearby, needed


def test_every_plan_option_is_in_the_synopsis_and_the_table() -> None:
    section = README[README.index("## `fhir-sync plan`") : README.index("## `fhir-sync sync`")]
    synopsis = section[: section.index("| option |")]
    table = section[section.index("| option |") :]
    for option in ("--jobs", "--time-zone", "--pickup-hours", "--strict", "--pharmacy"):
        assert option in synopsis, option
        assert re.search(rf"\| `{option}[ `]", table), option


def test_the_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    requires = project["build-system"]["requires"]
    (setuptools,) = [r for r in requires if r.startswith("setuptools")]
    assert int(setuptools.split(">=")[1].split(".")[0]) >= 77  # SPDX license strings: 77+
