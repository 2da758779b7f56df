"""Statements over a list of ids the caller already holds (a batch's token ids), planned as index look-ups.

A sub-query (``pk IN (SELECT token_id FROM bindings WHERE ...)``) lets the planner choose; on
PostgreSQL it chose to hash the whole token table once per statement whenever the batch's tokens were
a few percent of it (docs/benchmarks.md, "Bulk ending: where a batch's time goes"). Ids given as a
list are looked up by primary key whatever the table's size. On PostgreSQL the list is one array
parameter (``= ANY(%s)``: no limit, one value to bind); elsewhere it is an ``IN`` list, in chunks that
stay under SQLite's limit of bound variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from django.db import connections, router
from django.db.models import BooleanField, Expression, F, Model
from django.db.models.lookups import In

CHUNK = 10_000  # ids per statement where they are bound one by one (SQLite allows 32,766 variables)


INTEGER_FIELDS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
}


class AnyOfLookup(In):
    """``field IN (...)``, written ``field = ANY(%s::bigint[])`` on PostgreSQL for integer ids: one
    parameter, an array literal built here (psycopg's own list adapter costs about 2 ms per thousand
    ids on Django's client-side cursors; the string is bound as one value)."""

    def as_postgresql(self, compiler, connection):
        if self.lhs.output_field.get_internal_type() not in INTEGER_FIELDS:
            return self.as_sql(compiler, connection)  # e.g. a swapped model's UUID key: a plain IN list
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, _array_literal(self.rhs))


class AnyOf(Expression):
    """The filter ``any_of`` returns: it becomes an ``AnyOfLookup`` on the resolved column. (A lookup
    built on ``F(field)`` directly fails on Django 4.2, which prepares the values before resolving.)"""

    conditional = True
    output_field = BooleanField()

    def __init__(self, field: str, ids: list[int]) -> None:
        super().__init__()
        self.field_name, self.ids = field, ids

    def resolve_expression(self, query=None, *args, **kwargs):
        return AnyOfLookup(F(self.field_name).resolve_expression(query, *args, **kwargs), self.ids)


def _array_literal(ids: Iterable[int]) -> str:
    return "{" + ",".join(str(int(pk)) for pk in ids) + "}"


def in_sql(connection, column: str, ids: Sequence[int]) -> tuple[str, list]:
    """``column IN (ids)`` for raw SQL (integer ids), as ``AnyOf`` writes it: (SQL, parameters)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [_array_literal(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def any_of(field: str, ids: Iterable[int]) -> AnyOf:
    """A filter: ``field`` is one of ``ids`` (not empty; see ``chunked``)."""
    return AnyOf(field, list(ids))


def chunked(model: type[Model], ids: Sequence[int]) -> Iterator[list[int]]:
    """``ids`` in as few pieces as ``model``'s database takes in one statement: all at once on
    PostgreSQL, ``CHUNK`` at a time elsewhere; nothing for an empty list."""
    if not ids:
        return
    vendor = connections[router.db_for_write(model)].vendor
    size = len(ids) if vendor == "postgresql" else CHUNK
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
