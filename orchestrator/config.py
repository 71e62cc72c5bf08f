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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.secrets import url_secrets

__all__ = ["PROTOCOL_KEYS", "URL_SETTINGS", "Setting", "Settings", "default_settings", "load_settings"]

#: name -> (environment variable, default, description)
_KEYS: dict[str, tuple[str, Any, str]] = {
    "home": ("FARM_HOME", ".farm", "folder for the embedded database, model cache and reports"),
    "database_url": ("FARM_DATABASE_URL", None, "SQLAlchemy URL; default: SQLite in FARM_HOME"),
    "broker_url": ("FARM_BROKER_URL", None, "Celery broker; unset = embedded mode"),
    "repeats": ("FARM_REPEATS", 3, "independent sessions per config"),
    "warmup_runs": ("FARM_WARMUP_RUNS", 1, "warmup invocations per session"),
    "warmup_min_secs": ("FARM_WARMUP_MIN_SECS", 0.5, "minimum warmup seconds per session"),
    # 5, not benchmark_model's 50: min_secs decides for any model faster than 200 ms, and for slower
    # ones a session's mean over 5 runs has a standard error of at most about 2% (within-session CV
    # up to 4.7% measured on the zoo), under the 2-20% spread between a config's sessions, which the
    # repeats and their median are there for.
    "num_runs": ("FARM_NUM_RUNS", 5, "minimum measured invocations per session"),
    "min_secs": ("FARM_MIN_SECS", 1.0, "minimum measured seconds per session"),
    "max_secs": ("FARM_MAX_SECS", 60.0, "maximum measured seconds per session"),
    "session_timeout_s": ("FARM_SESSION_TIMEOUT", 600.0, "seconds before a session is killed"),
    "max_temp_c": ("FARM_MAX_TEMP_C", 37.0, "thermal gate: wait until the phone is cooler (C)"),
    "min_battery": ("FARM_MIN_BATTERY", 30, "battery gate: wait for this level (%) or charging"),
    "gate_max_wait_s": ("FARM_GATE_MAX_WAIT", 300.0, "longest wait at the gate (s), then go on"),
    "gate_poll_s": ("FARM_GATE_POLL", 5.0, "seconds between gate readings"),
    "device_retries": ("FARM_DEVICE_RETRIES", 3,
                       "times a session cut by a lost phone is measured again"),
    # Real phones take tens of seconds to re-enumerate after a USB reset or an adb restart; a wait
    # is cheap next to the batch it saves. Per loss, polled with backoff (workers/runners/phone.py).
    "device_reconnect_s": ("FARM_DEVICE_RECONNECT", 120.0,
                           "longest wait (s) for a phone lost mid-session to come back, per loss"),
    # The broker redelivers a task not acknowledged within this many seconds: keep it above the
    # longest device batch; the device lease makes an early redelivery harmless, not free.
    "visibility_timeout": ("FARM_VISIBILITY_TIMEOUT", 43200,
                           "seconds before the broker redelivers an unacknowledged task"),
    "lease_ttl": ("FARM_LEASE_TTL", 60, "seconds a worker's device lease lasts unless renewed"),
    "heartbeat_s": ("FARM_HEARTBEAT", 5.0, "seconds between a worker's device scans / heartbeats"),
    "worker_name": ("FARM_WORKER_NAME", None,
                    "name a worker registers its phones under; default: the host name"),
    "nightly_cron": ("FARM_NIGHTLY_CRON", "0 2 * * *", "when `farm beat` submits the nightly run"),
    "nightly_models": ("FARM_NIGHTLY_MODELS", "all", "models of the nightly run"),
    "nightly_devices": ("FARM_NIGHTLY_DEVICES", "all", "devices of the nightly run"),
    "nightly_threads": ("FARM_NIGHTLY_THREADS", "1,4", "thread counts of the nightly run"),
    "nightly_delegates": ("FARM_NIGHTLY_DELEGATES", "cpu,xnnpack", "delegates of the nightly run"),
    "nightly_repeats": ("FARM_NIGHTLY_REPEATS", 5, "sessions per config in the nightly run"),
    "nightly_confirm_batches": ("FARM_NIGHTLY_CONFIRM_BATCHES", 3,
                                "separate re-run batches (of `repeats` sessions) per suspect"),
    "nightly_confirm_gap_s": ("FARM_NIGHTLY_CONFIRM_GAP", 300.0,
                              "least seconds between the starts of a suspect's re-run batches"),
    "nightly_webhook_url": ("FARM_NIGHTLY_WEBHOOK_URL", None, "JSON POST of new alerts; unset = none"),
}

#: the measurement protocol (``orchestrator.jobspec.JobSpec``); farm.toml groups it in a [protocol]
#: table
PROTOCOL_KEYS = ("repeats", "warmup_runs", "warmup_min_secs", "num_runs", "min_secs", "max_secs",
                  "session_timeout_s", "max_temp_c", "min_battery", "gate_max_wait_s",
                  "gate_poll_s", "device_retries")

#: the settings that are URLs, which may carry credentials: printed and logged only through
#: ``orchestrator.secrets.mask_url``
URL_SETTINGS = tuple(name for name in _KEYS if name.endswith("_url"))


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


def _coerce(name: str, raw: Any, default: Any, source: str) -> Any:
    if raw is None or default is None or isinstance(default, str):
        return raw
    try:
        return type(default)(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} from {source} is {raw!r}, not a {type(default).__name__}",
            hint=f"set {name} to a {type(default).__name__}",
        ) from None


def _find_config_file(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("FARM_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"FARM_CONFIG names {path}, which does not exist",
                              hint="point FARM_CONFIG at a farm.toml or unset it")
        return path
    home = Path(env.get("FARM_HOME", ".farm"))
    for candidate in (Path("farm.toml"), home / "farm.toml"):
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from exc
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    flat.update(data.get("protocol", {}))
    # [nightly] keys keep their table as a prefix; its lists become the CLI's comma-separated form.
    flat.update({f"nightly_{k}": ",".join(map(str, v)) if isinstance(v, list) else v
                 for k, v in data.get("nightly", {}).items()})
    unknown = sorted(set(flat) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}",
                          hint=f"known settings: {', '.join(_KEYS)}")
    return flat


def default_settings() -> Settings:
    """The built-in defaults alone: no farm.toml, no environment."""
    return Settings({name: Setting(name, default, "default", description)
                     for name, (_var, default, description) in _KEYS.items()})


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting from defaults, ``farm.toml`` and the environment (in that order)."""
    env = os.environ if env is None else env
    config_file = _find_config_file(env)
    from_file = _read_toml(config_file) if config_file else {}
    values: dict[str, Setting] = {}
    for name, (var, default, description) in _KEYS.items():
        value, source = default, "default"
        if name in from_file:
            source = f"farm.toml ({config_file})"
            value = _coerce(name, from_file[name], default, source)
        if env.get(var):
            source = f"env {var}"
            value = _coerce(name, env[var], default, source)
        values[name] = Setting(name, value, source, description)
    return Settings(values, config_file)
