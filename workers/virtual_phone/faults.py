"""Faults a virtual phone can inject, set at start (``--faults``) or at run time (control socket).

A fault spec is a comma-separated list::

    offline            accept TCP but never answer CNXN: the adb server shows the phone "offline"
    unauthorized       answer CNXN with AUTH tokens and never accept a key: "unauthorized"
    drop-shell[=N]     cut the connection during each of the next N shell commands (default 1)
    drop-push[=N]      cut the connection during each of the next N pushes (default 1)
    slow[=KIB]         limit the link to KIB KiB/s each way (default 256)
    latency=MS         add MS milliseconds to every message each way
    overheat           hold every thermal zone above the profile's overheat temperature
    storage-full       shrink /data to what it holds, so writes fail with ENOSPC

``clear`` takes names (``overheat,slow``) or ``all``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from orchestrator.errors import ConfigError

__all__ = ["FAULT_NAMES", "Faults", "parse_fault_names"]

_DEFAULTS = {"drop-shell": 1, "drop-push": 1, "slow": 256}
FAULT_NAMES = (
    "offline", "unauthorized", "drop-shell", "drop-push", "slow", "latency", "overheat",
    "storage-full",
)


@dataclass
class Faults:
    offline: bool = False
    unauthorized: bool = False
    drop_shell: int = 0
    drop_push: int = 0
    slow_kib_s: int = 0
    latency_ms: int = 0
    overheat: bool = False
    storage_full: bool = False

    @classmethod
    def parse(cls, spec: str) -> Faults:
        faults = cls()
        faults.apply(spec)
        return faults

    def apply(self, spec: str) -> None:
        """Switch on the faults in ``spec`` (see the module docstring)."""
        for item in _items(spec):
            name, _, value = item.partition("=")
            if name not in FAULT_NAMES:
                raise _unknown(name)
            if name in ("offline", "unauthorized", "overheat", "storage-full"):
                if value:
                    raise ConfigError(f"fault {name!r} takes no value", hint=f"write just {name}")
                setattr(self, name.replace("-", "_"), True)
                continue
            if not value and name not in _DEFAULTS:
                raise ConfigError(f"fault {name!r} needs a value", hint=f"e.g. {name}=50")
            try:
                number = int(value) if value else _DEFAULTS[name]
            except ValueError:
                raise ConfigError(
                    f"fault {item!r}: {value!r} is not a whole number", hint=f"e.g. {name}=2"
                ) from None
            if number < 0:
                raise ConfigError(f"fault {item!r} is negative", hint="use a value >= 0")
            attr = {"slow": "slow_kib_s", "latency": "latency_ms"}.get(name, name.replace("-", "_"))
            setattr(self, attr, number)

    def clear(self, names: list[str]) -> None:
        for name in names:
            if name == "all":
                for f in fields(self):
                    setattr(self, f.name, f.default)
                continue
            if name not in FAULT_NAMES:
                raise _unknown(name)
            attr = {"slow": "slow_kib_s", "latency": "latency_ms"}.get(name, name.replace("-", "_"))
            setattr(self, attr, next(f.default for f in fields(self) if f.name == attr))

    def take(self, counter: str) -> bool:
        """Consume one pending ``drop_shell`` / ``drop_push``."""
        left = int(getattr(self, counter))
        if left > 0:
            setattr(self, counter, left - 1)
        return left > 0

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def parse_fault_names(spec: str) -> list[str]:
    names = _items(spec)
    for name in names:
        if name != "all" and name not in FAULT_NAMES:
            raise _unknown(name)
    return names


def _items(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown fault {name!r}", hint=f"use one of {', '.join(FAULT_NAMES)}")
