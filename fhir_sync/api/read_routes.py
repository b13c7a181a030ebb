"""Read and search: stored bytes out, no validation and no JSON parsing on the way.

(No `from __future__ import annotations` here: FastAPI must evaluate the route signatures,
whose dependencies close over local variables.)

Searches run in one read transaction, so a page and its includes are one snapshot.

Reads and light searches (a page of at most INLINE_COUNT, no includes, no count) run on the
event loop, database call and all: the store answers them in well under a millisecond, less
than a hop to the thread pool and back costs (measured: about a third of a read's CPU).
Heavier searches still go to the pool, so that one of them cannot hold up every other request.
"""

from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.audit import note_disclosed
from fhir_sync.api.auth import Caller, require_scope, tokens_enforced
from fhir_sync.api.bundles import Found, searchset_page
from fhir_sync.api.capability import capability_statement, smart_configuration
from fhir_sync.api.context import (
    AsyncReadsOf,
    Database,
    engine_of,
    fhir_base,
    root_url,
    settings_of,
)
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import dumps, fhir_response
from fhir_sync.api.search_request import (
    ID_PATTERN,
    SearchRequest,
    parse_search,
    wants_strict,
)
from fhir_sync.services.fhir_dates import http_date
from fhir_sync.services.groups import payer_group
from fhir_sync.store.database import read_transaction, single_statement
from fhir_sync.store.enrollments import get_payer_group, payer_groups, payer_members
from fhir_sync.store.resources import fetch_resource
from fhir_sync.store.search import (
    ColumnIn,
    ResourceQuery,
    TokenIn,
    TokenValue,
    count_matches,
    read_bodies,
    referencing,
    search_page,
    token_codes,
)
from fhir_sync.store.tables import PayerGroup
from mappings.kinds import KINDS, STORED_TYPES

PHARMACY = "pharmacy"  # the role that reads every stored resource (api/security/scopes.py)

router = APIRouter()

INLINE_COUNT = 100


@router.get("/fhir/metadata")
def metadata(request: Request) -> Response:
    return fhir_response(capability_statement(fhir_base(request)))


@router.get("/.well-known/smart-configuration")
def smart_config(request: Request) -> Response:
    body = smart_configuration(root_url(request), auth_required=tokens_enforced(request))
    return Response(content=dumps(body), media_type="application/json")


def _read(kind: str, scope: str) -> None:
    @router.get(f"/fhir/{kind}/{{resource_id}}", name=f"read {kind}")
    async def read(
        request: Request,
        database: Database,
        reads: AsyncReadsOf,
        resource_id: str,
        caller: Annotated[Caller, Depends(require_scope(scope))],
    ) -> Response:
        if not ID_PATTERN.fullmatch(resource_id):
            raise FhirError(404, f"{kind}/{resource_id[:64]} is not a valid id")
        if reads is not None:
            served = await reads.fetch_resource(kind, resource_id)
        else:
            served = fetch_resource(database, kind, resource_id)
        if (
            served is None
            or (caller.payer is not None and served.payer != caller.payer)
            or not _shared_with(caller, kind, served.body)
        ):
            raise FhirError(404, f"{kind}/{resource_id} is not known")
        etag = f'W/"{served.version_id}"'
        headers = {"ETag": etag, "Last-Modified": http_date(served.last_updated)}
        if_none_match = request.headers.get("if-none-match")  # documented in openapi.py
        if if_none_match is not None and etag in _etags(if_none_match):
            return Response(status_code=304, headers=headers)
        return fhir_response(served.body, headers=headers)


def _search(kind: str, scope: str) -> None:
    @router.get(f"/fhir/{kind}", name=f"search {kind}")
    async def search(
        request: Request,
        reads: AsyncReadsOf,
        caller: Annotated[Caller, Depends(require_scope(scope))],
    ) -> Response:
        parsed = _parse(request, kind, request.headers.get("prefer"))
        if _light(parsed) and reads is not None:
            query = _query(parsed, caller)
            rows = await reads.search_page(query)
            body = _page_bundle(request, parsed, rows)
        elif _light(parsed):
            body = _search_body(request, parsed, caller)
        else:
            body = await run_in_threadpool(_search_body, request, parsed, caller)
        return fhir_response(body)


for _kind in STORED_TYPES:
    _search(_kind, f"{_kind}.s")
    _read(_kind, f"{_kind}.r")


@router.get("/fhir/Group", name="search Group")
def search_groups(
    request: Request,
    database: Database,
    caller: Annotated[Caller, Depends(require_scope("Group.s"))],
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    parsed = _parse(request, "Group", prefer)
    ids = [f.values for f in parsed.filters if isinstance(f, ColumnIn)]
    payers = list(parsed.payers)
    if caller.payer is not None:
        payers.append((caller.payer,))
    base = fhir_base(request)
    with read_transaction(database) as connection:
        if parsed.summary_count:
            total = len(payer_groups(connection, ids=ids, payers=payers, limit=None))
            return fhir_response(searchset_page(base, "Group", parsed, total=total))
        page = payer_groups(
            connection, ids=ids, payers=payers, after=parsed.cursor, limit=parsed.count + 1
        )
        matches = [
            ("Group", g.id, dumps(payer_group(g, payer_members(connection, g.payer))))
            for g in page[: parsed.count]
        ]
    following = page[parsed.count - 1].id if len(page) > parsed.count and parsed.count else None
    return fhir_response(
        searchset_page(base, "Group", parsed, matches=matches, following=following)
    )


@router.get("/fhir/Group/{group_id}", name="read Group")
def read_group(
    request: Request,
    database: Database,
    group_id: str,
    caller: Annotated[Caller, Depends(require_scope("Group.r"))],
) -> Response:
    with read_transaction(database) as connection:
        group = visible_group(connection, group_id, caller)
        body = dumps(payer_group(group, payer_members(connection, group.payer)))
    headers = {"ETag": f'W/"{group.version_id}"', "Last-Modified": http_date(group.last_updated)}
    return fhir_response(body, headers=headers)


def visible_group(connection: Connection, group_id: str, caller: Caller) -> PayerGroup:
    """The payer Group with this id; 404 when there is none or the caller is another payer,
    who must not learn that it exists."""
    group = get_payer_group(connection, group_id) if ID_PATTERN.fullmatch(group_id) else None
    if group is None or (caller.payer is not None and group.payer != caller.payer):
        raise FhirError(404, f"Group/{group_id[:64]} is not known")
    return group


def _parse(request: Request, kind: str, prefer: str | None) -> SearchRequest:
    settings = settings_of(request)
    return parse_search(
        kind,
        request.query_params.multi_items(),
        strict=wants_strict(prefer),
        default_count=settings.default_count,
        max_count=settings.max_count,
    )


def _light(parsed: SearchRequest) -> bool:
    return (
        parsed.count <= INLINE_COUNT
        and not parsed.summary_count
        and not parsed.include_targets
        and not parsed.revinclude_sources
    )


def _search_body(request: Request, parsed: SearchRequest, caller: Caller) -> bytes:
    """Without includes a search is one statement and needs no transaction around it."""
    engine = engine_of(request)
    single = not parsed.include_targets and not parsed.revinclude_sources
    with (single_statement if single else read_transaction)(engine) as connection:
        return _stored_search(connection, request, parsed, caller)


def _stored_search(
    connection: Connection, request: Request, parsed: SearchRequest, caller: Caller
) -> bytes:
    query = _query(parsed, caller)
    if parsed.summary_count:
        total = count_matches(connection, replace(query, after=None))
        return searchset_page(fhir_base(request), parsed.resource_type, parsed, total=total)
    rows = search_page(connection, query)
    ids = [rid for rid, _ in rows[: parsed.count]]
    return _page_bundle(request, parsed, rows, _included(connection, parsed, caller, ids))


def _included(
    connection: Connection, parsed: SearchRequest, caller: Caller, ids: list[str]
) -> list[Found]:
    """What `_include` and `_revinclude` add to a page of matches with these ids."""
    kind = parsed.resource_type
    included: list[Found] = []
    for param, target in parsed.include_targets:
        references = token_codes(connection, kind, ids, param)
        wanted = [ref.removeprefix(f"{target}/") for ref in references]
        included += [
            (target, rid, body)
            for rid, body in read_bodies(connection, target, wanted, payer=caller.payer)
        ]
    for source, param in parsed.revinclude_sources:
        targets = [f"{kind}/{rid}" for rid in ids]
        included += [
            (source, rid, body)
            for rid, body in referencing(connection, source, param, targets, payer=caller.payer)
            if _shared_with(caller, source, body)
        ]
    return included


def _shared_with(caller: Caller, kind: str, body: bytes) -> bool:
    """A resource some roles do not see (mappings/kinds.py `shared_identifier`: the cycle's
    preparation Tasks) is read by the pharmacy only."""
    registered = KINDS.get(kind)
    if caller.role == PHARMACY or registered is None or registered.shared_identifier is None:
        return True
    return registered.shared(orjson.loads(body))


def _query(parsed: SearchRequest, caller: Caller) -> ResourceQuery:
    """The store query of a search: one row more than a page, to know whether one follows."""
    filters = tuple(parsed.filters)
    registered = KINDS.get(parsed.resource_type)
    shared = registered.shared_identifier if registered is not None else None
    if shared is not None and caller.role != PHARMACY:  # only what every role sees
        filters += (TokenIn("identifier", (TokenValue(shared, None),)),)
    return ResourceQuery(
        parsed.resource_type,
        filters=filters,
        payer=caller.payer,
        after=parsed.cursor,
        limit=parsed.count + 1,
    )


def _page_bundle(
    request: Request,
    parsed: SearchRequest,
    rows: list[tuple[str, bytes]],
    included: list[Found] | None = None,
) -> bytes:
    """The searchset of a page from the rows of `_query` (one more than a page when another
    page follows) and what its includes found; every resource in it is noted as disclosed."""
    kind = parsed.resource_type
    more = len(rows) > parsed.count
    rows = rows[: parsed.count]
    ids = [rid for rid, _ in rows]
    note_disclosed(request, kind, ids)
    included = included or []
    for target in {found[0] for found in included}:
        note_disclosed(request, target, (rid for kind, rid, _ in included if kind == target))
    return searchset_page(
        fhir_base(request),
        kind,
        parsed,
        matches=[(kind, rid, body) for rid, body in rows],
        following=ids[-1] if more and ids else None,
        included=_unique(included),
    )


def _unique(found: list[Found]) -> list[Found]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in found:
        if (item[0], item[1]) not in seen:
            seen.add((item[0], item[1]))
            out.append(item)
    return out


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]
