"""What the authorizer needs to know about registered clients on every request, from a copy
refreshed every few seconds instead of a database query per request.

It answers two questions: is this token's client still registered, enabled and in the role the
token says (so `fhir-sync clients remove`, run in another process, takes effect within
`refresh` seconds rather than when the client's last token expires); and was any client ever
registered (the default `auto` mode enforces tokens from then on).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from fhir_sync.store.clients import (
    ActiveClient,
    active_client,
    active_clients,
    any_client_registered,
    get_client,
)
from fhir_sync.store.database import read_transaction

_MISS_RECHECK = 1.0  # seconds between lookups of one client the copy lacks


class ClientDirectory:
    def __init__(
        self, engine: Engine, *, refresh: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._refresh = refresh
        self._clock = clock
        self._active: dict[str, ActiveClient] = {}
        self._any_registered = False
        self._missed: dict[str, float] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def active(self, client_id: str) -> ActiveClient | None:
        """The client if registered and enabled. A client the copy lacks may have been
        registered since it was made (tokens are issued to registered clients only, by any
        process), so a miss looks the one client up, at most once a second per client."""
        self._maybe_reload()
        found = self._active.get(client_id)
        if found is not None:
            return found
        now = self._clock()
        if now - self._missed.get(client_id, -_MISS_RECHECK) < _MISS_RECHECK:
            return None
        self._missed[client_id] = now
        return self.lookup(client_id)

    def lookup(self, client_id: str) -> ActiveClient | None:
        """The client as the database has it now (the copy updated)."""
        with read_transaction(self._engine) as connection:
            client = get_client(connection, client_id)
        if client is None or client.disabled:
            return None
        found = active_client(client)
        self._active = {**self._active, client_id: found}
        return found

    def any_registered(self) -> bool:
        self._maybe_reload()
        return self._any_registered

    def reload(self) -> None:
        with read_transaction(self._engine) as connection:
            active = active_clients(connection)
            registered = bool(active) or any_client_registered(connection)
        self._active, self._any_registered = active, registered
        self._loaded_at = self._clock()

    def _maybe_reload(self) -> None:
        loaded_at = self._loaded_at
        if loaded_at is not None and self._clock() - loaded_at < self._refresh:
            return
        # One thread reloads; the others keep answering from the copy they have (if any).
        if self._lock.acquire(blocking=loaded_at is None):
            try:
                if self._loaded_at == loaded_at:
                    self.reload()
            finally:
                self._lock.release()
