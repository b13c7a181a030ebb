"""The settings tree: every section, read from one mapping, and the README table made from
the declarations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

from fhir_sync.settings import sections as s
from fhir_sync.settings.base import Section

#: The sections in the README's order.
SECTIONS: Final[tuple[type[Section], ...]] = (
    s.StoreSection,
    s.ServerSection,
    s.EdgeSection,
    s.LiveSection,
    s.WorkerSection,
    s.AppSection,
)


class FhirSyncSettings(BaseModel):
    """Everything a `serve` or `worker` process is configured with, checked at once."""

    model_config = ConfigDict(frozen=True)

    store: s.StoreSection
    server: s.ServerSection
    edge: s.EdgeSection
    live: s.LiveSection
    worker: s.WorkerSection
    app: s.AppSection

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FhirSyncSettings:
        return cls(**{section.section: section.from_env(environ) for section in SECTIONS})


def declared_variables() -> dict[str, FieldInfo]:
    """Every FHIR_SYNC_* variable of the tree, in the README's order."""
    found: dict[str, FieldInfo] = {}
    for section in SECTIONS:
        for name, field in section.variables().items():
            if name in found:
                raise AssertionError(f"{name} is declared twice")
            found[name] = field
    return found


def readme_table() -> str:
    """The README's table of server variables, from the declarations."""
    lines = ["| environment variable | meaning | default |", "|---|---|---|"]
    for name, field in declared_variables().items():
        extra = field.json_schema_extra
        shown = extra.get("shown") if isinstance(extra, dict) else None
        lines.append(f"| `{name}` | {field.description} | {shown or _literal(field.default)} |")
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"
