"""Incremental pulls: keyset paging never skips a resource, and the cursor rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from http_fakes import BASE

from adapters.http import FhirClient, Quirk
from adapters.http.media import format_instant, parse_instant

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> str:
    return format_instant(T0 + timedelta(seconds=seconds))


class FakeServer:
    """Just enough FHIR search for _lastUpdated gt/ge, _sort=_lastUpdated, _count, _offset.

    Sorting is by (lastUpdated, write sequence), like a real server; an update gets a new
    stamp and moves to the end, which is what makes offset paging lose rows.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.now = now
        self.queries: list[list[tuple[str, str]]] = []
        self.after_response: Callable[[int], None] = lambda n: None

    def write(self, rid: str, stamp: float) -> None:
        self.seq += 1
        old = self.rows.get(rid)
        version = str(int(old["meta"]["versionId"]) + 1) if old else "1"
        self.rows[rid] = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "meta": {"versionId": version, "lastUpdated": at(stamp)},
            "_seq": self.seq,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = list(request.url.params.multi_items())
        self.queries.append(params)
        rows = list(self.rows.values())
        for name, value in params:
            if name == "_lastUpdated":
                op, bound = value[:2], parse_instant(value[2:])
                assert bound is not None
                rows = [
                    r
                    for r in rows
                    if (lambda t: t > bound if op == "gt" else t >= bound)(
                        parse_instant(r["meta"]["lastUpdated"])
                    )
                ]
        if ("_sort", "_lastUpdated") in params:
            rows.sort(key=lambda r: (r["meta"]["lastUpdated"], r["_seq"]))
        else:
            rows.sort(key=lambda r: r["_seq"])
        values = dict(params)
        count, offset = int(values.get("_count", 20)), int(values.get("_offset", 0))
        chunk = rows[offset : offset + count]
        links = []
        if offset + count < len(rows):
            rest = [(k, v) for k, v in params if k != "_offset"] + [
                ("_offset", str(offset + count))
            ]
            links.append({"relation": "next", "url": f"{BASE}/MedicationRequest?{urlencode(rest)}"})
        body = {
            "resourceType": "Bundle",
            "type": "searchset",
            "meta": {"lastUpdated": at(self.now)},
            "link": links,
            "entry": [
                {
                    "resource": {k: v for k, v in r.items() if k != "_seq"},
                    "search": {"mode": "match"},
                }
                for r in chunk
            ],
        }
        self.after_response(len(self.queries))
        return httpx.Response(200, json=body)


@pytest.fixture
def server(mock: respx.MockRouter) -> FakeServer:
    fake = FakeServer()
    mock.get(url__startswith=f"{BASE}/MedicationRequest").mock(side_effect=fake)
    return fake


async def collect(
    client: FhirClient, since: str | None
) -> tuple[list[tuple[str, str]], str | None]:
    pull = client.pull_since("MedicationRequest", since, {"status": "active"}, count=2)
    seen = [(r["id"], r["meta"]["versionId"]) async for page in pull for r in page.matches]
    return seen, pull.cursor


async def test_update_during_pull_skips_nothing(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(1, 7):
        server.write(f"r{i}", 100 + i)

    def update_r1_after_first_page(responses: int) -> None:
        if responses == 1:
            server.write("r1", 500)

    server.after_response = update_r1_after_first_page

    seen, _ = await collect(make_client(), at(0))

    assert {rid for rid, _ in seen} == {f"r{i}" for i in range(1, 7)}
    assert ("r1", "1") in seen and ("r1", "2") in seen
    assert len(seen) == len(set(seen))  # the boundary row of each page is not repeated


async def test_offset_paging_fallback_can_skip_which_is_why_keyset_exists(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(1, 7):
        server.write(f"r{i}", 100 + i)
    server.after_response = lambda n: server.write("r1", 500) if n == 1 else None
    client = make_client(quirks=frozenset({Quirk.NO_SORT_BY_LAST_UPDATED}))

    seen, _ = await collect(client, at(0))

    assert "r3" not in {rid for rid, _ in seen}  # the documented hazard of offset paging


async def test_queries_use_gt_cursor_then_ge_keyset_bounds(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(1, 6):
        server.write(f"r{i}", 100 + i)

    await collect(make_client(), at(0))

    bounds = [dict(q).get("_lastUpdated") for q in server.queries]
    # ge re-reads the boundary row (deduplicated): the price of not losing ties at the bound
    assert bounds == [f"gt{at(0)}", f"ge{at(102)}", f"ge{at(103)}", f"ge{at(104)}"]
    assert all(("_sort", "_lastUpdated") in q and ("status", "active") in q for q in server.queries)


async def test_cursor_is_max_seen_when_older_than_server_time_minus_overlap(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(1, 4):
        server.write(f"r{i}", 100 + i)

    _, cursor = await collect(make_client(cursor_overlap=2.0), at(0))

    assert cursor == at(103)


async def test_cursor_stays_behind_server_time_by_the_overlap(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    server.now = 104.5
    for i in range(1, 4):
        server.write(f"r{i}", 102 + i)  # r3 stamped 105: later than the query started

    _, cursor = await collect(make_client(cursor_overlap=2.0), at(0))

    assert cursor == at(102.5)


async def test_cursor_unchanged_when_nothing_is_new(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    server.write("old", 50)

    seen, cursor = await collect(make_client(), at(60))

    assert seen == []
    assert cursor == at(60)


async def test_ties_larger_than_a_page_fall_back_to_next_links(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(5):
        server.write(f"t{i}", 200)
    server.write("later", 201)

    seen, cursor = await collect(make_client(), None)

    assert sorted(rid for rid, _ in seen) == ["later", "t0", "t1", "t2", "t3", "t4"]
    assert len(seen) == 6
    assert cursor == at(201)


async def test_cursor_only_after_the_last_page(
    server: FakeServer, make_client: Callable[..., FhirClient]
) -> None:
    for i in range(1, 5):
        server.write(f"r{i}", 100 + i)
    pull = make_client().pull_since("MedicationRequest", None, count=2)
    pages = aiter(pull)
    await anext(pages)

    with pytest.raises(RuntimeError):
        _ = pull.cursor
    with pytest.raises(RuntimeError):
        aiter(pull)


async def test_pull_rejects_parameters_it_controls(make_client: Callable[..., FhirClient]) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="_sort"):
        client.pull_since("MedicationRequest", None, {"_sort": "-date"})
    with pytest.raises(ValueError, match="instant"):
        client.pull_since("MedicationRequest", "yesterday")
