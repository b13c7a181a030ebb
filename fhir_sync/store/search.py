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
from functools import lru_cache
from typing import Any, Final, Literal

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
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
    statement, values = page_statement(query)
    return [(row[0], row[1]) for row in connection.execute(statement, values)]


def count_matches(connection: Connection, query: ResourceQuery) -> int:
    bind = _Binder()
    statement = _count_statement(_shape(query, bind))
    return int(connection.execute(statement, bind.values).scalar_one())


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


# -- statements, built once per shape ----------------------------------------------------
#
# Building a SQLAlchemy statement and its cache key costs more than SQLite takes to answer a
# search by patient. So a query is split into its shape (types, parameters, how many values,
# prefixes) with every value taken out as a named parameter; the statement for a shape is
# built once and executed with the values.

Shape = tuple[object, ...]
Bound = BindParameter[Any]


class _Binder:
    """Takes a query's values out as named bind parameters, in the order met."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return name


def page_statement(query: ResourceQuery) -> tuple[Select[str, bytes], dict[str, object]]:
    """The statement of one page of `query` and its parameter values (the statement is
    cached per query shape, so the same object comes back for the same shape)."""
    bind = _Binder()
    shape = _shape(query, bind)
    if query.after is not None:
        bind.values["after"] = query.after
    return _page_statement(shape, query.after is not None, query.limit), bind.values


def _shape(query: ResourceQuery, bind: _Binder) -> Shape:
    payer = None if query.payer is None else bind(query.payer)
    terms = tuple(_term_shape(term, bind) for term in query.filters)
    return (bind(query.resource_type), payer, terms)


def _term_shape(term: Filter, bind: _Binder) -> Shape:
    if isinstance(term, ColumnIn):
        return ("column", term.column, tuple(bind(value) for value in term.values))
    if isinstance(term, TokenIn):
        values = tuple(
            (
                None if value.system is None else bind(value.system),
                None if value.code is None else bind(value.code),
            )
            for value in term.values
        )
        return ("token", bind(term.param), values)
    ranges = tuple((r.prefix, bind(r.low), bind(r.high)) for r in term.ranges)
    return ("period" if isinstance(term, PeriodIn) else "updated", ranges)


@lru_cache(maxsize=512)
def _page_statement(shape: Shape, after: bool, limit: int) -> Select[str, bytes]:
    statement = select(RESOURCE.c.id, RESOURCE.c.body).where(*_conditions(shape))
    if after:
        statement = statement.where(RESOURCE.c.id > bindparam("after"))
    return statement.order_by(RESOURCE.c.id).limit(limit)


@lru_cache(maxsize=512)
def _count_statement(shape: Shape) -> Select[int]:
    return select(func.count()).select_from(RESOURCE).where(*_conditions(shape))


def _conditions(shape: Shape) -> list[ColumnElement[bool]]:
    resource_type, payer, terms = shape
    assert isinstance(resource_type, str) and isinstance(terms, tuple)
    conditions: list[ColumnElement[bool]] = [RESOURCE.c.resource_type == bindparam(resource_type)]
    if payer is not None:
        conditions.append(RESOURCE.c.payer == bindparam(str(payer)))
    conditions.extend(_condition(term) for term in terms)
    return conditions


def _condition(term: Any) -> ColumnElement[bool]:
    kind = term[0]
    if kind == "column":
        _, column, names = term
        target: ColumnElement[Any] = RESOURCE.c[str(column)]
        if len(names) == 1:  # the common case; an IN list costs more to compile and plan
            return target == bindparam(names[0])
        return target.in_([bindparam(name) for name in names])
    if kind == "token":
        _, param, values = term
        return exists().where(
            TOKEN.c.resource_type == RESOURCE.c.resource_type,
            TOKEN.c.resource_id == RESOURCE.c.id,
            TOKEN.c.param == bindparam(param),
            or_(*(_token(system, code) for system, code in values)),
        )
    _, ranges = term
    match = _period if kind == "period" else _point
    return or_(*(match(prefix, bindparam(low), bindparam(high)) for prefix, low, high in ranges))


def _token(system: str | None, code: str | None) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if system is not None:
        parts.append(TOKEN.c.system == bindparam(system))
    if code is not None:
        parts.append(TOKEN.c.code == bindparam(code))
    return and_(*parts) if parts else true()


def _period(prefix: str, low: Bound, high: Bound) -> ColumnElement[bool]:
    """FHIR's range semantics for a resource range [start, end) (end NULL: open-ended), against
    the searched range [low, high).

    eq: the resource's range lies within the searched one; gt: some of it lies after the
    searched range; lt: some of it lies before; ge/le: gt/lt or eq; ne: not eq.
    """
    start, end = RESOURCE.c.date_start, RESOURCE.c.date_end
    if prefix in ("eq", "ne"):
        inside = and_(start.is_not(None), start >= low, end.is_not(None), end <= high)
        return inside if prefix == "eq" else and_(start.is_not(None), ~inside)
    after = and_(start.is_not(None), or_(end.is_(None), end > high))
    before = start < low
    if prefix == "gt":
        return after
    if prefix == "lt":
        return before
    within = and_(start >= low, end.is_not(None), end <= high)
    return or_(after, within) if prefix == "ge" else or_(before, within)


def _point(prefix: str, low: Bound, high: Bound) -> ColumnElement[bool]:
    moment = RESOURCE.c.last_updated
    if prefix == "eq":
        return and_(moment >= low, moment < high)
    if prefix == "ne":
        return or_(moment < low, moment >= high)
    if prefix == "gt":
        return moment >= high
    if prefix == "lt":
        return moment < low
    if prefix == "ge":
        return moment >= low
    if prefix == "le":
        return moment < high
    return false()
