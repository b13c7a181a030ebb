"""How a section of the settings tree is declared and read.

A section is a pydantic-settings class whose field names are the variables: the field
`public_url` of any section is `FHIR_SYNC_PUBLIC_URL`, its default and its `description` (the
help text the README's table is made from) sit on the same line. Each field parses its own raw
value in a `before` validator, so a bad value fails with the message written there (naming the
variable), whether it came from the environment or from Python.

Reading takes a mapping (tests and subprocess set-ups pass their own) instead of only
`os.environ`: the mapping is handed to pydantic-settings' environment source for the duration
of one construction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Final, Self

from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

PREFIX: Final = "FHIR_SYNC_"
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("fhir_sync_environ", default=None)


def setting(default: Any, help: str, *, shown: str | None = None, alias: str | None = None) -> Any:
    """One declared setting: its default, its help text and (for the README) how the default
    reads when it is not the literal value (`shown`)."""
    extra: dict[str, Any] = {"shown": shown} if shown is not None else {}
    return Field(default, description=help, json_schema_extra=extra, validation_alias=alias)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Section(BaseSettings):
    """A group of FHIR_SYNC_* variables read and checked together."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        validate_default=False,
        populate_by_name=True,
    )
    #: The section's name in the tree and in the README's table order.
    section: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        source = env_settings if environ is None else _MappingSource(settings_cls, environ)
        return (init_settings, source)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """A variable set to spaces is as good as unset (`FHIR_SYNC_X= ` in a unit file)."""
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The section from `environ` (default os.environ); ValueError on a bad value."""
        with _reading(os.environ if environ is None else environ):
            try:
                return cls()
            except ValidationError as exc:
                raise first_error(exc) from None

    @classmethod
    def checked(cls, **values: Any) -> Self:
        """The section from Python values, checked by the same validators."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise first_error(exc) from None

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The declared defaults, for the plain value classes built from a section."""
        return {name: field.default for name, field in cls.model_fields.items()}

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field `name` (for messages)."""
        return env_name(name, cls.model_fields[name])

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """The FHIR_SYNC_* variables this section declares, by name."""
        return {
            env_name(name, field): field
            for name, field in cls.model_fields.items()
            if env_name(name, field).startswith(PREFIX)
        }


def env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else f"{PREFIX}{name.upper()}"


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def first_error(exc: ValidationError) -> Exception:
    """The exception a validator raised (its message names the variable), not pydantic's
    report around it; the first one in declaration order, as the old readers failed."""
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, Exception):
            return cause
    first = exc.errors()[0]
    name = ".".join(str(part) for part in first["loc"])
    return ValueError(f"{PREFIX}{name.upper()}: {first['msg']}")
