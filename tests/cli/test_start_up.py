"""`fhir-sync plan` and `generate` work on files: their start-up (a fixed cost of every run)
must not load the server's stack. Checked by the modules a fresh interpreter has imported
after building the command line, not by timing."""

from __future__ import annotations

import subprocess
import sys

SERVER_STACK = ("sqlalchemy", "fastapi", "httpx", "jwt", "pydantic_settings", "uvicorn")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(output.split())


def test_the_plan_command_line_loads_no_server_package() -> None:
    loaded = _loaded_after(
        "import typer.main\n"
        "from fhir_sync.cli import app\n"
        "typer.main.get_command(app).get_command(None, 'plan')"
    )
    packages = {name.split(".")[0] for name in loaded}
    assert packages.isdisjoint(SERVER_STACK), sorted(packages & set(SERVER_STACK))
    assert "fhir_sync.cli.serve" not in loaded


def test_a_lazy_command_is_built_when_asked_for() -> None:
    loaded = _loaded_after(
        "import typer.main\n"
        "from fhir_sync.cli import app\n"
        "assert typer.main.get_command(app).get_command(None, 'serve') is not None"
    )
    assert "fhir_sync.cli.serve" in loaded
