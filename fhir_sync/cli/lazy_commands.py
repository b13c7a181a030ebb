"""The commands defined outside `cli/app.py`, imported only when one is run (or listed by
`--help`): `fhir-sync plan` then starts without loading the server, the HTTP client and the
database layer it never uses (start-up is a fixed cost of every run)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:  # typer 0.2x carries its own copy of click; these are its types
    from typer._click.core import Command, Context

#: Name -> (module, attribute): a command function or a `typer.Typer` group, in `--help` order
#: after the commands of `cli/app.py` (typer lists single commands before groups).
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "sync": ("fhir_sync.cli.sync", "sync"),
    "serve": ("fhir_sync.cli.serve", "serve"),
    "worker": ("fhir_sync.cli.worker", "worker"),
    "demo": ("fhir_sync.cli.demo", "demo"),
    "worklist": ("fhir_sync.cli.cycle", "worklist"),
    "db": ("fhir_sync.cli.serve", "db_app"),
    "clients": ("fhir_sync.cli.clients", "clients_app"),
    "outbox": ("fhir_sync.cli.outbox", "outbox_app"),
    "cycle": ("fhir_sync.cli.cycle", "cycle_app"),
    "users": ("fhir_sync.cli.users", "users_app"),
}


class LazyCommands(TyperGroup):
    """A typer group whose COMMANDS are built from their modules on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [
            *super().list_commands(ctx),
            *(name for name in COMMANDS if name not in self.commands),
        ]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(_build(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


def _build(name: str) -> Command:
    module, attribute = COMMANDS[name]
    found: Any = getattr(import_module(module), attribute)
    if isinstance(found, typer.Typer):
        group: Command = typer.main.get_group(found)
        group.name = name
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(found)
    return typer.main.get_command(single)
