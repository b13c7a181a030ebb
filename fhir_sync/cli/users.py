"""`fhir-sync users add|list|disable|password`: the pharmacy staff who sign in to the web app
(/app). Passwords are asked for on the terminal (or read from standard input with
`--password-stdin`, for scripts), never taken as a flag that would stay in shell history."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fhir_sync.cli.clients import server_database, usage_error

users_app = typer.Typer(help="Web app users: pharmacists and technicians.", no_args_is_help=True)
out = Console()

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat the password", hide_input=True)
    if first != second:
        usage_error("the two passwords differ")
    return str(first)


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name (a-z, 0-9, '.', '_', '-').")],
    role: Annotated[
        str, typer.Option(help="pharmacist (everything) or technician (no enrollment changes).")
    ] = "technician",
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user (exit 2 when the name is taken or the password is too short)."""
    from fhir_sync.services.errors import StateConflictError
    from fhir_sync.services.staff_accounts import AccountError, Role, add_user

    try:
        chosen = Role(role.strip().lower())
    except ValueError:
        usage_error("--role is pharmacist or technician")
    password = _password(password_stdin)
    with server_database(create=True) as engine:
        try:
            staff = add_user(engine, username, chosen, password)
        except (AccountError, StateConflictError) as exc:
            usage_error(str(exc))
    out.print(f"user {staff.username} added ({staff.role.value})")


@users_app.command("list")
def list_command() -> None:
    """Users, their role and whether they are disabled or locked."""
    from datetime import UTC, datetime

    from fhir_sync.services.staff_accounts import users

    with server_database() as engine:
        rows = users(engine)
    if not rows:
        out.print("no users; add one with `fhir-sync users add NAME --role pharmacist`")
        return
    now = datetime.now(UTC)
    table = Table("user", "role", "state", "password changed (UTC)")
    for user in rows:
        locked = user.locked_until is not None and user.locked_until.replace(tzinfo=UTC) > now
        state = "disabled" if user.disabled else "locked" if locked else "active"
        table.add_row(
            user.username, user.role, state, user.password_changed_at.strftime("%Y-%m-%d %H:%M")
        )
    out.print(table)


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user; their open sessions end at once."""
    from fhir_sync.services.staff_accounts import AccountError, disable_user

    with server_database() as engine:
        try:
            disable_user(engine, username)
        except AccountError as exc:
            usage_error(str(exc))
    out.print(f"user {username} disabled")


@users_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; this also unlocks the account and ends its sessions."""
    from fhir_sync.services.staff_accounts import AccountError, set_password

    secret = _password(password_stdin)
    with server_database() as engine:
        try:
            set_password(engine, username, secret)
        except AccountError as exc:
            usage_error(str(exc))
    out.print(f"password of {username} changed")
