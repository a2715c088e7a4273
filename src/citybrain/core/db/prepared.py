"""Hot statements: compiled once by SQLAlchemy, run on the plain DB-API connection.

A governed lookup reads one row by its key thousands of times a second, and the group-commit writer
appends its batches just as often. Through a ``Session`` a point read costs about 110 µs on SQLite,
through a pooled ``Connection`` about 65 µs (check-out, ``BEGIN``, ``ROLLBACK``, check-in), through
a ``Connection`` already open about 18 µs; the statement itself takes under 5 µs. :class:`Prepared`
keeps what SQLAlchemy contributes — the dialect's SQL and bind casts, and the column types' bind and
result conversions (dates, booleans, UTC timestamps, JSON) — and leaves out the per-execution
machinery. Reads run on :meth:`citybrain.core.db.session.Database.read_connection` (autocommit,
read-only: a read never takes a write lock or holds a snapshot open); writes run on the connection
of a transaction the caller began through SQLAlchemy (:func:`dbapi_connection`), which also commits it.

PostgreSQL (psycopg 3) prepares a statement on the server once it has run a few times on one
connection, so a hot statement is planned once per connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


def dbapi_connection(session: Session) -> Any:
    """The DB-API connection of ``session``'s transaction (begun if it was not)."""
    return session.connection().connection.dbapi_connection


class Prepared:
    """``stmt`` compiled for ``dialect``. Run it with the values of its bind parameters by name;
    parameters whose values are in the statement (such as ``LIMIT 1``) need none. An INSERT
    names the columns it sets in ``columns``."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect, *, columns: Sequence[str] | None = None) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(columns) if columns is not None else None))
        self.sql = str(compiled)
        self._compiled = compiled
        self._dialect = dialect
        self._positional: Sequence[str] | None = list(compiled.positiontup or []) if compiled.positional else None
        self._binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
        }
        self._processed = {name: process for name, process in self._binds.items() if process is not None}
        # values written into the statement (``LIMIT 1``); expanding ("IN") parameters need SQLAlchemy
        self._simple = not any(bind.expanding for bind in compiled.binds.values())
        self._fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        # what a SELECT selects, or what a statement's RETURNING returns
        self._types = [column.type for column in getattr(stmt, "exported_columns", ())]
        self._results: list[Processor] | None = None

    def _params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if self._simple:
            params = {**self._fixed, **values}
            missing = self._binds.keys() - params.keys()
            if missing:
                raise ValueError(f"no value for {sorted(missing)} in {self.sql!r}")
        else:
            params = dict(self._compiled.construct_params(dict(values)))
        for name, process in self._processed.items():
            params[name] = process(params[name])
        if self._positional is not None:
            return [params[name] for name in self._positional]
        return {name: params[name] for name in self._binds}

    def _fail(self, exc: Exception, params: Any) -> StatementError:
        # the same exceptions a Session would raise (a DataError is bad input, 422)
        return DBAPIError.instance(self.sql, params, exc, self._dialect.loaded_dbapi.Error)

    def rows(self, connection: Any, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every row (of a SELECT, or of a statement's RETURNING), each value converted as
        SQLAlchemy would convert it."""
        params = self._params(values or {})
        cursor = connection.cursor()
        try:
            try:
                cursor.execute(self.sql, params)
                found = cursor.fetchall()
            except self._dialect.loaded_dbapi.Error as exc:
                raise self._fail(exc, params) from exc
            if self._results is None:
                # built from the cursor's own type codes, which some result conversions consult
                codes = [d[1] for d in cursor.description or []]
                self._results = [
                    kind.dialect_impl(self._dialect).result_processor(self._dialect, code)
                    for kind, code in zip(self._types, codes, strict=True)
                ]
        finally:
            cursor.close()
        processors = self._results
        if not any(processors):
            return [tuple(row) for row in found]
        return [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in found]

    def run(self, connection: Any, values: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per set of ``values`` (``executemany``), returning nothing."""
        if not values:
            return
        params = [self._params(v) for v in values]
        cursor = connection.cursor()
        try:
            if len(params) == 1:
                cursor.execute(self.sql, params[0])
            else:
                cursor.executemany(self.sql, params)
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._fail(exc, params) from exc
        finally:
            cursor.close()
