"""The installed domains, in the order their demo steps run.

Add a domain here once it exists (``from citybrain.datahub import DOMAIN``); the kernel itself
knows none of them.
"""

from __future__ import annotations

from citybrain.core.plugins import Domain


def installed() -> list[Domain]:
    from citybrain.core.kernel import KERNEL

    return [KERNEL]


def load_models() -> None:
    """Import every installed domain's tables so ``Base.metadata`` knows them all."""
    import importlib

    for domain in installed():
        for module in domain.models:
            importlib.import_module(module)
