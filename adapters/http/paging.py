"""Search result pages: splitting a searchset Bundle and finding the way to the next one.

Pages are the streaming unit: a population search never holds more than one page in memory,
and included resources (``_include``) travel with the page that referenced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from adapters.http.errors import FhirError
from adapters.http.media import Resource


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One searchset Bundle, split by ``entry.search.mode``.

    ``server_time`` is the Bundle's ``meta.lastUpdated`` (when the server ran the query), or the
    response ``Date`` header when the Bundle has none.
    """

    matches: list[Resource]
    included: list[Resource] = field(default_factory=list)
    outcomes: list[Resource] = field(default_factory=list)
    total: int | None = None
    next_url: str | None = None
    server_time: str | None = None


def parse_search_bundle(
    bundle: dict[str, Any], resource_type: str, *, server_time: str | None = None
) -> SearchPage:
    """Splits a searchset into matches, includes and outcomes.

    ``search.mode`` is optional in FHIR and some servers omit it; then an entry of the searched
    type is a match, an OperationOutcome is an outcome and anything else was included.
    """
    if bundle.get("resourceType") != "Bundle":
        raise FhirError(f"search of {resource_type} did not return a Bundle")
    matches: list[Resource] = []
    included: list[Resource] = []
    outcomes: list[Resource] = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if mode is None:
            kind = resource.get("resourceType")
            if kind == resource_type:
                mode = "match"
            elif kind == "OperationOutcome":
                mode = "outcome"
            else:
                mode = "include"
        {"match": matches, "include": included, "outcome": outcomes}.get(mode, included).append(
            resource
        )
    total = bundle.get("total")
    meta = bundle.get("meta")
    stamped = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return SearchPage(
        matches=matches,
        included=included,
        outcomes=outcomes,
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        next_url=link(bundle, "next"),
        server_time=stamped if isinstance(stamped, str) else server_time,
    )


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle.get("link") or []:
        if isinstance(item, dict) and item.get("relation") == relation:
            url = item.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def resolve_link(url: str, base_url: str, *, rewrite_origin: bool) -> str:
    """Makes a paging link absolute; optionally moves it onto our base URL's origin.

    Servers behind a reverse proxy often build links from their internal host name
    (``Quirk.REWRITE_LINK_ORIGIN``); the path and query are kept as the server wrote them.
    """
    absolute = urljoin(base_url + "/", url)
    if not rewrite_origin:
        return absolute
    ours, theirs = urlsplit(base_url), urlsplit(absolute)
    return urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, theirs.fragment))
