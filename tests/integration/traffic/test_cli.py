"""``citybrain traffic ...`` at the console on a fresh setup, both backends, with the real SUMO."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.core.test_cli import cli_env, invoke

__all__ = ["cli_env"]

pytestmark = pytest.mark.sumo


def test_compare_on_a_fresh_setup_imports_jinan_and_prints_every_controller(cli_env: str) -> None:
    invoke("db", "upgrade")

    out = invoke(
        "traffic",
        "compare",
        "--network",
        "jinan_3x4",
        "--controllers",
        "fixed_time,max_pressure,citybrain",
        "--seeds",
        "1,2",
        "--duration",
        "300",
    )

    for name in ("fixed_time", "max_pressure", "citybrain", "free-flow"):
        assert name in out
    assert "1.000x" in out  # Max-Pressure against itself
    assert "2 seeds × 300 s" in out
    one = invoke("traffic", "evaluate", "--network", "jinan_3x4", "--controller", "max_pressure", "--seeds", "1", "--duration", "120")
    assert "per junction" in one
    assert "stops/veh" in one
    listed = invoke("traffic", "networks")
    assert "jinan_3x4" in listed
    assert "6,295" in listed
    unknown = invoke("traffic", "compare", "--network", "jinan_3x4", "--controllers", "psychic", code=1)
    assert "psychic" in unknown


def test_greenwave_and_tidal_plans_at_the_console(cli_env: str, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    png = tmp_path / "wave.png"

    wave = invoke("traffic", "greenwave", "--cycle", "60-90", "--seeds", "0", "--png", str(png))
    assert "intersection_4_1" in wave
    assert "bands" in wave
    assert "maxband" in wave  # the SUMO check against uncoordinated offsets
    assert "random" in wave
    assert png.read_bytes()[:4] == b"\x89PNG"

    counts = tmp_path / "counts.csv"
    morning, evening = [300] * 4 + [900] * 8 + [300] * 12, [300] * 4 + [250] * 8 + [300] * 12
    counts.write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in zip(morning, evening, strict=True)) + "\n")
    tidal = invoke("traffic", "tidal", "--counts", str(counts), "--lanes", "3,3", "--capacity", "1200", "--start", "06:00", "--no-check")
    assert "出城" in tidal  # the lane lent to 进城 belongs to 出城
    assert "07:" in tidal
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n300,120\nthree,4\n")
    refused = invoke("traffic", "tidal", "--counts", str(bad), "--no-check", code=2)
    assert "line 3" in refused
