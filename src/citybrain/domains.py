"""The installed domains, in the order their demo steps run.

Add a domain here once it exists; the kernel itself knows none of them.
"""

from __future__ import annotations

from functools import cache

from citybrain.core.plugins import Domain


@cache
def installed() -> tuple[Domain, ...]:
    """The kernel and every domain, each set up once (role scopes, event handlers, translations:
    the command line speaks the domains' messages as the pages do)."""
    from citybrain import datahub, gov_services, operations_center, traffic
    from citybrain.core.i18n import register_catalogue
    from citybrain.core.kernel import KERNEL

    domains = (KERNEL, datahub.domain(), traffic.domain(), gov_services.domain(), operations_center.domain())
    for domain in domains:
        if domain.setup is not None:
            domain.setup()
        if domain.locales_dir is not None:
            register_catalogue(domain.locales_dir)
    return domains


def load_models() -> None:
    """Import every installed domain's tables so ``Base.metadata`` knows them all."""
    import importlib

    for domain in installed():
        for module in domain.models:
            importlib.import_module(module)
