"""Navigation that each domain adds itself to, so the base layout knows no domain."""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.core.auth.principal import Principal


@dataclass(frozen=True)
class NavItem:
    #: message key of the label (``nav.orgs``)
    label: str
    href: str
    #: scope needed to see the link; ``None`` for everyone, ``""`` for any logged-in user
    scope: str | None = ""
    order: int = 100


_items: list[NavItem] = []


def register_nav(item: NavItem) -> None:
    if item not in _items:
        _items.append(item)


def nav_for(principal: Principal) -> list[NavItem]:
    visible = []
    for item in _items:
        if item.scope is None or (principal.authenticated and (item.scope == "" or principal.has(item.scope))):
            visible.append(item)
    return sorted(visible, key=lambda i: (i.order, i.href))
