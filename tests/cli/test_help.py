"""Every command's `--help` names values in words, never Python types or braces."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app

COMMANDS = [
    ["plan"], ["generate"], ["sync"], ["serve"], ["worker"],
    ["db", "upgrade"], ["db", "current"], ["db", "check"],
    ["clients", "add"], ["clients", "list"], ["clients", "remove"],
    ["outbox", "status"], ["outbox", "dead"], ["outbox", "retry"],
]  # fmt: skip
TYPE_TAG = re.compile(r"<(list\[|str>|int|bool>|path>|float>|Path>)")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_no_type_tags_or_braces(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not TYPE_TAG.search(result.output), result.output
    assert "{" not in result.output and "}" not in result.output, result.output


def test_plan_usage_line_and_jobs() -> None:
    output = CliRunner().invoke(app, ["plan", "--help"], env={"COLUMNS": "200"}).output
    assert "plan [OPTIONS] SOURCES..." in output
    assert "--jobs" in output
