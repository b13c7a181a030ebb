"""How `--help` shows parameters: the value's name (`SOURCE...`, `DIR`, `YYYY-MM-DD`) rather
than the Python type behind it.

Typer prints every parameter's annotation (`<list[Path]>`, `<str>`, `<bool>`) beside it and
wraps required arguments in braces (`{sources}...`); that is noise to a pharmacist reading
the help. A parameter's `metavar` is shown when it has one, flags show nothing, and other
values show a plain type name (TEXT, INTEGER, PATH). `tests/cli/test_help.py` fails
if a Typer upgrade changes what these hooks are.
"""

from __future__ import annotations

from typing import Any

from typer import core


def _argument_type(_self: Any, ctx: Any = None) -> str | None:
    return None


def _argument_usage(self: Any) -> str:
    name = str(self.metavar or self.name).upper()
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if self.required else f"[{name}]"


_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "bool": ""}


def _option_type(self: Any, ctx: Any = None) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    if self.is_flag or self.count:
        return None
    shown = str(_ORIGINAL_OPTION_TYPE(self, ctx=ctx) or "").strip("<>.").removesuffix(" range")
    shown = shown.removeprefix("list[").removesuffix("]")
    return _NAMES.get(shown, shown.upper()) or None


_ORIGINAL_OPTION_TYPE = core.TyperOption.display_type


def install() -> None:
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
