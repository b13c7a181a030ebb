"""The `fhir-sync` command line: every command, and the only package that draws with rich or
parses flags with typer (output.py: progress and tables; values.py: value parsing)."""

from fhir_sync.cli.app import app, main

__all__ = ["app", "main"]
