"""One FHIR client per endpoint URL, shared by everything in a process that talks to it.

Sharing matters: the per-endpoint concurrency limit, the connection pool and the SMART token
cache live in the client, so live pulls, notifications and write-back workers together never
exceed what the endpoint's settings allow. Clients are made on first use, inside the running
event loop (an httpx pool belongs to the loop that made it), and closed with the app.
"""

from __future__ import annotations

import asyncio

import httpx

from adapters.http import FhirClient, new_http_client
from fhir_sync.services.live_settings import LiveSettings


class EndpointClients:
    def __init__(self, settings: LiveSettings) -> None:
        self._settings = settings
        self._clients: dict[str, FhirClient] = {}
        self._pools: list[httpx.AsyncClient] = []
        self._lock = asyncio.Lock()

    @property
    def settings(self) -> LiveSettings:
        return self._settings

    async def client(self, url: str) -> FhirClient:
        key = url.rstrip("/")
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(key)
            if client is None:
                endpoint = self._settings.endpoint(key)
                pool = new_http_client(endpoint)
                self._pools.append(pool)
                client = self._clients[key] = FhirClient(endpoint, pool)
        return client

    async def aclose(self) -> None:
        pools, self._pools, self._clients = self._pools, [], {}
        for pool in pools:
            await pool.aclose()
