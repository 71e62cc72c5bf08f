"""Effective configuration: defaults < ``farm.toml`` < environment variables.

Every value remembers where it came from, so ``farm config show`` can say why it is what it is.
Nothing here needs a running service: the defaults are an embedded SQLite file under ``FARM_HOME``
(``./.farm``) and no broker, which selects the embedded executor.

``farm.toml`` is read from ``FARM_CONFIG`` if set, else ``./farm.toml``, else ``FARM_HOME/farm.toml``::

    home = ".farm"
    database_url = "postgresql+psycopg://farm@db/farm"
    broker_url = "redis://redis:6379/0"
    visibility_timeout = 43200

    [protocol]
    repeats = 3
    warmup_runs = 1
    num_runs = 20

    [nightly]                       # what `farm nightly` measures; lists or comma-separated strings
    models = "all"
    devices = "local"
    threads = [1, 4]
    delegates = ["cpu", "xnnpack"]
    repeats = 5
    confirm_batches = 3             # re-run batches per suspect, confirm_gap_s apart
    webhook_url = "https://chat.example/hooks/perf"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import ConfigError
from orchestrator.secrets import mask_url, url_secrets

__all__ = ["PROTOCOL_KEYS", "URL_SETTINGS", "Setting", "Settings", "default_settings", "load_settings"]

class _Range:
    """The values a numeric setting allows: ``low`` or more (more than ``low`` when ``above``),
    up to ``high``. NaN is never allowed."""

    def __init__(self, low: float, high: float | None = None, *, above: bool = False) -> None:
        self.low, self.high, self.above = low, high, above

    def admits(self, value: float) -> bool:
        return ((value > self.low) if self.above else (value >= self.low)) and (
            self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        return f"more than {self.low:g}" if self.above else f"{self.low:g} or more"


class _Form:
    """The values a text setting allows: those matching ``pattern``, described for a person."""

    def __init__(self, pattern: str, description: str) -> None:
        self.pattern, self.description = re.compile(pattern), description

    def admits(self, value: str) -> bool:
        return self.pattern.match(value) is not None

    def __str__(self) -> str:
        return self.description


#: the databases the farm runs on (the schema and its migrations are tested on both); whether the
#: URL parses and its driver is installed is checked where the engine is made (storage)
_DATABASE_URL = _Form(r"(sqlite|postgresql)(\+\w+)?://",
                      "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
_COUNT, _AT_LEAST_ONE = _Range(0), _Range(1)
_SECONDS, _POSITIVE = _Range(0), _Range(0, above=True)


class _Key(NamedTuple):
    var: str  # its environment variable
    default: Any  # its type is the setting's type (None: text)
    description: str
    allowed: _Range | _Form | None = None


#: every setting: its environment variable, default, description and allowed values, checked in
#: every source (farm.toml, the environment, and the command options that override a setting)
_KEYS: dict[str, _Key] = {
    "home": _Key("FARM_HOME", ".farm", "folder for the embedded database, model cache and reports"),
    "database_url": _Key("FARM_DATABASE_URL", None, "SQLAlchemy URL; default: SQLite in FARM_HOME",
                         _DATABASE_URL),
    "broker_url": _Key("FARM_BROKER_URL", None, "Celery broker; unset = embedded mode"),
    "repeats": _Key("FARM_REPEATS", 3, "independent sessions per config", _AT_LEAST_ONE),
    "warmup_runs": _Key("FARM_WARMUP_RUNS", 1, "warmup invocations per session", _COUNT),
    "warmup_min_secs": _Key("FARM_WARMUP_MIN_SECS", 0.5, "minimum warmup seconds per session",
                            _SECONDS),
    # 5, not benchmark_model's 50: min_secs decides for any model faster than 200 ms, and for slower
    # ones a session's mean over 5 runs has a standard error of at most about 2% (within-session CV
    # up to 4.7% measured on the zoo), under the 2-20% spread between a config's sessions, which the
    # repeats and their median are there for.
    "num_runs": _Key("FARM_NUM_RUNS", 5, "minimum measured invocations per session", _AT_LEAST_ONE),
    "min_secs": _Key("FARM_MIN_SECS", 1.0, "minimum measured seconds per session", _SECONDS),
    "max_secs": _Key("FARM_MAX_SECS", 60.0, "maximum measured seconds per session", _SECONDS),
    "session_timeout_s": _Key("FARM_SESSION_TIMEOUT", 600.0, "seconds before a session is killed",
                              _POSITIVE),
    # at or below 0 C no phone would ever pass the gate
    "max_temp_c": _Key("FARM_MAX_TEMP_C", 37.0, "thermal gate: wait until the phone is cooler (C)",
                       _POSITIVE),
    "min_battery": _Key("FARM_MIN_BATTERY", 30, "battery gate: wait for this level (%) or charging",
                        _Range(0, 100)),
    "gate_max_wait_s": _Key("FARM_GATE_MAX_WAIT", 300.0, "longest wait at the gate (s), then go on",
                            _SECONDS),
    "gate_poll_s": _Key("FARM_GATE_POLL", 5.0, "seconds between gate readings", _POSITIVE),
    "device_retries": _Key("FARM_DEVICE_RETRIES", 3,
                           "times a session cut by a lost phone is measured again", _COUNT),
    # Real phones take tens of seconds to re-enumerate after a USB reset or an adb restart; a wait
    # is cheap next to the batch it saves. Per loss, polled with backoff (workers/runners/phone.py).
    # 0: look for the phone once, without waiting.
    "device_reconnect_s": _Key("FARM_DEVICE_RECONNECT", 120.0,
                               "longest wait (s) for a phone lost mid-session to come back, per loss",
                               _SECONDS),
    # The broker redelivers a task not acknowledged within this many seconds: keep it above the
    # longest device batch; the device lease makes an early redelivery harmless, not free.
    "visibility_timeout": _Key("FARM_VISIBILITY_TIMEOUT", 43200,
                               "seconds before the broker redelivers an unacknowledged task",
                               _POSITIVE),
    "lease_ttl": _Key("FARM_LEASE_TTL", 60, "seconds a worker's device lease lasts unless renewed",
                      _POSITIVE),
    "heartbeat_s": _Key("FARM_HEARTBEAT", 5.0,
                        "seconds between a worker's device scans / heartbeats", _POSITIVE),
    "worker_name": _Key("FARM_WORKER_NAME", None,
                        "name a worker registers its phones under; default: the host name"),
    "nightly_cron": _Key("FARM_NIGHTLY_CRON", "0 2 * * *", "when `farm beat` submits the nightly run"),
    "nightly_models": _Key("FARM_NIGHTLY_MODELS", "all", "models of the nightly run"),
    "nightly_devices": _Key("FARM_NIGHTLY_DEVICES", "all", "devices of the nightly run"),
    "nightly_threads": _Key("FARM_NIGHTLY_THREADS", "1,4", "thread counts of the nightly run"),
    "nightly_delegates": _Key("FARM_NIGHTLY_DELEGATES", "cpu,xnnpack", "delegates of the nightly run"),
    "nightly_repeats": _Key("FARM_NIGHTLY_REPEATS", 5, "sessions per config in the nightly run",
                            _AT_LEAST_ONE),
    # with no re-run batch no suspect could be confirmed: the nightly would look quiet while it
    # could not alert at all
    "nightly_confirm_batches": _Key("FARM_NIGHTLY_CONFIRM_BATCHES", 3,
                                    "separate re-run batches (of `repeats` sessions) per suspect",
                                    _AT_LEAST_ONE),
    "nightly_confirm_gap_s": _Key("FARM_NIGHTLY_CONFIRM_GAP", 300.0,
                                  "least seconds between the starts of a suspect's re-run batches",
                                  _SECONDS),
    "nightly_webhook_url": _Key("FARM_NIGHTLY_WEBHOOK_URL", None,
                                "JSON POST of new alerts; unset = none"),
}

#: the measurement protocol (``orchestrator.jobspec.JobSpec``); farm.toml groups it in a [protocol]
#: table
PROTOCOL_KEYS = ("repeats", "warmup_runs", "warmup_min_secs", "num_runs", "min_secs", "max_secs",
                  "session_timeout_s", "max_temp_c", "min_battery", "gate_max_wait_s",
                  "gate_poll_s", "device_retries")

#: the settings that are URLs, which may carry credentials: printed and logged only through
#: ``orchestrator.secrets.mask_url``
URL_SETTINGS = tuple(name for name in _KEYS if name.endswith("_url"))

#: the tables farm.toml may have
_TABLES = ("protocol", "nightly")


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str  # "default", "farm.toml (PATH)", or "env FARM_X"
    description: str


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Setting] = field(default_factory=dict)
    config_file: Path | None = None

    def with_options(self, **options: Any) -> Settings:
        """These settings with a command's options on top (``None``: not given), each checked as a
        value from farm.toml or the environment is; its source is the option, ``--num-runs`` for
        ``num_runs``."""
        values = dict(self.values)
        for name, raw in options.items():
            if name not in values:
                raise TypeError(f"not a setting: {name!r}")
            if raw is not None:
                source = f"option {_option(name)}"
                values[name] = replace(values[name], value=_coerce(name, raw, source),
                                       source=source)
        return Settings(values, self.config_file)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name].value
        except KeyError:
            raise AttributeError(name) from None

    @property
    def home_path(self) -> Path:
        return Path(self.values["home"].value).expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        url = self.values["database_url"].value
        return url or f"sqlite:///{self.home_path / 'farm.db'}"

    @property
    def credentials(self) -> tuple[str, ...]:
        """The credentials of the URL settings as plain text, for ``orchestrator.secrets.mask_text``
        and ``mask_logging``."""
        return tuple(secret for name in URL_SETTINGS if name in self.values
                     for secret in url_secrets(self.values[name].value))

    @property
    def is_embedded(self) -> bool:
        return not self.values["broker_url"].value


def _label(name: str) -> str:
    """A setting as farm.toml spells it: ``nightly.repeats`` for ``nightly_repeats``."""
    return f"nightly.{name.removeprefix('nightly_')}" if name.startswith("nightly_") else name


def _option(name: str) -> str:
    """The command option that overrides a setting: ``--num-runs`` for ``num_runs``."""
    return f"--{name.replace('_', '-')}"


def _shown(name: str, value: Any) -> str:
    """``value`` quoted for a message; a URL setting's credentials masked, even in one that is
    not a URL (a typo such as ``postgresql//farm:PASSWORD@db`` still holds the password)."""
    return repr(mask_url(value) if name in URL_SETTINGS and isinstance(value, str) else value)


def _coerce(name: str, raw: Any, source: str) -> Any:
    """``raw`` (text from the environment, a farm.toml value, a command's option) as the setting's
    type, within its allowed values: the one check every source goes through."""
    key = _KEYS[name]
    if raw is None:
        return raw
    if key.default is None or isinstance(key.default, str):
        # a number is taken as its digits: `threads = 4` in the [nightly] table
        if not (isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool))):
            raise ConfigError(f"{_label(name)} from {source} is {_shown(name, raw)}, not text",
                              hint=f"set {_label(name)} to a quoted string")
        value: Any = str(raw)
        _check(name, value, source)
        return value
    kind = type(key.default)
    try:
        # TOML's true is not 1, and 2.7 runs are not 2: neither is a number of this kind
        if isinstance(raw, bool) or (kind is int and isinstance(raw, float)
                                     and not raw.is_integer()):
            raise TypeError(raw)
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{_label(name)} from {source} is {raw!r}, not a {kind.__name__}",
            hint=f"set {_label(name)} to a {kind.__name__}",
        ) from None
    _check(name, value, source)
    return value


def _check(name: str, value: Any, source: str) -> None:
    key = _KEYS[name]
    if key.allowed is None or key.allowed.admits(value):
        return
    where = (f"give {_option(name)}" if source.startswith("option ")
             else f"set {_label(name)} in farm.toml or {key.var} to")
    default = "unset" if key.default is None else format(key.default, "g")
    raise ConfigError(f"{_label(name)} from {source} is {_shown(name, value)}; "
                      f"allowed: {key.allowed}",
                      hint=f"{where} {key.allowed} (default {default})")


def _find_config_file(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("FARM_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            what = "which is not a file" if path.exists() else "which does not exist"
            raise ConfigError(f"FARM_CONFIG names {path}, {what}",
                              hint="point FARM_CONFIG at a farm.toml or unset it")
        return path
    home = Path(env.get("FARM_HOME", ".farm"))
    for candidate in (Path("farm.toml"), home / "farm.toml"):
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}",
                          hint="check the file's permissions") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
                          hint=f"farm.toml is a TOML text file: fix or remove {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from exc
    for table in _TABLES:
        if not isinstance(data.get(table, {}), dict):
            raise ConfigError(f"{path}: {table} is {data[table]!r}, not a table of settings",
                              hint=f"write [{table}] on a line of its own, its settings below it")
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    flat.update(data.get("protocol", {}))
    # [nightly] keys keep their table as a prefix; its lists become the CLI's comma-separated form.
    flat.update({f"nightly_{k}": ",".join(map(str, v)) if isinstance(v, list) else v
                 for k, v in data.get("nightly", {}).items()})
    tables = [f"[{k}]" for k, v in data.items() if isinstance(v, dict) and k not in _TABLES]
    unknown = sorted(set(flat) - set(_KEYS)) + tables
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}",
                          hint=f"known settings: {', '.join(_KEYS)}")
    return flat


def default_settings() -> Settings:
    """The built-in defaults alone: no farm.toml, no environment."""
    return Settings({name: Setting(name, key.default, "default", key.description)
                     for name, key in _KEYS.items()})


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting from defaults, ``farm.toml`` and the environment (in that order)."""
    env = os.environ if env is None else env
    config_file = _find_config_file(env)
    from_file = _read_toml(config_file) if config_file else {}
    values: dict[str, Setting] = {}
    for name, key in _KEYS.items():
        value, source = key.default, "default"
        if name in from_file:
            source = f"farm.toml ({config_file})"
            value = _coerce(name, from_file[name], source)
        if env.get(key.var):
            source = f"env {key.var}"
            value = _coerce(name, env[key.var], source)
        values[name] = Setting(name, value, source, key.description)
    return Settings(values, config_file)
