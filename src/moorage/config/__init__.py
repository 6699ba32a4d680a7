"""moorage's one settings object: environment (`MOORAGE_*`), an optional TOML file, defaults.

Read once by the CLI (`load_settings`), validated at start-up and frozen; nothing in this
module changes after import. Adapters and the domain never see it: `wiring.build` hands
them plain parameters.

Settings were a pydantic-settings model, and their rules still are: the model is built from
the declarations below (`moorage.config.model`) and has the last word. A server should not
keep pydantic in its memory only to read its settings once (about 10 MiB, more than
anything else it does without), so settings written plainly (an integer's digits, `true`
or `false`, one of a choice's words, a path, a name matching its pattern) are read here,
and everything else is handed to the model: its error messages, and how it reads values
written otherwise (`yes`, ` 7`, `1e3`), are the model's. tests/unit/test_config.py checks
that both read the same settings alike.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

ENV_PREFIX = "moorage_"  # environment names are matched case-insensitively


class Secret:
    """A secret setting: shown as `**********`, its value only on request."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"


@dataclass(frozen=True, slots=True)
class Setting:
    """A setting's declaration: its default, its bounds, what it is for."""

    default: Any = None
    default_factory: Callable[[], Any] | None = None
    description: str | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    pattern: str | None = None

    def initial(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def setting(
    default: Any = None,
    *,
    default_factory: Callable[[], Any] | None = None,
    description: str | None = None,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    pattern: str | None = None,
) -> Any:
    """Declares a setting in `Settings` (typed `Any`, as the attribute's type is the value's)."""
    return Setting(default, default_factory, description, gt, ge, le, pattern)


class Settings:
    """Every setting, validated and frozen. `Settings(**values)` reads `values`, then the
    environment, then the defaults; `load_settings` reads a TOML file besides."""

    data_dir: Path = setting(Path("data"), description="SQLite database and filesystem blobs")
    database_url: str | None = setting(
        None, description="SQLAlchemy URL; default: SQLite in the data directory"
    )
    sqlite_synchronous: Literal["normal", "group", "full"] = setting(
        "normal",
        description="normal: commits survive process crashes; group: power loss too, "
        "concurrent commits sharing each fsync; full: power loss too, an fsync per commit",
    )
    listen: str = setting("127.0.0.1:5000", description="HOST:PORT to serve on")
    public_host: str | None = setting(
        None, description="public registry address, e.g. reg.example.com"
    )
    private_host: str | None = setting(None, description="private (closed network) address")
    trusted_proxies: list[str] = setting(
        default_factory=list,
        description="reverse proxies (addresses or CIDRs) whose X-Forwarded-Proto/-Host/-For "
        "are believed; empty: never; environment: comma-separated",
    )
    migrate_on_start: bool = setting(True)
    tls_cert: Path | None = setting(
        None,
        description="PEM certificate (chain, server certificate first): serve HTTPS on listen; "
        "needs tls_key",
    )
    tls_key: Path | None = setting(
        None, description="the certificate's PEM private key, unencrypted"
    )

    storage_driver: Literal["filesystem", "s3"] = setting("filesystem")
    storage_root: Path | None = setting(
        None, description="filesystem driver root; default data/blobs"
    )
    s3_bucket: str | None = setting(None)
    s3_endpoint_url: str | None = setting(None)
    s3_public_endpoint_url: str | None = setting(None)
    s3_private_endpoint_url: str | None = setting(None)
    s3_access_key: str | None = setting(None)
    s3_secret_key: Secret | None = setting(None)
    s3_region: str = setting("us-east-1")
    s3_prefix: str = setting("")
    s3_redirect: bool = setting(
        True,
        description="answer blob GETs with a 307 to a presigned URL on the object store "
        "(false: moorage streams the bytes itself)",
    )
    s3_redirect_expiry_seconds: int = setting(
        1200,
        ge=60,
        le=7 * 24 * 3600,
        description="how long a redirect's presigned URL stays valid (S3 allows 7 days)",
    )

    admin_password: Secret | None = setting(
        None, description="first admin's password; generated and printed once when unset"
    )
    auth: Literal["token", "none"] = setting(
        "token", description='"none" turns authentication off (development only)'
    )
    login_failure_window_seconds: float = setting(
        900.0,
        gt=0,
        le=7 * 24 * 3600,
        description="failed sign-ins are counted (per account, per client address) over this "
        "window; a count whose last failure is older starts again",
    )
    login_free_failures: int = setting(
        5, ge=1, le=1000, description="failed sign-ins an account may have before it waits"
    )
    login_backoff_cap_seconds: float = setting(
        300.0,
        ge=1,
        le=24 * 3600,
        description="longest wait of a failing account before its next sign-in is checked "
        "(the wait starts at 1 s and doubles with each further failure; answered 429)",
    )
    login_address_failures: int = setting(
        50,
        ge=1,
        le=1_000_000,
        description="failed sign-ins from one client address in the window past which its "
        "failures are answered 429 (a correct sign-in from it still succeeds)",
    )
    token_service: str = setting("moorage", description="the `service` of bearer tokens")
    token_lifetime_minutes: int = setting(60, gt=0, le=720, description="at most 12 hours")
    token_key: Secret | None = setting(
        None,
        description="base64 signing key shared by all nodes; default: generated in the data "
        "directory on first start",
    )
    secret_key: Secret | None = setting(
        None,
        description="base64 key (32 bytes) that encrypts stored credentials of replication "
        "rules and proxy-cache upstreams; give every node the same one; default: generated in "
        "the data directory on first start",
    )
    region: str = setting(
        "local",
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="this deployment's region name (kr1, jp1, ...), shown in the console and "
        "the API and recorded by replication",
    )
    run_jobs: bool = setting(
        True, description="run background jobs and schedules in the serving process"
    )
    job_concurrency: int = setting(2, ge=1, le=64)
    job_lease_seconds: float = setting(
        60.0,
        ge=1,
        le=3600,
        description="a running job's claim, renewed while it runs: a job whose process died is "
        "taken over by another this long after its last renewal",
    )
    schedule_tick_seconds: float = setting(5.0, gt=0, le=60)
    log_level: Literal["debug", "info", "warning", "error"] = setting("info")
    log_format: Literal["text", "json"] = setting(
        "text",
        description="serve and worker log to standard error as text lines for people, or as "
        "JSON lines for log shippers",
    )
    upload_expiry_hours: float = setting(24.0, gt=0)
    gc_grace_seconds: float = setting(
        7200.0,
        ge=0,
        description="garbage collection deletes a blob only after it has been unreferenced "
        "this long (and upload leftovers, orphan objects older than this)",
    )
    allow_private_targets: bool = setting(
        False,
        description="let webhooks, replication and proxy caches call loopback, link-local "
        "and private addresses (refused by default, so they cannot reach inside the network)",
    )
    proxy_cache_revalidate_seconds: int = setting(
        300,
        ge=0,
        le=365 * 24 * 3600,
        description="a proxy-cache registry serves a cached tag this long before it asks "
        "its upstream whether the tag still names the same digest (a registry may set its "
        "own interval; digests are never revalidated)",
    )
    webhook_retry_base_seconds: float = setting(
        5.0, gt=0, le=3600, description="delay before a failed webhook delivery's first retry"
    )
    audit_retention_days: int = setting(
        90,
        ge=1,
        le=36500,
        description="audit log entries older than this many days are purged (daily, at 03:15)",
    )
    manifest_cache_mib: int = setting(
        8,
        ge=0,
        le=65_536,
        description="memory each process keeps manifests in for GETs (their bodies, digests "
        "and bookkeeping), least recently used out first; 0 keeps none",
    )

    # The HTTP server (granian): how long clients may dawdle, how many may be connected.
    http_header_timeout_seconds: float = setting(
        15.0,
        ge=1,
        le=600,
        description="time a connection has to deliver a complete request head, counted from "
        "its opening or from the end of the previous response: cuts slow headers "
        "(slowloris) and idle keep-alive connections alike",
    )
    http_keep_alive: bool = setting(
        True, description="keep connections open between requests (HTTP/1.1 keep-alive)"
    )
    http_body_timeout_seconds: float = setting(
        60.0,
        gt=0,
        le=3600,
        description="a request body that sends nothing for this long is cut (an inactivity "
        "timeout: a slow but progressing upload never is)",
    )
    http_max_connections: int = setting(
        8192,
        ge=16,
        le=1_000_000,
        description="connections served at once; lowered at start-up to what the open-file "
        "limit allows",
    )
    http_backlog: int = setting(
        4096,
        ge=128,
        le=65_535,
        description="connections waiting to be accepted (the kernel caps it at somaxconn)",
    )
    http_threads: int = setting(
        1, ge=1, le=64, description="granian's I/O runtime threads (the app has one event loop)"
    )

    def __init__(self, **values: Any) -> None:
        _fill(self, _read(values, None))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"settings are frozen: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"Settings({shown})"

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        """Every setting's declaration, by name, in the order declared."""
        return {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}

    def shown(self) -> dict[str, Any]:
        """The settings as JSON values, secrets hidden (`moorage verify-config`)."""
        return {name: _json_value(getattr(self, name)) for name in self.declared()}

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


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from options (non-None `overrides`), environment and the TOML file."""
    values = {k: v for k, v in overrides.items() if v is not None}
    settings = object.__new__(Settings)
    _fill(settings, _read(values, config_file))
    return settings


def is_invalid_settings(error: BaseException) -> bool:
    """Whether `error` is the model's report of invalid settings (pydantic's
    ValidationError, a ValueError), as `Settings` and `load_settings` raise it."""
    core = sys.modules.get("pydantic_core")
    return core is not None and isinstance(error, core.ValidationError)


# --- the rules both readers apply ------------------------------------------------------------


def check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("listen must be HOST:PORT")
    return value


def split_trusted_proxies(value: Any) -> Any:
    return value.split(",") if isinstance(value, str) else value


def check_trusted_proxies(value: list[str]) -> list[str]:
    networks = []
    for entry in filter(None, (e.strip() for e in value)):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"trusted_proxies: not an address or CIDR: {entry!r}") from None
    return networks


def check_tls_pair(tls_cert: Path | None, tls_key: Path | None) -> None:
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together: give both, or neither")


# --- reading ---------------------------------------------------------------------------------


class _Unsure(Exception):
    """A value not written plainly, or not valid: the model decides."""


def _read(values: Mapping[str, Any], config_file: Path | None) -> dict[str, Any]:
    """Every setting's value from `values`, the environment and the TOML file, in that
    order of precedence, as the model reads them."""
    try:
        return _read_plain(values, config_file)
    except _Unsure:
        from moorage.config.model import read

        return read(values, config_file)


def _read_plain(values: Mapping[str, Any], config_file: Path | None) -> dict[str, Any]:
    declared = Settings.declared()
    given = {**_from_file(config_file), **_from_environment(declared), **values}
    if not given.keys() <= declared.keys():
        raise _Unsure  # the model forbids unknown names
    hints = _hints()
    read = {  # defaults are validated too, as the model does
        name: _plain(given[name] if name in given else spec.initial(), hints[name], spec)
        for name, spec in declared.items()
    }
    try:
        check_listen(read["listen"])
        read["trusted_proxies"] = check_trusted_proxies(read["trusted_proxies"])
        check_tls_pair(read["tls_cert"], read["tls_key"])
    except ValueError:
        raise _Unsure from None
    return read


def _from_environment(declared: Mapping[str, Setting]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in os.environ.items():
        key = name.lower()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] in declared:
            if key[len(ENV_PREFIX) :] in found:
                raise _Unsure  # the same setting twice, in different cases
            found[key[len(ENV_PREFIX) :]] = value
    return found


def _from_file(config_file: Path | None) -> dict[str, Any]:
    path = config_file.expanduser() if config_file is not None else None
    if path is None or not path.is_file():
        return {}  # a TOML file that is not there is no settings, as for the model
    with path.open("rb") as toml:
        return tomllib.load(toml)


_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _plain(value: Any, hint: Any, spec: Setting) -> Any:
    """`value` for a setting of type `hint`, when written plainly and within bounds."""
    optional = type(None) in get_args(hint)
    kind = next((a for a in get_args(hint) if a is not type(None)), hint) if optional else hint
    if value is None:
        if optional:
            return None
        raise _Unsure
    read = _typed(value, kind)
    if spec.pattern is not None and ("\n" in read or not re.search(spec.pattern, read)):
        raise _Unsure
    if not _within(read, spec):
        raise _Unsure
    return read


def _within(value: Any, spec: Setting) -> bool:
    return (
        (spec.gt is None or value > spec.gt)
        and (spec.ge is None or value >= spec.ge)
        and (spec.le is None or value <= spec.le)
    )


def _typed(value: Any, kind: Any) -> Any:
    if get_origin(kind) is Literal:
        if type(value) is str and value in get_args(kind):
            return value
    elif kind is str:
        if type(value) is str:
            return value
    elif kind is bool:
        if type(value) is bool:
            return value
        if type(value) is str and value in _BOOLEANS:
            return _BOOLEANS[value]
    elif kind is int:
        if type(value) is int:
            return value
        if type(value) is str and _INTEGER.fullmatch(value):
            return int(value)
    elif kind is float:
        if type(value) in (int, float) and math.isfinite(value):
            return float(value)
        if type(value) is str and _DECIMAL.fullmatch(value):
            return float(value)
    elif kind is Path:
        if isinstance(value, Path):
            return value
        if type(value) is str and value:
            return Path(value)
    elif kind is Secret:
        if isinstance(value, Secret):
            return value
        if type(value) is str:
            return Secret(value)
    elif get_origin(kind) is list:
        items = split_trusted_proxies(value)
        if type(items) is list and all(type(item) is str for item in items):
            return items
    raise _Unsure


def _hints() -> dict[str, Any]:
    return get_type_hints(Settings)


def _fill(settings: Settings, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        object.__setattr__(settings, name, value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Secret):
        return str(value)
    return value
