"""The deployment's region: `--region` on `serve` and `worker`, MOORAGE_REGION, the setting
`region` (default "local"), and what a region name may be."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from moorage.cli import main
from moorage.config import Settings, load_settings


class Stop(Exception):
    """Raised in place of building the container: the test only wants the settings."""


def settings_of(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `moorage ARGV` starts with."""
    seen: list[Settings] = []

    def load(config_file: Any = None, **overrides: Any) -> Settings:
        seen.append(load_settings(config_file, **overrides))
        raise Stop

    monkeypatch.setattr(main, "load_settings", load)
    with pytest.raises(Stop):
        main._main(argv)
    return seen[0]


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_region_option(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOORAGE_REGION", raising=False)
    assert settings_of([command, "--region", "kr1"], monkeypatch).region == "kr1"
    assert settings_of([command], monkeypatch).region == "local"


def test_the_environment_names_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOORAGE_REGION", "jp1")
    assert load_settings().region == "jp1"
    assert settings_of(["worker", "--region", "us1"], monkeypatch).region == "us1"


@pytest.mark.parametrize("name", ["", "KR1", "kr 1", "-kr1", "k" * 33])
def test_a_region_is_a_short_lowercase_name(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOORAGE_REGION", raising=False)
    with pytest.raises(ValidationError):
        load_settings(region=name)
