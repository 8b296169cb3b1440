"""The accounts file: which accounts to watch, how often, and where their events go.

Why TOML read with pydantic-settings: the file is written by hand and lives for years, so every
key is checked (unknown keys are refused, not ignored) and an error names the file and the key.
Passwords never live in it: an account names an environment variable (``password_env``) or a
file (``password_file``) that holds its password, and a sink names the variable that holds its
secret (webhook ``secret_env``, RabbitMQ ``url_env``, as broker URLs carry a password). Relative
paths in the file are relative to the file's folder, so a service finds them whatever its
working directory. The minimal form (README, "Watching accounts")::

    [[accounts]]
    name = "main"
    address = "https://vpbx.mts.ru"
    login = "+7-9000000000"
    password_env = "VATS_PASSWORD_MAIN"

    [[sinks]]
    name = "log"
    type = "jsonl"
    path = "events.jsonl"
"""

from __future__ import annotations

import re
import tomllib
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scraper.errors import ConfigError
from scraper.settings import DEFAULT_ADDRESS, check_address, named_variable

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DEFAULT_EVERY = timedelta(minutes=5)

#: the file being read: pydantic-settings builds its sources per class, the path is per call
_reading: ContextVar[Path | None] = ContextVar("vats_config_reading", default=None)


def default_config_path() -> Path:
    """``accounts.toml`` in the user's config dir (``~/.config/vats`` on Linux)."""
    return Path(platformdirs.user_config_dir("vats")) / "accounts.toml"


def default_database_path() -> Path:
    return Path(platformdirs.user_data_dir("vats")) / "watch.sqlite"


def parse_interval(value: object) -> timedelta:
    """``300``, ``"90s"``, ``"5m"``, ``"1h30m"`` → a positive interval."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (m := _DURATION.fullmatch(value.strip())):
        hours, minutes, secs = (int(g or 0) for g in m.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"not an interval: {value!r} (seconds, or like 90s, 5m, 1h30m)")
    if seconds <= 0:
        raise ValueError(f"an interval must be positive, not {value!r}")
    return timedelta(seconds=seconds)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)


class AccountEntry(_Entry):
    """One cabinet account. Its password is read when the account logs in, never stored."""

    address: str = DEFAULT_ADDRESS
    login: str
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    every: timedelta = DEFAULT_EVERY
    ca_cert: Path | None = None
    concurrency: int = Field(4, ge=1, le=64)
    #: how reads are replayed (``--transport``): unset = the run's default (``page``)
    transport: Literal["page", "request", "direct"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a password is never written in the accounts file: put it in an environment "
                "variable named by password_env, or in a file (mode 0600) named by password_file")
        return data

    @model_validator(mode="after")
    def _one_password_source(self) -> AccountEntry:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_env and password_file")
        return self

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> timedelta:
        return parse_interval(value)

    def password(self) -> str:
        """The password from its variable or file; ``ConfigError`` says which one is missing."""
        if self.password_env is not None:
            value = named_variable(self.password_env)
            if not value:
                raise ConfigError(f"the environment variable {self.password_env} is not set",
                                  where=f"account {self.name}: password_env")
            return value
        assert self.password_file is not None
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {self.password_file}: {exc.strerror}",
                              where=f"account {self.name}: password_file") from None
        value = text.rstrip("\r\n")
        if not value:
            raise ConfigError(f"{self.password_file} is empty",
                              where=f"account {self.name}: password_file")
        return value


class _SinkEntry(_Entry):
    #: SIP passwords in events: only sinks that ask for them get them, others a fingerprint
    include_secrets: bool = False


class JsonlSinkConfig(_SinkEntry):
    """One CloudEvent a line, flushed per event; ``path = "-"`` is standard output."""

    type: Literal["jsonl"]
    path: str


class WebhookSinkConfig(_SinkEntry):
    """POSTs each event, signed per Standard Webhooks with the secret in ``secret_env``."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(10, gt=0)
    ca_cert: Path | None = None

    def secret(self) -> str:
        value = named_variable(self.secret_env)
        if not value:
            raise ConfigError(f"the environment variable {self.secret_env} is not set",
                              where=f"sink {self.name}: secret_env")
        return value


class RabbitSinkConfig(_SinkEntry):
    """Publishes to a durable topic exchange; the broker URL (with its password) in ``url_env``.

    ``queue``, when given, is declared durable and bound to every event type, so events wait
    there until a consumer comes; without it an event no queue is bound for is returned by the
    broker, and recorded as ``returned``.
    """

    type: Literal["rabbitmq"]
    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    exchange: str = Field("vats.events", min_length=1)
    queue: str | None = None

    def url(self) -> str:
        value = named_variable(self.url_env)
        if not value:
            raise ConfigError(f"the environment variable {self.url_env} is not set",
                              where=f"sink {self.name}: url_env")
        return value


SinkConfig = Annotated[JsonlSinkConfig | WebhookSinkConfig | RabbitSinkConfig,
                       Field(discriminator="type")]


class WatchConfig(BaseSettings):
    """The whole accounts file."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    accounts: list[AccountEntry] = Field(min_length=1)
    sinks: list[SinkConfig] = Field(default_factory=list)
    #: the snapshot store and outbox (SQLite)
    database: Path = Field(default_factory=default_database_path)
    #: accounts read at once (``vats watch --parallel`` overrides it)
    parallel: int = Field(2, ge=1, le=64)
    #: the variable holding the Celery broker's URL (``vats worker``, ``--engine celery``);
    #: unset: ``VATS_BROKER_URL``
    broker_url_env: str = Field("VATS_BROKER_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: the file this was read from (set by ``load_config``)
    source: Path | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> WatchConfig:
        for what, names in (("account", [a.name for a in self.accounts]),
                            ("sink", [s.name for s in self.sinks])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what} names must be unique: {', '.join(twice)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _reading.get()
        if path is None:
            return (init_settings,)
        return (init_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    def broker_url(self) -> str:
        """The broker's URL (it holds a password: never in the file itself)."""
        value = named_variable(self.broker_url_env)
        if not value:
            raise ConfigError(f"the environment variable {self.broker_url_env} is not set "
                              "(the Celery broker's URL, e.g. amqp://user:password@host/)",
                              where="broker_url_env")
        return value

    def account(self, name: str) -> AccountEntry:
        for entry in self.accounts:
            if entry.name == name:
                return entry
        known = ", ".join(a.name for a in self.accounts)
        raise ConfigError(f"no account named {name!r} (the file has: {known})",
                          path=str(self.source) if self.source else None)


def load_config(path: Path | None = None) -> WatchConfig:
    """Read and check the accounts file; every problem is a ``ConfigError`` naming file and key."""
    path = (path or default_config_path()).expanduser()
    shown = str(path)
    if not path.is_file():
        raise ConfigError("no such file (write one: README, \"Watching accounts\")", path=shown)
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))  # its own error says line and column
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read it: {exc}", path=shown) from None
    token = _reading.set(path)
    try:
        config = WatchConfig(source=path.resolve())  # type: ignore[call-arg]  # the file fills it
    except ValidationError as exc:
        raise _config_error(exc, shown) from None
    finally:
        _reading.reset(token)
    return _anchored(config, path.resolve().parent)


def _config_error(exc: ValidationError, path: str) -> ConfigError:
    first = exc.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    # a discriminated union puts the sink type in the location: drop it, it is not a key
    where = re.sub(r"\.(jsonl|webhook|rabbitmq)(?=\.|$)", "", where)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return ConfigError(message + more, path=path, where=where or None)


def _anchored(config: WatchConfig, folder: Path) -> WatchConfig:
    """Relative paths of the file, made relative to the file's folder."""

    def fix(value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        return value if value.is_absolute() else folder / value

    accounts = [a.model_copy(update={"password_file": fix(a.password_file),
                                     "ca_cert": fix(a.ca_cert)}) for a in config.accounts]
    sinks: list[Any] = []
    for sink in config.sinks:
        if isinstance(sink, JsonlSinkConfig) and sink.path != "-":
            sink = sink.model_copy(update={"path": str(fix(Path(sink.path)))})
        elif isinstance(sink, WebhookSinkConfig):
            sink = sink.model_copy(update={"ca_cert": fix(sink.ca_cert)})
        sinks.append(sink)
    database = fix(config.database)
    return config.model_copy(update={"accounts": accounts, "sinks": sinks, "database": database})
