"""The engine stays pure: standard library only, no clock, no I/O."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "fhir_sync" / "engine"
FORBIDDEN_CALLS = {"today", "now", "utcnow", "open", "time", "print", "getenv"}


def _modules() -> list[Path]:
    return sorted(ENGINE.glob("*.py"))


def test_engine_imports_only_the_standard_library_and_itself() -> None:
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or name.startswith("fhir_sync.engine")
                assert ok, f"{path.name} imports {name}"


def test_engine_reads_no_clock_and_does_no_io() -> None:
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in FORBIDDEN_CALLS, f"{path.name} calls {name}()"
