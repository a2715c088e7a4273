"""Scenarios the traffic tests share: the third-party SUMO conversion of the Jinan 3x4 network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def jinan_sumo_files() -> tuple[Path, Path]:
    """(net, routes) of ``traffic/jinan_3x4_sumo`` under CITYBRAIN_DATA_DIR; skips the test when absent."""
    folder = Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data")) / "traffic" / "jinan_3x4_sumo"
    net, routes = folder / "jinan.net.xml", folder / "jinan.rou.xml"
    if not (net.is_file() and routes.is_file()):
        pytest.skip(f"the SUMO Jinan 3x4 network is not in {folder} (set CITYBRAIN_DATA_DIR)")
    return net, routes
