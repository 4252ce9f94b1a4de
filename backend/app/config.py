"""Application settings, read from the environment and from the repository's `.env` file."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.database import DatabaseTimeouts

BACKEND_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = BACKEND_DIR.parent
DEFAULT_SQLITE_URL = f"sqlite:///{BACKEND_DIR / 'incident_tracker.db'}"
# For development only: with APP_ENV=production the app refuses to start while SECRET_KEY is this value.
DEFAULT_SECRET_KEY = "development-only-secret-key-change-me-0123456789"  # noqa: S105 - refused in production


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
    # The API is reached over TLS (ended by a proxy in front): answers carry Strict-Transport-Security. A request that
    # reaches the app over https gets it anyway.
    behind_tls: bool = False
    # A list with search (or a commander filter) counts at most this many matches; past it the total is a lower
    # bound (total_exact false).
    list_count_limit: int = Field(10_000, ge=1)
    # A request body over this many bytes is refused with 413 before it is read (app/request_limits.py). The largest
    # valid body, an incident with a 10,000-character description of emoji each JSON-escaped as \uXXXX\uXXXX (12
    # bytes), is about 125 kB: the default leaves eight times that.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)

    # Bounded waits for the database (app.database.DatabaseTimeouts), in seconds: a database that stops answering is
    # a 503 within them, not a hung request. Opening a connection; each wait for one answer from the server (not a
    # whole result: a long export keeps receiving rows) or, on SQLite, for another connection's lock; a free
    # connection in the pool.
    db_connect_timeout_seconds: float = Field(3.0, gt=0, le=60)
    db_statement_timeout_seconds: float = Field(5.0, gt=0, le=600)
    db_pool_timeout_seconds: float = Field(3.0, gt=0, le=60)

    # Accounts and sign-in
    secret_key: str = Field(DEFAULT_SECRET_KEY, min_length=32)
    access_token_minutes: int = Field(480, ge=1, le=60 * 24 * 30)
    first_admin_email: str | None = None
    first_admin_password: SecretStr | None = None
    # Failed sign-ins within the window, after which further attempts are answered 429: for one account from one
    # client address, for one account from every address (a ceiling on guessing spread over many addresses), and
    # from one address for every account.
    login_max_failures_per_account_client: int = Field(5, ge=1)
    login_max_failures_per_account: int = Field(100, ge=1)
    login_max_failures_per_client: int = Field(20, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    # After an address's first failure for an account, seconds before it may try that account again; doubled after
    # each further failure, until the limit above refuses it for the window. 0: no slowing down.
    login_failure_delay_seconds: float = Field(1.0, ge=0, le=3600)
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the API believes (comma-separated addresses or
    # networks, or `*`); empty: none, and the client address is the connection's. `make run` passes it to uvicorn.
    trusted_proxies: Annotated[list[str], NoDecode] = []

    # The live feed (/api/live). With REDIS_URL, a change made through one API process reaches the clients of every
    # other process; without it each process hears only its own writes (the database still holds every change, so
    # the slow poll below finds the others' too, LIVE_POLL_SECONDS late).
    redis_url: str = ""
    # Prefix of the Redis channel, so that several deployments (or test runs) can share one Redis.
    redis_prefix: str = Field("incident-tracker", min_length=1, max_length=100)
    # How often a process reads the outbox without being told to (a lost doorbell only delays by this much).
    live_poll_seconds: float = Field(2.0, gt=0, le=60)
    # A connection that says nothing this long after connecting is closed (4401).
    live_auth_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # An application {"type": "ping"} after this many seconds without a message, so proxies keep the socket open.
    live_ping_seconds: float = Field(25.0, gt=0, le=300)
    # How often a process checks its connections' accounts (deactivated, new password, new role); at most 10 s.
    live_account_check_seconds: float = Field(5.0, gt=0, le=10)
    # Messages waiting for one connection; past it the client is too slow and is dropped (4408).
    live_queue_size: int = Field(1000, ge=1)
    # How many changes the outbox keeps for a client that resumes; one resuming from before them gets `resync`.
    live_retention_changes: int = Field(100_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _anchor_sqlite_path(cls, value: str) -> str:
        """A relative SQLite path is taken from the repository root, wherever the command runs."""
        prefix = "sqlite:///"
        path = value.removeprefix(prefix)
        if value.startswith(prefix) and path and path != ":memory:" and not Path(path).is_absolute():
            return prefix + str(ROOT_DIR / path)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [proxy.strip() for proxy in value.split(",") if proxy.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe to run in production (checked at start-up when APP_ENV=production)."""
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY:
            problems.append("SECRET_KEY is the development default; set a long random value")
        return problems

    @property
    def database_timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(
            connect=self.db_connect_timeout_seconds,
            statement=self.db_statement_timeout_seconds,
            pool=self.db_pool_timeout_seconds,
        )

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
