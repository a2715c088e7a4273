"""The installed domains, in the order their demo steps run.

Add a domain here once it exists; the kernel itself knows none of them.
"""

from __future__ import annotations

from functools import cache

from citybrain.core.plugins import Domain


@cache
def installed() -> tuple[Domain, ...]:
    """The kernel and every domain, each set up once (role scopes, event handlers)."""
    from citybrain import datahub
    from citybrain.core.kernel import KERNEL

    domains = (KERNEL, datahub.domain())
    for domain in domains:
        if domain.setup is not None:
            domain.setup()
    return domains


def load_models() -> None:
    """Import every installed domain's tables so ``Base.metadata`` knows them all."""
    import importlib

    for domain in installed():
        for module in domain.models:
            importlib.import_module(module)
