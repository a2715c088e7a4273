"""Alembic, driven from code: upgrade, current revision, head revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

#: The checkout's root (citybrain is installed editable from it).
PROJECT_ROOT = Path(__file__).resolve().parents[4]


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What Alembic manages: every table except those domains make at run time, whose names
    contain a double underscore (e.g. one table per catalogued dataset)."""
    return not (type_ == "table" and name is not None and "__" in name)
