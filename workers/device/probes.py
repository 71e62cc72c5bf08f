"""Pure, tolerant parsers for what an Android phone prints about itself.

Each takes the text a command printed and returns plain values; anything unrecognised is skipped,
never fatal. No I/O here: ``workers/device/inspect.py`` runs the commands.

- ``parse_getprop``: ``[ro.product.model]: [Pixel 7]`` lines -> {name: value}.
- ``parse_battery``: ``dumpsys battery`` -> level (%), charging (AC / USB / wireless powered or
  status 2 = charging), temperature_c (the service prints tenths of a degree).
- ``parse_thermalservice``: ``dumpsys thermalservice`` -> thermal status (0 none ... 6 shutdown) and
  the HAL's current temperatures ``Temperature{mValue=36.5, mType=3, mName=skin, mStatus=0}``.
- ``parse_gles``: ``dumpsys SurfaceFlinger`` -> the ``GLES: vendor, renderer, version`` line.
- ``parse_meminfo``: ``/proc/meminfo`` -> MemTotal in MB.
- ``parse_cpu_clusters``: a ``path=value`` listing of ``/sys/devices/system/cpu/cpu*/cpufreq``
  files -> clusters of cores sharing a max frequency, slowest first.
- ``parse_thermal_zones``: ``type`` / ``temp`` (millidegrees) pairs of ``/sys/class/thermal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Battery",
    "Cluster",
    "Thermal",
    "big_core_mask",
    "parse_battery",
    "parse_cpu_clusters",
    "parse_getprop",
    "parse_gles",
    "parse_meminfo",
    "parse_thermal_zones",
    "parse_thermalservice",
]

_GETPROP = re.compile(r"^\[([^\]]+)\]:\s*\[(.*)\]\s*$")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*:\s*(.*?)\s*$")
_TEMPERATURE = re.compile(
    r"Temperature\{mValue=(?P<value>-?[\d.]+(?:[eE][-+]?\d+)?), mType=(?P<type>-?\d+), "
    r"mName=(?P<name>[^,]*), mStatus=(?P<status>-?\d+)\}")

#: android.os.Temperature types
TEMPERATURE_TYPES = {0: "cpu", 1: "gpu", 2: "battery", 3: "skin", 4: "usb_port",
                     5: "power_amplifier", 6: "bcl_voltage", 7: "bcl_current", 8: "bcl_percentage",
                     9: "npu"}


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_getprop(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        match = _GETPROP.match(line.strip())
        if match:
            props[match.group(1)] = match.group(2)
    return props


@dataclass(frozen=True)
class Battery:
    level: int | None = None
    charging: bool | None = None
    temperature_c: float | None = None


def parse_battery(text: str) -> Battery:
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_VALUE.match(line)
        if match:
            values.setdefault(match.group(1).lower(), match.group(2))
    powered = [values.get(k) for k in ("ac powered", "usb powered", "wireless powered",
                                        "dock powered")]
    charging: bool | None = None
    if any(p is not None for p in powered):
        charging = any(p == "true" for p in powered)
    if values.get("status") == "2":  # BatteryManager.BATTERY_STATUS_CHARGING
        charging = True
    level, scale = _int(values.get("level")), _int(values.get("scale")) or 100
    tenths = _float(values.get("temperature"))
    return Battery(
        level=round(level * 100 / scale) if level is not None and scale else None,
        charging=charging,
        temperature_c=tenths / 10.0 if tenths is not None else None,
    )


@dataclass(frozen=True)
class Thermal:
    status: int | None = None
    #: (name, kind, celsius) from the HAL's current temperatures
    temperatures: tuple[tuple[str, str, float], ...] = field(default_factory=tuple)

    def hottest(self, kinds: tuple[str, ...] = ("skin", "battery", "cpu")) -> float | None:
        values = [c for _, kind, c in self.temperatures if kind in kinds]
        return max(values) if values else None


def parse_thermalservice(text: str) -> Thermal:
    status = None
    current: list[tuple[str, str, float]] = []
    cached: list[tuple[str, str, float]] = []
    target = cached
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Thermal Status:"):
            status = _int(stripped.split(":", 1)[1].strip())
        elif stripped.startswith("Current temperatures from HAL"):
            target = current
        elif stripped.endswith(":") and not stripped.startswith("Temperature"):
            target = cached if target is cached else current
        for match in _TEMPERATURE.finditer(stripped):
            value = _float(match.group("value"))
            if value is not None:
                kind = TEMPERATURE_TYPES.get(int(match.group("type")), "other")
                target.append((match.group("name"), kind, value))
    # The HAL's current readings are fresher than the cached ones; fall back to the cache.
    return Thermal(status=status, temperatures=tuple(current or cached))


def parse_gles(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip().startswith("GLES:"):
            parts = [p.strip() for p in line.split(":", 1)[1].split(",")]
            return ", ".join(parts[:2]) if len(parts) >= 2 else parts[0] or None
    return None


def parse_meminfo(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            kb = _int(line.split()[1]) if len(line.split()) > 1 else None
            return kb // 1024 if kb is not None else None
    return None


@dataclass(frozen=True)
class Cluster:
    """Cores sharing a maximum frequency (one big.LITTLE cluster)."""

    cores: tuple[int, ...]
    max_freq_khz: int
    governor: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"cores": list(self.cores), "max_freq_khz": self.max_freq_khz,
                "governor": self.governor}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Cluster:
        cores = data.get("cores") or []
        governor = data.get("governor")
        return cls(tuple(int(c) for c in cores),  # type: ignore[attr-defined]
                   int(data.get("max_freq_khz") or 0),  # type: ignore[call-overload]
                   str(governor) if governor else None)


_CPU_FILE = re.compile(r"/sys/devices/system/cpu/cpu(\d+)/cpufreq/(\w+)=(.*)$")


def parse_cpu_clusters(text: str) -> list[Cluster]:
    """Clusters, slowest first, from ``path=value`` lines (``grep . /sys/.../cpufreq/*`` prints
    ``path:value``; both separators are accepted)."""
    per_core: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        match = _CPU_FILE.match(line.strip().replace(":", "=", 1))
        if match:
            per_core.setdefault(int(match.group(1)), {})[match.group(2)] = match.group(3).strip()
    cores_by_freq: dict[int, list[int]] = {}
    governors: dict[int, str | None] = {}
    for core in sorted(per_core):
        max_freq = _int(per_core[core].get("cpuinfo_max_freq"))
        if max_freq is not None:
            cores_by_freq.setdefault(max_freq, []).append(core)
            governors.setdefault(max_freq, per_core[core].get("scaling_governor"))
    return [Cluster(tuple(cores_by_freq[f]), f, governors[f]) for f in sorted(cores_by_freq)]


def parse_thermal_zones(pairs: dict[str, str]) -> list[tuple[str, float]]:
    """``{zone type: temp file text}`` -> [(type, celsius)], dropping unreadable zones. Kernels
    print millidegrees; a few old ones print degrees (values under 200 are taken as degrees)."""
    zones = []
    for kind, raw in pairs.items():
        value = _float(raw.strip())
        if value is not None and value > -273_000:
            zones.append((kind, value / 1000.0 if abs(value) > 200 else value))
    return zones


def big_core_mask(clusters: list[Cluster]) -> str | None:
    """The hexadecimal ``taskset`` mask of the big cores: every cluster faster than the slowest
    (``f0`` on a 4+4 or 1+3+4 phone, as TFLite's performance guide pins). None when every core is
    in one cluster, where pinning changes nothing."""
    if len(clusters) < 2:
        return None
    slowest = min(c.max_freq_khz for c in clusters)
    mask = 0
    for cluster in clusters:
        if cluster.max_freq_khz > slowest:
            for core in cluster.cores:
                mask |= 1 << core
    return f"{mask:x}"
