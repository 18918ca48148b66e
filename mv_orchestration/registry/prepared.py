"""Hot-path statements run straight on the DBAPI cursor of a SQLAlchemy connection.

A :class:`Prepared` is a Core statement compiled once per dialect (its SQL, parameter
order and the bind processors of its column types), then executed on the cursor of the
connection's transaction (begun if none, as SQLAlchemy's autobegin would). Values are
converted exactly as SQLAlchemy converts them (same type processors), and driver errors
are raised as SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError` subclasses, so
:mod:`.retry` classifies them as before. Rows come back as plain tuples, without result
processing: select only columns that need none (text, integers, bytes). Expanding
(``IN``) parameters are not supported.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


@dataclass(frozen=True)
class _Form:
    """One statement compiled for one dialect."""

    sql: str
    positional: tuple[str, ...] | None
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    def arguments(self, params: Mapping[str, Any]) -> Any:
        """The driver's arguments for ``params`` (a tuple or a dict by paramstyle)."""
        values = {**self.defaults, **params} if self.defaults else dict(params)
        for name, process in self.processors.items():
            values[name] = process(values[name])
        if self.positional is None:
            return values
        return tuple([values[name] for name in self.positional])


class Prepared:
    """A Core statement (``keys``: the columns an insert sets) run on the DBAPI cursor."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._forms: weakref.WeakKeyDictionary[Dialect, _Form] = weakref.WeakKeyDictionary()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once; every row returned (none for a statement without results)."""
        form = self._form(conn.dialect)
        return _run(conn, form.sql, form.arguments(params), many=False)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute once; the first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (``executemany``)."""
        form = self._form(conn.dialect)
        _run(conn, form.sql, [form.arguments(p) for p in params], many=True)

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect)
        if form is None:
            form = self._forms[dialect] = self._compile(dialect)
        return form

    def _compile(self, dialect: Dialect) -> _Form:
        compiled = self._statement.compile(dialect=dialect, column_keys=self._keys)
        assert isinstance(compiled, SQLCompiler)
        binds = compiled.bind_names
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in binds.items()
        }
        return _Form(
            sql=compiled.string,
            positional=tuple(compiled.positiontup or ()) if dialect.positional else None,
            defaults={
                name: bind.effective_value for bind, name in binds.items() if not bind.required
            },
            processors={name: process for name, process in processors.items() if process},
        )


def _run(conn: Connection, sql: str, arguments: Any, *, many: bool) -> list[tuple[Any, ...]]:
    if not conn.in_transaction():
        conn.begin()  # as executing through the connection would (autobegin)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, arguments)
            return []
        cursor.execute(sql, arguments)
        return list(cursor.fetchall()) if cursor.description else []
    except dbapi_error as exc:
        raise DBAPIError.instance(
            sql,
            arguments,
            exc,
            dbapi_error,
            hide_parameters=conn.engine.hide_parameters,
            dialect=conn.dialect,
            ismulti=many,
        ) from exc
    finally:
        cursor.close()
