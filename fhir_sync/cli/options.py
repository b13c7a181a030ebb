"""Typer options that several command parameters declare alike.

A fill or cycle setting given on the command line takes its help from the setting's own
definition (fhir_sync/fill_settings.py), so `--help` and the settings' documentation cannot
drift apart; it has no default to show, because leaving it out means "the setting's value".
"""

from __future__ import annotations

from typing import Any

import typer


def setting_option(key: str, *, help_suffix: str = "") -> Any:
    """The option of the fill setting `key` (an `Annotated` metadata item)."""
    from fhir_sync.fill_settings import BY_KEY

    return typer.Option(help=BY_KEY[key].help + help_suffix, show_default=False)
