"""The pages that list a day's work are read and shown a page at a time (issue 13: every page
in under 100 ms with 10,000 enrolled patients; bench/webapp_pages.py measures it): the
worklist's pages together are the day's whole worklist in the same order, each group's counts
are the day's on every page, and the pickup sheet's pages together are every pickup once."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.engine.cycle_types import CycleItem, ItemKind
from fhir_sync.services.cycle_run import new_rows
from fhir_sync.services.worklist import day_worklist, day_worklist_page
from fhir_sync.store import cycle as store
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.webapp import pages
from tests.server.conftest import BACKENDS
from tests.server.databases import database
from tests.webapp.conftest import TODAY, sign_in

ITEM = re.compile(r'name="item_id" value="([^"]+)"')
NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
BAG = re.compile(r'<section class="bag">\s*<h2>[^<]*<span class="muted">\((pt-\d+)\)')


def _busiest_day(engine: Engine) -> date:
    days = [TODAY + timedelta(days=n) for n in range(-10, 30)]
    return max(days, key=lambda d: len(day_worklist(engine, d).entries))


def test_the_worklist_pages_together_are_the_days_worklist(demo_engine: Engine) -> None:
    day = _busiest_day(demo_engine)
    whole = day_worklist(demo_engine, day)
    assert len(whole.entries) >= 3, "the demo has a day with several items"
    seen = []
    first = day_worklist_page(demo_engine, day, page=1, size=2)
    assert first.total == len(whole.entries) and first.pages == -(-len(whole.entries) // 2)
    for number in range(1, first.pages + 1):
        page = day_worklist_page(demo_engine, day, page=number, size=2)
        assert len(page.entries) == (
            2 if number < first.pages else len(whole.entries) - 2 * (number - 1)
        )
        for group, whole_group in zip(page.groups, whole.groups, strict=True):
            assert group.name == whole_group.name
            assert group.total == len(whole_group.entries)
            assert group.open == sum(1 for e in whole_group.entries if e.state == "open")
        seen.extend(page.entries)
    assert seen == list(whole.entries)
    assert day_worklist_page(demo_engine, day, page=first.pages + 1, size=2).entries == ()


def test_today_shows_the_worklist_a_page_at_a_time(
    app_client: TestClient,
    demo_engine: Engine,
    passwords: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = _busiest_day(demo_engine)
    whole = day_worklist(demo_engine, day).entries
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    sign_in(app_client, "demo", passwords["demo"])
    articles = 0
    named: list[str] = []  # the items whose forms name them (calls, preparations, closing)
    number = 1
    while True:
        html = app_client.get(f"/app/today?date={day.isoformat()}&page={number}").text
        on_page = html.count('<article class="item')
        assert on_page == min(2, len(whole) - articles)
        articles += on_page
        named.extend(dict.fromkeys(ITEM.findall(html)))
        if "Next worklist page" not in html:
            break
        number += 1
    assert number == -(-len(whole) // 2) and articles == len(whole)
    assert named == [e.item_id for e in whole if e.item_id in named]  # the day's order
    counts = re.search(r'<a href="#g-calls"><strong>(\d+)</strong>', html)
    assert counts is not None
    assert int(counts.group(1)) == sum(1 for e in whole if e.group == "calls" and e.state == "open")


def test_an_action_on_a_later_worklist_page_comes_back_to_that_page(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    answer = app_client.post(
        "/app/today/close",
        data={"csrf": token, "day": TODAY.isoformat(), "page": "3", "item_id": "x:nothing:y"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/app/today?date={TODAY.isoformat()}&page=3"


def test_the_pickup_sheet_pages_together_are_every_pickup_once(
    app_client: TestClient, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(app_client, "demo", passwords["demo"])
    day = "2026-12-22"
    whole = BAG.findall(app_client.get(f"/app/pickups?date={day}").text)
    assert len(whole) >= 2, "the demo has several pickups on its last days"
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    paged = []
    for number in range(1, len(whole) + 2):
        html = app_client.get(f"/app/pickups?date={day}&page={number}").text
        paged.extend(BAG.findall(html))
        assert ("Next page" in html) == (number < len(whole))
    assert paged == whole


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worklist_page_is_read_in_group_order_on_both_databases(
    backend: str, tmp_path: Path
) -> None:
    """Items of every group stored out of order: the pages list the calls first, then the
    preparations, pickups, renewals and reviews (GROUPS), each group by identifier, and the
    counts are the day's, open and all."""
    day = date(2027, 3, 1)
    kinds = [
        ("p3", ItemKind.REVIEW),
        ("p1", ItemKind.PICKUP),
        ("p2", ItemKind.OUTREACH),
        ("p1", ItemKind.PREPARE),
        ("p1", ItemKind.OUTREACH),
        ("p2", ItemKind.RENEWAL_RESEND),
        ("p2", ItemKind.PICKUP),
    ]
    items = [
        CycleItem(f"{pid}:{kind.value}:{day.isoformat()}", pid, kind, day, day, "do it")
        for pid, kind in kinds
    ]
    with database(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            with write_transaction(engine) as connection:
                store.insert_new_items(connection, new_rows(items), NOW)
                store.close_item(connection, f"p2:pickup:{day.isoformat()}", NOW)
            pages_of = [day_worklist_page(engine, day, page=n, size=3) for n in (1, 2, 3)]
        finally:
            engine.dispose()
    order = [(e.patient_id, e.kind) for page in pages_of for e in page.entries]
    assert order == [
        ("p1", "outreach"),
        ("p2", "outreach"),
        ("p1", "prepare"),
        ("p1", "pickup"),
        ("p2", "pickup"),
        ("p2", "renewal-resend"),
        ("p3", "review"),
    ]
    assert [len(page.entries) for page in pages_of] == [3, 3, 1]
    counts = {g.name: (g.open, g.total) for g in pages_of[0].groups}
    assert counts == {
        "calls": (2, 2),
        "preparations": (1, 1),
        "pickups": (1, 2),  # p2's pickup is done
        "renewals": (1, 1),
        "reviews": (1, 1),
    }
    assert pages_of[0].pages == 3 and pages_of[0].total == 7


def test_the_patients_list_pages_by_id_forward_and_back(
    app_client: TestClient, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyset paging: Next is the page after the last id shown, Previous the page before the
    first; walking forward and back again shows the same pages, each id once."""
    monkeypatch.setattr(pages, "PAGE_SIZE", 4)
    sign_in(app_client, "demo", passwords["demo"])
    shown = []
    path: str | None = "/app/patients"
    walked: list[list[str]] = []
    while path is not None:
        html = app_client.get(path).text
        ids = re.findall(r"<td>(pt-[^<]+)</td>", html)
        walked.append(ids)
        shown.extend(ids)
        found = re.search(r'href="(/app/patients\?after=[^"]+)">Next page', html)
        path = found.group(1) if found else None
        assert len(walked) < 100
    assert shown == sorted(set(shown)) and shown
    assert len(walked) > 2 and all(len(ids) == 4 for ids in walked[:-1])
    if len(walked) > 1:
        back = re.search(r'href="(/app/patients\?before=[^"]+)">Previous page', html)
        assert back is not None
        assert re.findall(r"<td>(pt-[^<]+)</td>", app_client.get(back.group(1)).text) == walked[-2]
    first = app_client.get("/app/patients").text
    assert "Previous page" not in first
