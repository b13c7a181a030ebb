"""Where the embedded database lives when no URL is configured: one data directory, the same
for every command (`serve`, `worker`, `db`, `clients`, `outbox`), whatever folder it runs in.

`FHIR_SYNC_DATA_DIR` moves it; otherwise `$XDG_DATA_HOME/fhir-sync`, else
`~/.local/share/fhir-sync` (resolved by the settings tree, `StoreSection.data_directory`).
`FHIR_SYNC_DATABASE_URL` names another database altogether.
"""

from __future__ import annotations

from typing import Final

#: For the store's messages (the store sits below the settings tree, which declares it).
DATA_DIR_ENV: Final = "FHIR_SYNC_DATA_DIR"
DATABASE_FILE: Final = "fhir-sync.sqlite3"
