from __future__ import annotations

from pathlib import Path

import pytest

from citybrain.core.errors import ConfigurationError
from citybrain.settings import Environment, Settings


def test_settings_come_from_citybrain_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CITYBRAIN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CITYBRAIN_AUTH__ACCESS_TOKEN_MINUTES", "5")
    monkeypatch.setenv("CITYBRAIN_DEFAULT_LANGUAGE", "en")
    settings = Settings()
    assert settings.auth.access_token_minutes == 5
    assert settings.default_language == "en"
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'citybrain.db'}"
    assert settings.data_dir == Path("../shared/data")


def test_a_secret_key_is_generated_once_into_var(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    key = settings.resolved_secret_key()
    assert len(key) > 40
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings(var_dir=tmp_path / "var").resolved_secret_key() == key


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Settings(environment=Environment.PRODUCTION, var_dir=tmp_path)
    assert Settings(environment=Environment.PRODUCTION, var_dir=tmp_path, secret_key="s" * 40).resolved_secret_key() == "s" * 40


def test_importing_the_app_reads_no_environment() -> None:
    """STYLE rule 4: settings are read when ``Settings()`` is built, never at import."""
    import subprocess
    import sys

    probe = """
import os
reads = []
cls = os.environ.__class__
real_getitem, real_get = cls.__getitem__, cls.get
def getitem(self, key):
    if str(key).startswith("CITYBRAIN_"):
        reads.append(key)
    return real_getitem(self, key)
def get(self, key, default=None):
    if str(key).startswith("CITYBRAIN_"):
        reads.append(key)
    return real_get(self, key, default)
cls.__getitem__, cls.get = getitem, get
import citybrain.app, citybrain.cli
print(reads)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={"CITYBRAIN_X": "1", "PATH": ""})
    assert out.stdout.strip() == "[]"
