"""Settings read without pydantic (`moorage.config`) and by the pydantic-settings model built
from the same declarations (`moorage.config.model`) agree: the same values for the same
options, environment and TOML file, and the model's own error where a setting is invalid.
Settings written plainly are read without loading pydantic at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from moorage import config
from moorage.config import Secret, Settings, load_settings
from moorage.config.model import read

# (options, environment, TOML file or None): each read both ways.
Case = tuple[Mapping[str, Any], Mapping[str, str], str | None]

PLAIN: list[Case] = [
    ({}, {}, None),
    ({"data_dir": Path("/srv/moorage"), "listen": "0.0.0.0:5000"}, {}, None),
    ({}, {"MOORAGE_REGION": "kr1", "MOORAGE_AUTH": "none", "MOORAGE_LOG_LEVEL": "warning"}, None),
    ({}, {"moorage_job_concurrency": "8", "MOORAGE_RUN_JOBS": "false"}, None),
    ({}, {"MOORAGE_HTTP_KEEP_ALIVE": "0", "MOORAGE_S3_REDIRECT": "1"}, None),
    ({}, {"MOORAGE_GC_GRACE_SECONDS": "0", "MOORAGE_UPLOAD_EXPIRY_HOURS": "0.5"}, None),
    ({}, {"MOORAGE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1,"}, None),
    ({}, {"MOORAGE_DATABASE_URL": "", "MOORAGE_PUBLIC_HOST": "reg.example.com"}, None),
    ({}, {"MOORAGE_TOKEN_KEY": "c2VjcmV0", "MOORAGE_ADMIN_PASSWORD": ""}, None),
    ({}, {"MOORAGE_TLS_CERT": "/etc/cert.pem", "MOORAGE_TLS_KEY": "/etc/key.pem"}, None),
    ({}, {"MOORAGE_FOO": "not a setting, ignored"}, None),
    ({"region": "jp1"}, {"MOORAGE_REGION": "kr1"}, 'region = "us1"\n'),
    ({}, {"MOORAGE_LISTEN": "[::1]:5001"}, 'listen = "127.0.0.1:6000"\njob_concurrency = 3\n'),
    (
        {},
        {},
        'storage_driver = "s3"\ns3_bucket = "b"\ns3_secret_key = "k"\n'
        'trusted_proxies = ["10.1.2.3"]\nlogin_failure_window_seconds = 60\n'
        "s3_redirect = false\ntoken_lifetime_minutes = 720\n",
    ),
]
# Written otherwise, or invalid: read by the model.
OTHER: list[Case] = [
    ({}, {"MOORAGE_RUN_JOBS": "yes", "MOORAGE_JOB_CONCURRENCY": " 7"}, None),
    ({}, {"MOORAGE_JOB_LEASE_SECONDS": "1e2", "MOORAGE_HTTP_THREADS": "+2"}, None),
    ({}, {"MOORAGE_RUN_JOBS": "maybe"}, None),
    ({}, {"MOORAGE_JOB_CONCURRENCY": "65"}, None),
    ({}, {"MOORAGE_SCHEDULE_TICK_SECONDS": "0"}, None),
    ({}, {"MOORAGE_REGION": "KR1"}, None),
    ({}, {"MOORAGE_REGION": "kr1\n"}, None),
    ({}, {"MOORAGE_AUTH": "basic"}, None),
    ({}, {"MOORAGE_LISTEN": "5000"}, None),
    ({}, {"MOORAGE_TRUSTED_PROXIES": "10.0.0.0/8,nginx"}, None),
    ({}, {"MOORAGE_TLS_CERT": "/etc/cert.pem"}, None),
    ({}, {"MOORAGE_DATA_DIR": ""}, None),
    ({"region": ""}, {}, None),
    ({}, {"MOORAGE_RUN_JOBS": "false", "moorage_run_jobs": "true"}, None),
    ({}, {}, 'region = "kr1"\nunknown_setting = 1\n'),
    ({}, {}, "job_concurrency = 2.0\n"),
    ({}, {}, "token_lifetime_minutes = true\n"),
    ({}, {}, 'job_concurrency = "4"\nrun_jobs = "on"\n'),
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.lower().startswith("moorage_"):
            monkeypatch.delenv(name)
    return monkeypatch


def outcome(reader: Any, case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What `reader(options, file)` gives: the settings' values, or the error's text."""
    options, env, toml = case
    with monkeypatch.context() as patched:
        for name, value in env.items():
            patched.setenv(name, value)
        file = None
        if toml is not None:
            file = tmp_path / "moorage.toml"
            file.write_text(toml)
        try:
            found = reader(options, file)
        except ValueError as exc:
            return f"{type(exc).__name__}: {exc}"
    values = found if isinstance(found, dict) else vars(found)
    return {
        name: (type(value), value.get_secret_value() if isinstance(value, Secret) else value)
        for name, value in values.items()
    }


def plain_read(options: Mapping[str, Any], file: Path | None) -> Settings:
    return load_settings(file, **options)


@pytest.mark.parametrize("case", PLAIN + OTHER, ids=lambda case: json.dumps(case, default=str))
def test_both_readers_agree(case: Case, tmp_path: Path, environment: pytest.MonkeyPatch) -> None:
    mine = outcome(plain_read, case, tmp_path, environment)
    assert mine == outcome(read, case, tmp_path, environment)


@pytest.mark.parametrize("case", PLAIN, ids=lambda case: json.dumps(case, default=str))
def test_plain_settings_need_no_model(
    case: Case, tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    def refuse(values: Mapping[str, Any], file: Path | None) -> dict[str, Any]:
        raise AssertionError("the model was asked")

    environment.setattr("moorage.config.model.read", refuse)
    assert isinstance(outcome(plain_read, case, tmp_path, environment), dict)


@pytest.mark.parametrize("case", OTHER, ids=lambda case: json.dumps(case, default=str))
def test_other_settings_are_the_models(
    case: Case, tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    with pytest.raises(config._Unsure):
        outcome(lambda o, f: config._read_plain(o, f), case, tmp_path, environment)


def test_settings_are_frozen_and_hide_secrets(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("MOORAGE_S3_SECRET_KEY", "hush")
    settings = Settings(auth="none")
    with pytest.raises(AttributeError):
        settings.auth = "token"  # type: ignore[misc]
    assert settings.s3_secret_key == Secret("hush")
    assert "hush" not in repr(settings)
    assert settings.shown()["s3_secret_key"] == "**********"
    assert settings.shown()["data_dir"] == "data"
    assert settings == Settings(auth="none")


def test_a_server_reads_its_settings_without_pydantic(tmp_path: Path) -> None:
    probe = (
        "import sys; from moorage.config import load_settings; "
        f"load_settings(data_dir={str(tmp_path)!r}, region='kr1'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pydantic')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
