"""One database table per table resource, built from its Table Schema.

These tables are made at run time, not by Alembic: their names contain a double underscore
(``datahub__r12``), which the migrations' autogenerate skips. Columns follow the schema's fields;
the key fields carry a unique index (the upsert key); ``_seq`` is the change number that last
touched the row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, Float, Index, Integer, MetaData, Table, Text, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn
from sqlalchemy.types import TypeEngine

from citybrain.core.db.types import UTCDateTime
from citybrain.datahub.schemas import TableSchema

_metadata = MetaData()

SEQ = "_seq"

_TYPES: dict[str, type[TypeEngine[object]] | TypeEngine[object]] = {
    "string": Text(),
    "integer": BigInteger().with_variant(Integer, "sqlite"),
    "number": Float(),
    "boolean": Boolean(),
    "date": Date(),
    "datetime": UTCDateTime(),
}


def table_name(resource_id: int) -> str:
    return f"datahub__r{resource_id}"


def data_table(resource_id: int, schema: TableSchema) -> Table:
    """The SQLAlchemy table of a resource's rows (a fresh MetaData entry each time)."""
    name = table_name(resource_id)
    if name in _metadata.tables:
        _metadata.remove(_metadata.tables[name])
    columns = [Column(f.name, _TYPES[f.type], nullable=True) for f in schema.fields]
    columns.append(Column(SEQ, BigInteger().with_variant(Integer, "sqlite"), nullable=False))
    table = Table(name, _metadata, *columns)
    if schema.primary_key:
        Index(f"ux_{name}_key", *[table.c[k] for k in schema.primary_key], unique=True)
    return table


def ensure_table(connection: Connection, resource_id: int, schema: TableSchema) -> Table:
    """Create the table (its key index comes later, from :func:`ensure_key_index`), or add the
    columns a newer version of the schema brought."""
    table = data_table(resource_id, schema)
    inspector = inspect(connection)
    if not inspector.has_table(table.name):
        for index in list(table.indexes):
            table.indexes.discard(index)
        table.create(connection)
        data_table(resource_id, schema)  # the registered Table keeps its index for later use
        return _registered(resource_id)
    existing = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in existing:
            ddl = CreateColumn(column).compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {connection.dialect.identifier_preparer.quote(table.name)} ADD COLUMN {ddl}"))
    return table


def _registered(resource_id: int) -> Table:
    return _metadata.tables[table_name(resource_id)]


def ensure_key_index(connection: Connection, table: Table) -> None:
    """The unique index on the key fields. A new table gets it after its first load, which is
    several times faster than maintaining it row by row."""
    for index in table.indexes:
        index.create(connection, checkfirst=True)


def is_dynamic(name: str) -> bool:
    """Tables made at run time (not by migrations)."""
    return "__" in name
