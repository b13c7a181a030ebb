"""The server database: tables, migrations, and the queries the server and workers run.

It knows SQL and the tables, not FHIR: callers hand it the bytes to serve and the values to
search by. `fhir_sync.store.migrate.upgrade` creates or updates the schema.
"""

from fhir_sync.store.database import (
    open_engine,
    read_transaction,
    write_transaction,
)
from fhir_sync.store.outbox import ClaimedWrite, claim_outbox, complete, enqueue, fail

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
