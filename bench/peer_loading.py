"""Loading FHIR test data into a server fast: large transactions of PUTs by id.

Shared by the sync benchmark and the integration tests. PUT by id (update-as-create) keeps
the ids the data was generated with, so orders on an EHR and fills on a pharmacy name the same
patients and prescriptions; a few hundred resources per transaction turn thousands of round
trips into a handful.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson

BATCH = 500
Resource = dict[str, Any]


def put_entry(resource: Resource) -> Resource:
    kind, rid = resource["resourceType"], resource["id"]
    return {"resource": resource, "request": {"method": "PUT", "url": f"{kind}/{rid}"}}


def batches(resources: Iterable[Resource], size: int = BATCH) -> Iterator[list[Resource]]:
    it = iter(resources)
    while chunk := list(islice(it, size)):
        yield chunk


def load_resources(
    base_url: str,
    resources: Iterable[Resource],
    *,
    batch: int = BATCH,
    timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
) -> int:
    """PUTs every resource (each needs an id) in transactions of `batch`; returns the count.

    `headers` go with every request (an Authorization header for a protected server).
    """
    loaded = 0
    with httpx.Client(timeout=timeout, headers=dict(headers or {})) as http:
        for chunk in batches(resources, batch):
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [put_entry(r) for r in chunk],
            }
            response = http.post(
                base_url,
                content=orjson.dumps(bundle),
                headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"loading {len(chunk)} resources failed: HTTP {response.status_code}"
                    f" {response.text[:500]}"
                )
            loaded += len(chunk)
    return loaded


def store_resources(db_path: Path, resources: Iterable[Resource], *, batch: int = 2000) -> int:
    """Writes every resource into a sekmet-fhir database file through sekmet's own store, the
    call its PUT handler makes once a body is validated; returns the count.

    For populations too large to send over HTTP in a benchmark's time: the rows, versions and
    search index are the ones a PUT would write. Start the server on the file afterwards.
    """
    from sekmet.fhir.store import Store  # the peer's own code, a test dependency

    store = Store(str(db_path))
    loaded = 0
    try:
        for chunk in batches(resources, batch):
            with store.transaction():
                for resource in chunk:
                    store.update(resource, origin="external")
            loaded += len(chunk)
    finally:
        store.conn.close()
    return loaded


def ndjson_resources(path: Path, types: Iterable[str] | None = None) -> Iterator[Resource]:
    """Every resource of an NDJSON file (or a folder of them), optionally of some types only."""
    wanted = set(types) if types is not None else None
    files = sorted(path.glob("*.ndjson")) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as lines:
            for line in lines:
                if line.strip():
                    resource = orjson.loads(line)
                    if wanted is None or resource["resourceType"] in wanted:
                        yield resource
