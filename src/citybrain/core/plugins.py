"""How a domain plugs into the platform without ``core`` knowing it.

A domain exposes one :class:`Domain` (in its ``__init__.py``); ``citybrain.domains`` lists the
installed ones, and the app factory and CLI mount what each brings: API and page routers, navigation,
templates, translations, role scopes, event handlers, CLI commands and its step of the demo city.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citybrain.core.web.nav import NavItem

if TYPE_CHECKING:
    import random
    from contextlib import AbstractAsyncContextManager

    from fastapi import APIRouter, FastAPI
    from rich.console import Console
    from sqlalchemy.orm import Session
    from typer import Typer

    from citybrain.core.auth.principal import Principal
    from citybrain.settings import Settings


@dataclass
class DemoContext:
    """What a demo step gets: the transaction, a seeded random source, settings and a console."""

    session: Session
    rng: random.Random
    settings: Settings
    console: Console
    principal: Principal
    #: facts earlier steps leave for later ones (e.g. ``"org_ids"``)
    shared: dict[str, Any] = field(default_factory=dict)


DemoStep = Callable[[DemoContext], None]


@dataclass
class Domain:
    name: str
    #: modules holding the domain's tables, imported before migrations compare the schema
    models: tuple[str, ...] = ()
    api_router: APIRouter | None = None
    #: API routes called far more often than the rest (e.g. governed data-service calls): mounted
    #: ahead of every other route, since routes are matched one by one in order (~1.5 µs each)
    hot_api_router: APIRouter | None = None
    page_router: APIRouter | None = None
    nav: Iterable[NavItem] = ()
    templates_dir: Path | None = None
    locales_dir: Path | None = None
    #: run once at start-up: subscribe to events, register role scopes
    setup: Callable[[], None] | None = None
    #: ``citybrain <name> ...`` commands
    cli: Typer | None = None
    #: its part of ``citybrain demo``; steps run in the order domains are listed
    demo_step: DemoStep | None = None
    #: what runs while the app serves (background jobs, a live simulation): entered at start-up,
    #: in the order domains are listed, and left at shutdown in reverse
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None
