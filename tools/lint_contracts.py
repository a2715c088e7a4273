"""An import-linter contract for the rule import-linter cannot say with its built-in types:
a domain reaches another domain only through that domain's ``service`` module (DESIGN.md).

Domains are the sub-packages of ``citybrain`` other than the kernel and the top-level modules; new
domains are covered as soon as they exist, with no edit here.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output

NOT_DOMAINS = frozenset({"core", "app", "cli", "domains", "settings"})


def domain_of(module: str, root: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != root or parts[1] in NOT_DOMAINS:
        return None
    return parts[1]


def violations(graph: grimp.ImportGraph, root: str) -> list[tuple[str, str]]:
    """(importer, imported) pairs where one domain imports another's internals."""
    found = []
    for importer in sorted(graph.modules):
        src = domain_of(importer, root)
        if src is None:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            dst = domain_of(imported, root)
            if dst is None or dst == src:
                continue
            if imported != f"{root}.{dst}.service":
                found.append((importer, imported))
    return found


class DomainBoundariesContract(Contract):
    type_name = "domain_boundaries"

    root = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        found = violations(graph, str(self.root))
        return ContractCheck(kept=not found, metadata={"violations": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["violations"]:
            output.print_error(f"{importer} imports {imported}: call that domain's service module instead")
