"""The custom import-linter contract really catches a domain reaching into another's internals."""

from __future__ import annotations

import grimp

from tools.lint_contracts import violations


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported)
    return graph


def test_importing_another_domains_service_is_allowed() -> None:
    graph = _graph(("citybrain.traffic.api", "citybrain.datahub.service"), ("citybrain.traffic.api", "citybrain.core.errors"))
    assert violations(graph, "citybrain") == []


def test_importing_another_domains_models_is_a_violation() -> None:
    graph = _graph(("citybrain.traffic.service", "citybrain.datahub.models"), ("citybrain.traffic.api", "citybrain.traffic.models"))
    assert violations(graph, "citybrain") == [("citybrain.traffic.service", "citybrain.datahub.models")]
