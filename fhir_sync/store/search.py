"""Searches over stored resources as SQL: filters the FHIR layer has already parsed and checked.

Each filter is one AND term whose values are OR alternatives, as FHIR combines repeated
parameters and comma-separated values. Values are always bound parameters, never SQL text.
Results come in `id` order, and a page starts after the last id of the previous one (keyset
paging): page 1,000 costs what page 1 costs, and rows written meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    true,
)

from fhir_sync.store.tables import SearchToken, StoredResource

RESOURCE: Table = StoredResource.__table__  # type: ignore[attr-defined]
TOKEN: Table = SearchToken.__table__  # type: ignore[attr-defined]

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le"]
PREFIXES: Final[tuple[Prefix, ...]] = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A searched date or instant as the range it stands for, `[low, high)`, with a prefix."""

    prefix: Prefix
    low: datetime
    high: datetime


@dataclass(frozen=True, slots=True)
class TokenValue:
    """`system|code` as searched: system None matches any system, "" no system; code None
    matches any code of the system."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ColumnIn:
    """The resource's column (`id`, `patient_id`, `status`) equals one of `values`."""

    column: Literal["id", "patient_id", "status"]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TokenIn:
    """One of the resource's `param` tokens or references matches one of `values`."""

    param: str
    values: tuple[TokenValue, ...]


@dataclass(frozen=True, slots=True)
class PeriodIn:
    """The resource's date range (`date_start`, `date_end`) matches one of `ranges`."""

    ranges: tuple[TimeRange, ...]


@dataclass(frozen=True, slots=True)
class UpdatedIn:
    """The resource's `last_updated` matches one of `ranges`."""

    ranges: tuple[TimeRange, ...]


Filter = ColumnIn | TokenIn | PeriodIn | UpdatedIn


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    """One page of a search. `payer` restricts to that payer's members (payer clients)."""

    resource_type: str
    filters: tuple[Filter, ...] = ()
    payer: str | None = None
    after: str | None = None
    limit: int = 50


def search_page(connection: Connection, query: ResourceQuery) -> list[tuple[str, bytes]]:
    """(id, body) of up to `query.limit` matches after `query.after`, in id order."""
    statement = select(RESOURCE.c.id, RESOURCE.c.body).where(*_conditions(query))
    if query.after is not None:
        statement = statement.where(RESOURCE.c.id > query.after)
    statement = statement.order_by(RESOURCE.c.id).limit(query.limit)
    return [(row[0], row[1]) for row in connection.execute(statement)]


def count_matches(connection: Connection, query: ResourceQuery) -> int:
    statement = select(func.count()).select_from(RESOURCE).where(*_conditions(query))
    return int(connection.execute(statement).scalar_one())


def read_bodies(
    connection: Connection, resource_type: str, ids: Sequence[str], *, payer: str | None = None
) -> list[tuple[str, bytes]]:
    """(id, body) of the given resources that exist, in id order."""
    if not ids:
        return []
    statement = select(RESOURCE.c.id, RESOURCE.c.body).where(
        RESOURCE.c.resource_type == resource_type, RESOURCE.c.id.in_(sorted(set(ids)))
    )
    if payer is not None:
        statement = statement.where(RESOURCE.c.payer == payer)
    return [(row[0], row[1]) for row in connection.execute(statement.order_by(RESOURCE.c.id))]


def token_codes(
    connection: Connection, resource_type: str, ids: Sequence[str], param: str
) -> list[str]:
    """The `param` values (references, for reference parameters) of the given resources."""
    if not ids:
        return []
    statement = (
        select(TOKEN.c.code)
        .where(
            TOKEN.c.resource_type == resource_type,
            TOKEN.c.param == param,
            TOKEN.c.resource_id.in_(sorted(set(ids))),
        )
        .distinct()
        .order_by(TOKEN.c.code)
    )
    return list(connection.scalars(statement))


def referencing(
    connection: Connection,
    resource_type: str,
    param: str,
    targets: Sequence[str],
    *,
    payer: str | None = None,
) -> list[tuple[str, bytes]]:
    """(id, body) of the `resource_type` resources whose `param` references one of `targets`."""
    if not targets:
        return []
    match = exists().where(
        TOKEN.c.resource_type == RESOURCE.c.resource_type,
        TOKEN.c.resource_id == RESOURCE.c.id,
        TOKEN.c.param == param,
        TOKEN.c.code.in_(sorted(set(targets))),
    )
    statement = select(RESOURCE.c.id, RESOURCE.c.body).where(
        RESOURCE.c.resource_type == resource_type, match
    )
    if payer is not None:
        statement = statement.where(RESOURCE.c.payer == payer)
    return [(row[0], row[1]) for row in connection.execute(statement.order_by(RESOURCE.c.id))]


def _conditions(query: ResourceQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [RESOURCE.c.resource_type == query.resource_type]
    if query.payer is not None:
        conditions.append(RESOURCE.c.payer == query.payer)
    for term in query.filters:
        conditions.append(_condition(term))
    return conditions


def _condition(term: Filter) -> ColumnElement[bool]:
    if isinstance(term, ColumnIn):
        if len(term.values) == 1:  # the common case; an IN list is expanded on every execution
            return RESOURCE.c[term.column] == term.values[0]
        return RESOURCE.c[term.column].in_(term.values)
    if isinstance(term, TokenIn):
        return exists().where(
            TOKEN.c.resource_type == RESOURCE.c.resource_type,
            TOKEN.c.resource_id == RESOURCE.c.id,
            TOKEN.c.param == term.param,
            or_(*(_token(value) for value in term.values)),
        )
    if isinstance(term, PeriodIn):
        return or_(*(_period(r) for r in term.ranges))
    return or_(*(_point(r) for r in term.ranges))


def _token(value: TokenValue) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if value.system is not None:
        parts.append(TOKEN.c.system == value.system)
    if value.code is not None:
        parts.append(TOKEN.c.code == value.code)
    return and_(*parts) if parts else true()


def _period(wanted: TimeRange) -> ColumnElement[bool]:
    """FHIR's range semantics for a resource range [start, end) (end NULL: open-ended).

    eq: the resource's range lies within the searched one; gt: some of it lies after the
    searched range; lt: some of it lies before; ge/le: gt/lt or eq; ne: not eq.
    """
    start, end = RESOURCE.c.date_start, RESOURCE.c.date_end
    if wanted.prefix in ("eq", "ne"):
        inside = and_(
            start.is_not(None),
            start >= wanted.low,
            end.is_not(None),
            end <= wanted.high,
        )
        return inside if wanted.prefix == "eq" else and_(start.is_not(None), ~inside)
    after = and_(start.is_not(None), or_(end.is_(None), end > wanted.high))
    before = start < wanted.low
    if wanted.prefix == "gt":
        return after
    if wanted.prefix == "lt":
        return before
    within = and_(start >= wanted.low, end.is_not(None), end <= wanted.high)
    return or_(after, within) if wanted.prefix == "ge" else or_(before, within)


def _point(wanted: TimeRange) -> ColumnElement[bool]:
    moment = RESOURCE.c.last_updated
    if wanted.prefix == "eq":
        return and_(moment >= wanted.low, moment < wanted.high)
    if wanted.prefix == "ne":
        return or_(moment < wanted.low, moment >= wanted.high)
    if wanted.prefix == "gt":
        return moment >= wanted.high
    if wanted.prefix == "lt":
        return moment < wanted.low
    if wanted.prefix == "ge":
        return moment >= wanted.low
    if wanted.prefix == "le":
        return moment < wanted.high
    return false()
