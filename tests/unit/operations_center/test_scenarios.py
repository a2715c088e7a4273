"""Scenario definitions (YAML/JSON) are validated with each bad field named; the feeder's simulated
city stays within what its sensors could report."""

from __future__ import annotations

import pytest

from citybrain.operations_center import scenarios
from citybrain.operations_center.demo import SCENARIOS, scenario_source
from citybrain.operations_center.feeder import DISTRICTS, GAUGES, City

KPI_ONLY = """
code: river
group: public_safety
title: 河道
widgets:
  - {type: kpi, title: 水位, metric: water.level_m, agg: max}
"""


def test_every_demo_scenario_validates() -> None:
    for name in SCENARIOS:
        definition = scenarios.parse(scenario_source(name))
        assert definition.widgets
        assert definition.group in scenarios.GROUPS


def test_json_is_accepted_as_well() -> None:
    assert scenarios.parse('{"code": "ab", "group": "other", "title": "t", "widgets": [{"type": "systems", "title": "s"}]}').code == "ab"


def test_a_bad_definition_names_each_field() -> None:
    bad = KPI_ONLY.replace("agg: max", "agg: median") + "  - {type: pie, title: x}\n  - {type: line, title: y, metrics: []}\n"
    with pytest.raises(scenarios.DefinitionError) as caught:
        scenarios.parse(bad)
    places = {".".join(map(str, loc)) for loc, _msg in caught.value.problems}
    assert "widgets.0.kpi.agg" in places
    assert any(p.startswith("widgets.1") for p in places)
    assert "widgets.2.line.metrics" in places


def test_text_that_does_not_parse_says_so() -> None:
    with pytest.raises(scenarios.DefinitionError) as caught:
        scenarios.parse("code: [unclosed")
    assert caught.value.problems[0][0] == ()
    assert "parse" in caught.value.problems[0][1]
    with pytest.raises(scenarios.DefinitionError):
        scenarios.parse("- just\n- a list")


def test_the_simulated_city_reports_every_district_in_range() -> None:
    city = City(seed=3)
    for _ in range(200):
        aqi = city.points("air-quality", 2.0)
        levels = city.points("water-level", 2.0)
    assert {p["tags"]["district"] for p in aqi if p["name"] == "air.aqi"} == set(DISTRICTS)
    assert all(15 <= p["value"] <= 260 for p in aqi if p["name"] == "air.aqi")
    assert {p["tags"]["district"] for p in levels} == set(GAUGES)
    tickets = [p["value"] for p in city.points("hotline-12345", 2.0) if p["name"] == "hotline.tickets"]
    later = [p["value"] for p in city.points("hotline-12345", 60.0) if p["name"] == "hotline.tickets"]
    assert all(b >= a for a, b in zip(tickets, later, strict=True))  # counts since midnight only grow
