"""SUMO is found from its wheel with no SUMO_HOME set, and its absence fails calls, never imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from citybrain.traffic import sumo_tools


@pytest.mark.sumo
def test_sumo_is_found_in_its_wheel_without_sumo_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUMO_HOME", raising=False)
    home = sumo_tools.sumo_home()
    assert home.name == "sumo"
    assert "site-packages" in home.parts
    for program in ("netconvert", "sumo"):
        assert sumo_tools.binary(program).parent == home / "bin"
    assert sumo_tools.environment()["SUMO_HOME"] == str(home)
    assert sumo_tools.sumo_version()[0].isdigit()
    assert "netconvert" in sumo_tools.run("netconvert", ["--version"])


def test_without_sumo_a_call_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sumo_tools, "_wheel_home", lambda: None)
    monkeypatch.delenv("SUMO_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(sumo_tools.SumoNotFound, match="pip install eclipse-sumo"):
        sumo_tools.binary("netconvert")


def test_a_sumo_home_set_by_the_user_is_used_when_there_is_no_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sumo").write_text("")
    monkeypatch.setattr(sumo_tools, "_wheel_home", lambda: None)
    monkeypatch.setenv("SUMO_HOME", str(tmp_path))
    assert sumo_tools.sumo_home() == tmp_path


def test_the_traffic_modules_import_without_sumo() -> None:
    # a fresh interpreter in which every SUMO package is missing
    code = """
import importlib.abc, sys
class NoSumo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sumo", "sumolib", "libsumo", "traci"):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoSumo())
import citybrain.traffic.cityflow, citybrain.traffic.scenario, citybrain.traffic.sumo_tools
print("imported")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


@pytest.mark.sumo
def test_a_failing_sumo_program_reports_what_it_said(tmp_path: Path) -> None:
    with pytest.raises(sumo_tools.SumoFailed) as caught:
        sumo_tools.run_netconvert(["--node-files", str(tmp_path / "missing.nod.xml"), "--output-file", str(tmp_path / "x.net.xml")])
    assert "missing.nod.xml" in caught.value.output
