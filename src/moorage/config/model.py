"""The settings' pydantic-settings model, built from `Settings`' declarations: it reads and
validates whatever `moorage.config` does not read itself (values not written plainly,
invalid ones, which it reports as a pydantic ValidationError). Imported only then."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self, get_type_hints

from pydantic import Field, SecretStr, create_model, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from moorage.config import (
    Secret,
    Setting,
    Settings,
    check_listen,
    check_tls_pair,
    check_trusted_proxies,
    split_trusted_proxies,
)


class _Rules(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORAGE_", extra="forbid", frozen=True)

    @field_validator("listen", check_fields=False)
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return check_listen(value)

    @field_validator("trusted_proxies", mode="before", check_fields=False)
    @classmethod
    def _split_trusted_proxies(cls, value: Any) -> Any:
        return split_trusted_proxies(value)

    @field_validator("trusted_proxies", check_fields=False)
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        return check_trusted_proxies(value)

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Self:
        check_tls_pair(getattr(self, "tls_cert", None), getattr(self, "tls_key", None))
        return self

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
        # the class's `toml_file`: none for the model itself, see `read`).
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def _annotation(hint: Any) -> Any:
    """A declared type in pydantic's terms: secrets as SecretStr, the list of trusted proxies
    as it comes (comma-separated) from the environment."""
    if hint == Secret | None:
        return SecretStr | None
    if hint == list[str]:
        return Annotated[list[str], NoDecode]
    return hint


def _field(spec: Setting) -> Any:
    limits = {"gt": spec.gt, "ge": spec.ge, "le": spec.le, "pattern": spec.pattern}
    given: dict[str, Any] = {name: value for name, value in limits.items() if value is not None}
    if spec.default_factory is not None:
        return Field(default_factory=spec.default_factory, description=spec.description, **given)
    return Field(spec.default, description=spec.description, **given)


@cache
def model() -> type[BaseSettings]:
    """The model, named `Settings` as its errors say."""
    hints = get_type_hints(Settings)
    fields: dict[str, Any] = {
        name: (_annotation(hints[name]), _field(spec)) for name, spec in Settings.declared().items()
    }
    built: type[BaseSettings] = create_model("Settings", __base__=_Rules, **fields)
    return built


def read(values: Mapping[str, Any], config_file: Path | None) -> dict[str, Any]:
    """Every setting's value, read and validated by the model; raises its ValidationError."""
    base = model()
    if config_file is None:
        found = base(**values)
    else:

        class FileSettings(base):  # type: ignore[valid-type,misc]
            """The model reading `config_file`: a class of this call's own, so no shared state
            names the file."""

            model_config = SettingsConfigDict(toml_file=config_file, title="Settings")

        found = FileSettings(**values)
    return {name: _plain(getattr(found, name)) for name in Settings.declared()}


def _plain(value: Any) -> Any:
    return Secret(value.get_secret_value()) if isinstance(value, SecretStr) else value
