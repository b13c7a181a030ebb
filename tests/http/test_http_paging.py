"""Search paging: following next links, streaming pages, include vs. match entries."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx
from http_fakes import BASE, bundle, med_request

from adapters.http import FhirClient, FhirError, Quirk
from adapters.http.paging import parse_search_bundle, resolve_link

pytestmark = pytest.mark.anyio


async def test_follows_three_pages_and_stops_without_next_link(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    page2 = f"{BASE}/MedicationRequest?status=active&_count=2&_offset=2"
    page3 = f"{BASE}/MedicationRequest?status=active&_count=2&_offset=4"
    first = mock.get(f"{BASE}/MedicationRequest", params__eq={"status": "active", "_count": "2"})
    first.respond(json=bundle([med_request("a"), med_request("b")], next_url=page2, total=5))
    second = mock.get(page2).respond(
        json=bundle([med_request("c"), med_request("d")], next_url=page3)
    )
    third = mock.get(page3).respond(json=bundle([med_request("e")]))
    client = make_client()

    ids = [r["id"] async for r in client.search("MedicationRequest", {"status": "active"}, count=2)]

    assert ids == ["a", "b", "c", "d", "e"]
    assert first.call_count == second.call_count == third.call_count == 1
    assert len(mock.calls) == 3


async def test_pages_stream_one_at_a_time(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    page2 = f"{BASE}/Patient?_offset=1"
    second = mock.get(page2).respond(json=bundle([{"resourceType": "Patient", "id": "2"}]))
    mock.get(f"{BASE}/Patient").respond(
        json=bundle([{"resourceType": "Patient", "id": "1"}], next_url=page2)
    )
    pages = make_client().search_pages("Patient")

    first_page = await anext(pages)

    assert [r["id"] for r in first_page.matches] == ["1"]
    assert second.call_count == 0  # nothing fetched ahead of the consumer
    assert [r["id"] for r in (await anext(pages)).matches] == ["2"]
    with pytest.raises(StopAsyncIteration):
        await anext(pages)


async def test_sends_fhir_accept_strict_handling_and_default_count(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/Patient").respond(json=bundle([]))

    [_ async for _ in make_client(page_size=50).search("Patient", [("name", "x")])]

    request = route.calls.last.request
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.headers["Prefer"] == "handling=strict"
    assert list(request.url.params.multi_items()) == [("name", "x"), ("_count", "50")]


async def test_no_strict_handling_quirk_drops_prefer(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/Patient").respond(json=bundle([]))

    [_ async for _ in make_client(quirks=frozenset({Quirk.NO_STRICT_HANDLING})).search("Patient")]

    assert "Prefer" not in route.calls.last.request.headers


async def test_medication_requests_include_medication_separately(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    medication = {"resourceType": "Medication", "id": "m1"}
    route = mock.get(f"{BASE}/MedicationRequest").respond(
        json=bundle([med_request("r1")], included=[medication])
    )

    pages = [p async for p in make_client().medication_requests("Patient/p1")]

    assert [r["id"] for r in pages[0].matches] == ["r1"]
    assert pages[0].included == [medication]
    params = list(route.calls.last.request.url.params.multi_items())
    assert params == [
        ("patient", "Patient/p1"),
        ("status", "active,on-hold"),
        ("_include", "MedicationRequest:medication"),
    ]


async def test_dispense_search_by_handover_date(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    from datetime import date

    route = mock.get(f"{BASE}/MedicationDispense").respond(json=bundle([]))

    [_ async for _ in make_client().medication_dispenses("p1", handed_over_since=date(2024, 3, 1))]

    params = dict(route.calls.last.request.url.params)
    assert params == {"patient": "p1", "whenhandedover": "ge2024-03-01"}


async def test_repeated_next_link_is_an_error_not_an_endless_loop(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    loop = f"{BASE}/Patient?page=2"
    mock.get(f"{BASE}/Patient", params={"page": "2"}).respond(json=bundle([], next_url=loop))
    mock.get(f"{BASE}/Patient").respond(json=bundle([], next_url=loop))

    with pytest.raises(FhirError, match="repeated a next link"):
        [_ async for _ in make_client().search("Patient")]


async def test_rewrite_link_origin_quirk(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    internal = "http://10.0.0.5:8080/fhir/Patient?_offset=1"
    rewritten = mock.get(f"{BASE}/Patient?_offset=1").respond(json=bundle([]))
    mock.get(f"{BASE}/Patient").respond(json=bundle([], next_url=internal))
    client = make_client(quirks=frozenset({Quirk.REWRITE_LINK_ORIGIN}))

    [_ async for _ in client.search("Patient")]

    assert rewritten.call_count == 1


async def test_next_link_to_foreign_origin_gets_no_token(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    from adapters.http import StaticBearer

    foreign = "https://elsewhere.example.test/fhir/Patient?_offset=1"
    own = mock.get(f"{BASE}/Patient").respond(json=bundle([], next_url=foreign))
    other = mock.get(foreign).respond(json=bundle([]))

    [_ async for _ in make_client(auth=StaticBearer("t0ken")).search("Patient")]

    assert own.calls.last.request.headers["Authorization"] == "Bearer t0ken"
    assert "Authorization" not in other.calls.last.request.headers


def test_entries_without_search_mode_are_classified_by_type() -> None:
    doc = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": "1"}},
            {"resource": {"resourceType": "Medication", "id": "m"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": []}},
        ],
        "link": [{"relation": "next", "url": "n"}],
        "total": 1,
    }

    page = parse_search_bundle(doc, "MedicationRequest")

    assert [r["id"] for r in page.matches] == ["1"]
    assert [r["id"] for r in page.included] == ["m"]
    assert len(page.outcomes) == 1
    assert (page.total, page.next_url) == (1, "n")


def test_relative_links_resolve_against_base() -> None:
    assert (
        resolve_link("Patient?_offset=2", BASE, rewrite_origin=False) == f"{BASE}/Patient?_offset=2"
    )
    assert resolve_link(f"{BASE}/Patient?x=1", BASE, rewrite_origin=False) == f"{BASE}/Patient?x=1"


async def test_non_bundle_search_response_is_an_error(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/Patient").mock(
        return_value=httpx.Response(200, json={"resourceType": "Patient"})
    )

    with pytest.raises(FhirError, match="did not return a Bundle"):
        [_ async for _ in make_client().search("Patient")]
