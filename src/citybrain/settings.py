"""The one typed settings object (STYLE rule 4).

Nothing here reads the environment at import: ``Settings()`` is built by the app factory, the CLI or
a test and passed down. Variables are ``CITYBRAIN_<KEY>`` and, for nested sections,
``CITYBRAIN_<SECTION>__<KEY>`` (for example ``CITYBRAIN_AUTH__ACCESS_TOKEN_MINUTES=5``).
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citybrain.core.errors import ConfigurationError


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class AuthSettings(BaseModel):
    access_token_minutes: int = Field(15, ge=1, le=24 * 60, description="lifetime of an OAuth2 access token, minutes")
    session_hours: int = Field(12, ge=1, le=24 * 30, description="lifetime of a browser session, hours")
    login_max_failures: int = Field(5, ge=1, description="failed logins before an account is throttled")
    login_window_minutes: int = Field(15, ge=1, description="window in which failures are counted, minutes")
    login_max_failures_per_client: int = Field(50, ge=1, description="failed logins from one client address, any usernames")


class DemoSettings(BaseModel):
    persons: int = Field(100_000, ge=100, description="synthetic residents of the demo city's population registry")
    companies: int = Field(20_000, ge=50, description="synthetic market entities of the demo city's legal-entity registry")


class TrafficSettings(BaseModel):
    twin: bool = Field(True, description="run the live digital twin of the demo network while serving")
    twin_network: str = Field("jinan_3x4", description="the network the live twin runs")
    twin_speed: float = Field(1.0, ge=0, le=100, description="simulated seconds per wall-clock second (0: as fast as possible)")
    twin_controller: str = Field("citybrain", description="the controller the twin's junctions start with")
    workers: int = Field(1, ge=1, le=32, description="simulations an evaluation runs at once (one process each)")


class OpsSettings(BaseModel):
    feeder: bool = Field(True, description="while serving, the demo's connected systems push heartbeats and metrics through the API")
    feed_url: str | None = Field(None, description="where the demo's systems reach the API; `citybrain serve` sets its own address")
    checks: bool = Field(True, description="while serving, check silent systems, no-data rules, health probes and retention")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITYBRAIN_",
        env_nested_delimiter="__",
        env_file=None,
        extra="ignore",
    )

    environment: Environment = Environment.DEVELOPMENT
    var_dir: Path = Field(Path("var"), description="where the SQLite database, secret key and files live")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under var/")
    data_dir: Path = Field(Path("../shared/data"), description="public data sets (geo/, traffic/, standards/)")
    assets_dir: Path = Field(Path("node_modules"), description="third-party browser assets installed by npm")
    secret_key: SecretStr | None = Field(None, description="signs tokens and cookies; generated into var/ when unset")
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    #: the organisation that runs the platform (大数据局): its reviewers approve catalogue entries
    bureau_org_code: str = "jn.dsjj"
    base_url: str = "http://127.0.0.1:8000"
    sql_echo: bool = False
    auth: AuthSettings = AuthSettings()
    demo: DemoSettings = DemoSettings()
    traffic: TrafficSettings = TrafficSettings()
    ops: OpsSettings = OpsSettings()

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.environment is Environment.PRODUCTION and self.secret_key is None:
            raise ConfigurationError("config.secret_key_required")
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite at ``var/citybrain.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'citybrain.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.var_dir / "files"

    def resolved_secret_key(self) -> str:
        """The secret key; in development a random one is generated once into ``var/secret_key``.

        Production refuses to start without ``CITYBRAIN_SECRET_KEY`` (checked at construction), so a
        key file on a server's disk never silently becomes the production key.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
