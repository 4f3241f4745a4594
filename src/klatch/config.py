"""Settings, loaded and validated once: ``KLATCH_*`` environment variables over an
optional TOML file (``KLATCH_CONFIG`` or ``--config``), over defaults.

Nothing here runs at import time; ``load_settings()`` is called by the CLI and
tests, and the result is handed to ``create_app``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from klatch.errors import InvalidArguments


class Settings(BaseSettings):
    """Everything an operator can configure. Each field maps to ``KLATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KLATCH_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("klatch-data"), description="Where SQLite and files live")
    database_url: str | None = Field(
        default=None,
        description="postgresql://user@host/db for PostgreSQL; default: SQLite in data_dir",
    )
    bus_url: str | None = Field(
        default=None, description="redis://host:port/0 to share events between processes"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="The URL browsers use to reach this server (demo links)"
    )
    demo: bool = Field(default=False, description="Demo mode: relaxed origin checks, demo data")
    secret_key: str | None = Field(
        default=None, description="Signs console sessions; required outside demo mode"
    )
    auto_migrate: bool = Field(default=True, description="Upgrade the schema on start")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    rate_limit_rest: int = Field(default=1000, ge=0, description="Requests/min per API key; 0=off")
    rate_limit_search: int = Field(
        default=100,
        ge=0,
        description="Searches/min per API key (POST /v1/customers/search, as Kustomer's "
        "100/min for machine users); 0=off",
    )
    rate_limit_session: int = Field(
        default=600, ge=0, description="Requests/min per chat session; 0=off"
    )
    rate_limit_new_sessions_per_address: int = Field(
        default=60, ge=0, description="New chat sessions/min per client address (IPv6: /64); 0=off"
    )
    rate_limit_new_sessions_per_key: int = Field(
        default=3000, ge=0, description="New chat sessions/min per tracking key; 0=off"
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("127.0.0.1", "::1"),
        description="Peers whose X-Forwarded-For names the client: addresses or networks, "
        "comma-separated; '*' trusts every peer, '' none",
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        description="Open connections (HTTP and WebSocket) per process; past it requests get 503",
    )
    body_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A request body not received within this is refused with 408",
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, description="How long an idle keep-alive connection stays open"
    )
    login_max_age_seconds: int = Field(default=900, ge=30, description="Max age of login JWT iat")
    sqlite_checkpoint_pages: int = Field(
        default=4000, ge=100, description="WAL size (pages) past which it is checkpointed and reset"
    )
    pg_pool_size: int = Field(default=10, ge=1)
    ws_heartbeat_seconds: int = Field(
        default=25, ge=1, description="WebSocket ping interval; silent peers are closed"
    )
    realtime_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often sockets' orgs are checked against the event log "
        "(catches events a lost bus message did not bring)",
    )
    ws_queue_size: int = Field(
        default=1000, ge=10, description="Frames a slow socket may lag before it must resync"
    )
    event_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Events older than this many days are pruned from the event log, their "
        "attribute history summarised (docs/operations.md); unset: kept forever",
    )
    event_prune_seconds: float = Field(
        default=3600.0, gt=0, description="How often the event log is pruned (with retention)"
    )
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        default=(60.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0),
        description="Seconds between a failed webhook delivery and each retry, comma-separated "
        "(Kustomer's 1, 1, 2, 5, 10, 15, 30 minutes); failing through all of them disables it",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a webhook receiver has to answer"
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed webhook delivery is this process's; a process that "
        "dies leaves it to another after this (must exceed the timeout)",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often due webhook deliveries are looked for"
    )
    webhook_concurrency: int = Field(
        default=32, ge=1, le=1000, description="Webhook deliveries in flight per process"
    )
    webhook_limit: int = Field(default=5, ge=0, description="Outbound webhooks per org")
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (tests, demo)",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Let webhooks use http:// URLs (tests, demo)"
    )
    webhook_log_days: float = Field(
        default=7.0, gt=0, description="How long delivered webhook transactions are kept"
    )
    log_level: str = "info"
    access_log: bool = Field(default=False, description="Log every request, one line each")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (uvicorn's) or json: one object a line, with requestId"
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token /metrics asks for; unset, /metrics is not served",
    )
    metrics_address: str | None = Field(
        default=None,
        description="host:port of a separate listener for /metrics (then not on the main port)",
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://", "sqlite://", "sqlite:///")
        ):
            raise ValueError("must start with postgresql:// or sqlite:///")
        return value

    @field_validator("bus_url")
    @classmethod
    def _check_bus_url(cls, value: str | None) -> str | None:
        if value in (None, "", "memory", "memory://"):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be redis://... (or empty for the in-process bus)")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _check_metrics_address(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9100")
        return value

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """Where the separate metrics listener binds, if one is configured."""
        if self.metrics_address is None:
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _check_retry_schedule(cls, value: Any) -> tuple[float, ...]:
        try:
            steps = tuple(float(entry) for entry in _entries(value))
        except ValueError:
            raise ValueError("must be seconds, comma-separated, e.g. 60,60,120") from None
        if any(not 0 <= step <= 86400 * 7 for step in steps):
            raise ValueError("each step is 0 to 604800 seconds")
        return steps

    @model_validator(mode="after")
    def _check_webhook_lease(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _check_trusted_proxies(cls, value: Any) -> tuple[str, ...]:
        proxies = _entries(value)
        for entry in proxies:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry)
                except ValueError:
                    raise ValueError(f"'{entry}' is not an IP address or network") from None
        return proxies

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        return self

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None and self.database_url.startswith("postgres")

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "klatch.db"

    def require_production_secrets(self) -> None:
        """Refuse to serve outside demo mode with a missing or default secret."""
        if not self.demo and self.secret_key is None:
            raise InvalidArguments(
                "KLATCH_SECRET_KEY is not set; set it to a random string of 32+ characters "
                "(klatch init writes one into the data dir), or run `klatch demo`",
                code="config_invalid",
            )


def _entries(value: Any) -> tuple[str, ...]:
    """The non-empty entries of a list setting: a comma-separated string (as the
    environment gives it) or a sequence (TOML, overrides), each stripped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(text for text in (str(item).strip() for item in items) if text)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from env vars over an optional TOML file, with explicit overrides.

    The TOML file uses the setting names without prefix (``data_dir = "..."``).
    Invalid settings raise ``InvalidArguments`` naming each bad setting.
    """
    import os

    file_values: dict[str, Any] = {}
    path = config_file or (
        Path(os.environ["KLATCH_CONFIG"]) if os.environ.get("KLATCH_CONFIG") else None
    )
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidArguments(
                f"Cannot read config file {path}: {exc}", code="config_invalid"
            ) from exc
    env_names = {k.removeprefix("KLATCH_").lower() for k in os.environ if k.startswith("KLATCH_")}
    # Precedence: explicit overrides > environment > file > defaults.
    merged = {k: v for k, v in file_values.items() if k not in env_names}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"KLATCH_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidArguments(f"Invalid configuration: {problems}", code="config_invalid") from exc
    return _with_secret(settings)


def _with_secret(settings: Settings) -> Settings:
    """Use the secret ``klatch init`` wrote into the data dir when none is configured."""
    if settings.secret_key is not None:
        return settings
    secret_file = settings.data_dir / "secret_key"
    if secret_file.is_file():
        secret = secret_file.read_text().strip()
        return settings.model_copy(update={"secret_key": secret})
    return settings
