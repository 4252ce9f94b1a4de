"""Application settings, read from the environment and from the repository's `.env` file."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = BACKEND_DIR.parent
DEFAULT_SQLITE_URL = f"sqlite:///{BACKEND_DIR / 'incident_tracker.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ROOT_DIR / ".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "production", "test"] = "development"
    database_url: str = DEFAULT_SQLITE_URL
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_port: int = Field(5500, ge=1, le=65535)
    # Where the pages reach the API; empty means http://127.0.0.1:API_PORT.
    public_api_url: str = ""
    # Comma-separated list; empty means the local frontend (ports 5500 and WEB_PORT on localhost and 127.0.0.1).
    cors_origins: Annotated[list[str], NoDecode] = []
    sql_echo: bool = False

    @field_validator("database_url")
    @classmethod
    def _anchor_sqlite_path(cls, value: str) -> str:
        """A relative SQLite path is taken from the repository root, wherever the command runs."""
        prefix = "sqlite:///"
        path = value.removeprefix(prefix)
        if value.startswith(prefix) and path and path != ":memory:" and not Path(path).is_absolute():
            return prefix + str(ROOT_DIR / path)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @property
    def api_url(self) -> str:
        return self.public_api_url.rstrip("/") or f"http://127.0.0.1:{self.api_port}"

    @property
    def allowed_origins(self) -> list[str]:
        if self.cors_origins:
            return self.cors_origins
        ports = dict.fromkeys([5500, self.web_port])
        return [f"http://{host}:{port}" for port in ports for host in ("localhost", "127.0.0.1")]


@lru_cache
def get_settings() -> Settings:
    return Settings()
