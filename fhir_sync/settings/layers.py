"""Flags over the environment over a TOML file, resolved in this one place for any layered
section (`fhir-sync sync`'s `[sync]`, `[ehr]`, `[pharmacy]`, `[target]`; the server's
endpoints file).

A layered section is a pydantic model whose fields are the TOML keys. Each field declares,
once, in a `Key`: its check (the parser that turns a raw value into its type), its help text
(the README's table and the flag's `--help`), its flag, and for the dispensing rules its
`$plan`/`$enroll` parameter. `Layers.resolve` looks every key up (flag, then
`FHIR_SYNC_[<SECTION>_]<KEY>`, then `<file> [<section>] <key>`) and validates the section at
once; a bad value fails with its origin (`--page-size: must be 1 or more`,
`FHIR_SYNC_EHR_PAGE_SIZE: ...`, `sync.toml [ehr] page_size: ...`) and never with the value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

ENV_PREFIX: Final = "FHIR_SYNC_"
#: The section whose keys are `FHIR_SYNC_<KEY>` (the others are `FHIR_SYNC_<SECTION>_<KEY>`).
TOP: Final = "sync"

S = TypeVar("S", bound="LayeredSection")


class ConfigError(ValueError):
    """A setting is missing, unknown or invalid; the message says which and where from."""


class KeyedError(ValueError):
    """A check of several keys failed; `key` is the one whose origin the message names."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Flag:
    """A setting's command-line flag. `name` is how messages name its origin (default
    `--<key-with-dashes>`); `panel` is where `fhir-sync sync --help` lists it (None: `sync`
    has no such flag; other commands name it). `type` is the flag's value type for the CLI,
    `options` further keyword arguments of the CLI's option (metavar, show_default, ...)."""

    name: str = ""
    help: str = ""
    panel: str | None = None
    type: Any = str
    section: str = TOP
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Key:
    """One declared key of a layered section: its check, help text and flags; `shown` is how
    the README's table reads its default when not the literal value; `parameter` names a
    dispensing rule's `$plan`/`$enroll` parameter."""

    check: Callable[[Any], Any]
    help: str
    flags: tuple[Flag, ...] = ()
    shown: str | None = None
    parameter: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.parse)

    def parse(self, value: Any) -> Any:
        try:
            return self.check(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Found:
    value: Any
    origin: str


class LayeredSection(BaseModel):
    """A table of a layered settings file; every field is `Annotated[type, Key(...)]`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    #: The table names this model is read as (`[ehr]`, `[pharmacy]`, `[target]` share one).
    tables: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(cls.model_fields)

    @classmethod
    def declared(cls) -> Iterator[tuple[str, Key]]:
        """(key, declaration) in declaration order."""
        for name, field in cls.model_fields.items():
            key = next(m for m in field.metadata if isinstance(m, Key))
            yield name, key

    @classmethod
    def flags(cls) -> Iterator[tuple[str, Key, Flag]]:
        """(key, declaration, flag) of every flag, with its name and help filled in."""
        for name, key in cls.declared():
            for flag in key.flags:
                yield name, key, flag_of(name, key, flag)


def flag_of(name: str, key: Key, flag: Flag) -> Flag:
    return Flag(
        name=flag.name or "--" + name.replace("_", "-"),
        help=flag.help or key.help,
        panel=flag.panel,
        type=flag.type,
        section=flag.section,
        options=flag.options,
    )


def env_name(section: str, key: str) -> str:
    middle = "" if section == TOP else f"{section.upper()}_"
    return f"{ENV_PREFIX}{middle}{key.upper()}"


class Layers:
    """Looks a setting up in flags, then the environment, then the file."""

    def __init__(
        self,
        flags: Mapping[tuple[str, str], Any],
        env: Mapping[str, str],
        file: Mapping[str, Any],
        file_name: str,
        flag_names: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self._flags = flags
        self._env = env
        self._file = file
        self._file_name = file_name
        self._flag_names = flag_names or {}

    def get(self, section: str, key: str) -> Found | None:
        if (section, key) in self._flags:
            return Found(self._flags[(section, key)], self._flag_names.get((section, key), key))
        name = env_name(section, key)
        value = self._env.get(name)
        if value is not None and value != "":
            return Found(value, name)
        table = self._file.get(section)
        if isinstance(table, Mapping) and key in table:
            return Found(table[key], f"{self._file_name} [{section}] {key}")
        return None

    def origin(self, section: str, key: str) -> str:
        found = self.get(section, key)
        return found.origin if found is not None else f"[{section}] {key}"

    def resolve(self, model: type[S], section: str) -> S:
        """The section's keys found in the layers, checked; unset keys keep their defaults
        (and stay out of `model_fields_set`)."""
        raw = {}
        for key in model.model_fields:
            found = self.get(section, key)
            if found is not None:
                raw[key] = found.value
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            key, message = _first(exc)
            raise ConfigError(f"{self.origin(section, key)}: {message}") from None


def _first(exc: ValidationError) -> tuple[str, str]:
    """The key and message of the first failed check, in declaration order."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedError):
        return cause.key, str(cause)
    key = str(error["loc"][0]) if error["loc"] else ""
    return key, str(cause) if isinstance(cause, Exception) else error["msg"]


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; `what` names the file in messages (`config file`)."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def check_tables(
    data: Mapping[str, Any], sections: Mapping[str, type[LayeredSection]], where: str
) -> None:
    """Unknown tables and keys are errors (typos must not pass)."""
    for section, table in data.items():
        if section not in sections:
            known = ", ".join(f"[{name}]" for name in sections)
            raise ConfigError(f"{where}: unknown section [{section}] (use {known})")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {section} must be a table ([{section}])")
        unknown_keys(table, sections[section], f"{where}: unknown key(s) in [{section}]")


def unknown_keys(table: Mapping[str, Any], model: type[LayeredSection], message: str) -> None:
    unknown = sorted(set(table) - model.keys())
    if unknown:
        raise ConfigError(f"{message}: {', '.join(unknown)}")
