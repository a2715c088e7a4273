"""Database: one declarative base, engines for SQLite and PostgreSQL, sessions, column types."""

from citybrain.core.db.base import Base, IdMixin, TimestampMixin, utcnow
from citybrain.core.db.session import Database, create_database

__all__ = ["Base", "Database", "IdMixin", "TimestampMixin", "create_database", "utcnow"]
