"""moorage's one settings object: environment (`MOORAGE_*`), an optional TOML file, defaults.

Read once by the CLI (`load_settings`), validated at start-up and frozen; nothing in this
module changes after import. Adapters and the domain never see it: `wiring.build` hands
them plain parameters.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORAGE_", extra="forbid", frozen=True)

    data_dir: Path = Field(Path("data"), description="SQLite database and filesystem blobs")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite in the data directory"
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="normal: commits survive process crashes; full: power loss too, slower",
    )
    listen: str = Field("127.0.0.1:5000", description="HOST:PORT to serve on")
    public_host: str | None = Field(
        None, description="public registry address, e.g. reg.example.com"
    )
    private_host: str | None = Field(None, description="private (closed network) address")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="reverse proxies (addresses or CIDRs) whose X-Forwarded-Proto/-Host/-For "
        "are believed; empty: never; environment: comma-separated",
    )
    migrate_on_start: bool = True
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain, server certificate first): serve HTTPS on listen; "
        "needs tls_key",
    )
    tls_key: Path | None = Field(None, description="the certificate's PEM private key, unencrypted")

    storage_driver: Literal["filesystem", "s3"] = "filesystem"
    storage_root: Path | None = Field(
        None, description="filesystem driver root; default data/blobs"
    )
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    s3_private_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    s3_redirect: bool = Field(
        True,
        description="answer blob GETs with a 307 to a presigned URL on the object store "
        "(false: moorage streams the bytes itself)",
    )
    s3_redirect_expiry_seconds: int = Field(
        1200,
        ge=60,
        le=7 * 24 * 3600,
        description="how long a redirect's presigned URL stays valid (S3 allows 7 days)",
    )

    admin_password: SecretStr | None = Field(
        None, description="first admin's password; generated and printed once when unset"
    )
    auth: Literal["token", "none"] = Field(
        "token", description='"none" turns authentication off (development only)'
    )
    login_failure_window_seconds: float = Field(
        900.0,
        gt=0,
        le=7 * 24 * 3600,
        description="failed sign-ins are counted (per account, per client address) over this "
        "window; a count whose last failure is older starts again",
    )
    login_free_failures: int = Field(
        5, ge=1, le=1000, description="failed sign-ins an account may have before it waits"
    )
    login_backoff_cap_seconds: float = Field(
        300.0,
        ge=1,
        le=24 * 3600,
        description="longest wait of a failing account before its next sign-in is checked "
        "(the wait starts at 1 s and doubles with each further failure; answered 429)",
    )
    login_address_failures: int = Field(
        50,
        ge=1,
        le=1_000_000,
        description="failed sign-ins from one client address in the window past which its "
        "failures are answered 429 (a correct sign-in from it still succeeds)",
    )
    token_service: str = Field("moorage", description="the `service` of bearer tokens")
    token_lifetime_minutes: int = Field(60, gt=0, le=720, description="at most 12 hours")
    token_key: SecretStr | None = Field(
        None,
        description="base64 signing key shared by all nodes; default: generated in the data "
        "directory on first start",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="base64 key (32 bytes) that encrypts stored credentials of replication "
        "rules and proxy-cache upstreams; give every node the same one; default: generated in "
        "the data directory on first start",
    )
    region: str = Field(
        "local",
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="this deployment's region name (kr1, jp1, ...), shown in the console and "
        "the API and recorded by replication",
    )
    run_jobs: bool = Field(
        True, description="run background jobs and schedules in the serving process"
    )
    job_concurrency: int = Field(2, ge=1, le=64)
    job_lease_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="a running job's claim, renewed while it runs: a job whose process died is "
        "taken over by another this long after its last renewal",
    )
    schedule_tick_seconds: float = Field(5.0, gt=0, le=60)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text",
        description="serve and worker log to standard error as text lines for people, or as "
        "JSON lines for log shippers",
    )
    upload_expiry_hours: float = Field(24.0, gt=0)
    gc_grace_seconds: float = Field(
        7200.0,
        ge=0,
        description="garbage collection deletes a blob only after it has been unreferenced "
        "this long (and upload leftovers, orphan objects older than this)",
    )
    allow_private_targets: bool = Field(
        False,
        description="let webhooks, replication and proxy caches call loopback, link-local "
        "and private addresses (refused by default, so they cannot reach inside the network)",
    )
    proxy_cache_revalidate_seconds: int = Field(
        300,
        ge=0,
        le=365 * 24 * 3600,
        description="a proxy-cache registry serves a cached tag this long before it asks "
        "its upstream whether the tag still names the same digest (a registry may set its "
        "own interval; digests are never revalidated)",
    )
    webhook_retry_base_seconds: float = Field(
        5.0, gt=0, le=3600, description="delay before a failed webhook delivery's first retry"
    )
    audit_retention_days: int = Field(
        90,
        ge=1,
        le=36500,
        description="audit log entries older than this many days are purged (daily, at 03:15)",
    )

    # The HTTP server (granian): how long clients may dawdle, how many may be connected.
    http_header_timeout_seconds: float = Field(
        15.0,
        ge=1,
        le=600,
        description="time a connection has to deliver a complete request head, counted from "
        "its opening or from the end of the previous response: cuts slow headers "
        "(slowloris) and idle keep-alive connections alike",
    )
    http_keep_alive: bool = Field(
        True, description="keep connections open between requests (HTTP/1.1 keep-alive)"
    )
    http_body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="a request body that sends nothing for this long is cut (an inactivity "
        "timeout: a slow but progressing upload never is)",
    )
    http_max_connections: int = Field(
        8192,
        ge=16,
        le=1_000_000,
        description="connections served at once; lowered at start-up to what the open-file "
        "limit allows",
    )
    http_backlog: int = Field(
        4096,
        ge=128,
        le=65_535,
        description="connections waiting to be accepted (the kernel caps it at somaxconn)",
    )
    http_threads: int = Field(
        1, ge=1, le=64, description="granian's I/O runtime threads (the app has one event loop)"
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be HOST:PORT")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_trusted_proxies(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        networks = []
        for entry in filter(None, (e.strip() for e in value)):
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"trusted_proxies: not an address or CIDR: {entry!r}") from None
        return networks

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both, or neither")
        return self

    @property
    def scheme(self) -> str:
        """How `serve` speaks on `listen`: https with a certificate, else http."""
        return "https" if self.tls_cert else "http"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'moorage.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        return self.storage_root or self.data_dir / "blobs"

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def s3_options(self) -> dict[str, Any]:
        if not self.s3_bucket:
            raise ValueError("storage_driver = s3 needs s3_bucket")
        return {
            "bucket": self.s3_bucket,
            "endpoint_url": self.s3_endpoint_url,
            "public_endpoint_url": self.s3_public_endpoint_url,
            "private_endpoint_url": self.s3_private_endpoint_url,
            "access_key": self.s3_access_key,
            "secret_key": self.s3_secret_key.get_secret_value() if self.s3_secret_key else None,
            "region": self.s3_region,
            "prefix": self.s3_prefix,
            "redirect": self.s3_redirect,
            "redirect_expires": self.s3_redirect_expiry_seconds,
        }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: command-line options, then environment, then the TOML file (named by
        # the class's `toml_file`: none for `Settings` itself, see `load_settings`).
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from options (non-None `overrides`), environment and the TOML file."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if config_file is None:
        return Settings(**values)

    class FileSettings(Settings):
        """Settings reading `config_file`: a class of this call's own, so no shared state
        names the file."""

        model_config = SettingsConfigDict(toml_file=config_file, title="Settings")

    return FileSettings(**values)
