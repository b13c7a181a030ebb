"""The server database: tables, migrations, and the queries the server and workers run.

It knows SQL and the tables, not FHIR: callers hand it the bytes to serve and the values to
search by. `fhir_sync.store.migrate.upgrade` creates or updates the schema.

Its names are imported on first use, so that a light command (`fhir-sync plan`) that needs
one module of the package does not load all of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhir_sync.store.database import open_engine, read_transaction, write_transaction
    from fhir_sync.store.outbox import ClaimedWrite, claim_outbox, complete, enqueue, fail

_MODULES: dict[str, tuple[str, ...]] = {
    "fhir_sync.store.database": (
        "open_engine",
        "read_transaction",
        "write_transaction",
    ),
    "fhir_sync.store.outbox": (
        "ClaimedWrite",
        "claim_outbox",
        "complete",
        "enqueue",
        "fail",
    ),
}
_HOMES: dict[str, str] = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "ClaimedWrite",
    "claim_outbox",
    "complete",
    "enqueue",
    "fail",
    "open_engine",
    "read_transaction",
    "write_transaction",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
