"""Bundles assembled from stored bytes: a search page is the stored resources spliced into a
Bundle skeleton, never parsed and re-serialized."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlencode

from fhir_sync.api.fhirjson import dumps
from fhir_sync.services.indexing import JsonObject

Found = tuple[str, str, bytes]  # (resource type, id, body)


def search_url(
    base: str,
    resource_type: str,
    used: Sequence[tuple[str, str]],
    count: int,
    cursor: str | None = None,
) -> str:
    """A search's self link, or with the keyset `cursor` its next link: the parameters the
    server used, then the page size."""
    pairs = [pair for pair in used if pair[0] != "_count"]
    pairs.append(("_count", str(count)))
    if cursor is not None:
        pairs.append(("_cursor", cursor))
    return f"{base}/{resource_type}?{urlencode(pairs)}"


def searchset(
    base: str,
    *,
    self_url: str,
    next_url: str | None,
    matches: Sequence[Found],
    included: Sequence[Found] = (),
    total: int | None = None,
) -> bytes:
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    head: JsonObject = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        head["total"] = total
    head["link"] = links
    entries = [_entry(base, found, b"match") for found in matches]
    entries += [_entry(base, found, b"include") for found in included]
    if not entries:
        return dumps(head)
    return dumps(head)[:-1] + b',"entry":[' + b",".join(entries) + b"]}"


class PagedSearch(Protocol):
    """A parsed search as its links need it: the parameters that took effect, the page size."""

    @property
    def used(self) -> Sequence[tuple[str, str]]: ...

    @property
    def count(self) -> int: ...


def searchset_page(
    base: str,
    resource_type: str,
    search: PagedSearch,
    *,
    matches: Sequence[Found] = (),
    following: str | None = None,
    included: Sequence[Found] = (),
    total: int | None = None,
) -> bytes:
    """A page of a keyset search with its self link and, when `following` (the cursor: the
    last id of this page) says another page follows, its next link."""
    used, count = search.used, search.count
    return searchset(
        base,
        self_url=search_url(base, resource_type, used, count),
        next_url=search_url(base, resource_type, used, count, following) if following else None,
        matches=matches,
        included=included,
        total=total,
    )


def collection(base: str, resources: Sequence[JsonObject]) -> bytes:
    """An operation's result: the resources as stored, with their fullUrls."""
    return dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                for r in resources
            ],
        }
    )


def _entry(base: str, found: Found, mode: bytes) -> bytes:
    kind, rid, body = found
    url = dumps(f"{base}/{kind}/{rid}")
    return b'{"fullUrl":' + url + b',"resource":' + body + b',"search":{"mode":"' + mode + b'"}}'
