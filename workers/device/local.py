"""The ``local`` device: this machine, described like a phone would be.

Read from /proc and /sys (CPU model, cores, per-core max frequencies, RAM) and ``platform``.
Anything missing (a container without cpufreq, say) is left out rather than guessed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from orchestrator.errors import DeviceError
from workers.device.probes import parse_cpu_clusters, parse_meminfo

__all__ = ["LOCAL_SERIAL", "describe_local", "local_environment"]

LOCAL_SERIAL = "local"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str | None:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Model"):
            return value.strip()
    return platform.processor() or None


def _clusters() -> list[dict[str, Any]]:
    """Cores grouped by max frequency, slowest first, read the way a phone's are (``probes``)."""
    lines = []
    for cpu in range(os.cpu_count() or 1):
        for name in ("cpuinfo_max_freq", "scaling_governor"):
            path = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/{name}"
            value = _read(path)
            if value:
                lines.append(f"{path}={value}")
    return [cluster.to_json() for cluster in parse_cpu_clusters("\n".join(lines))]


def describe_local() -> dict[str, Any]:
    """Field values for the ``devices`` row of this machine."""
    uname = platform.uname()
    try:
        runtime = f"ai-edge-litert {version('ai-edge-litert')}"
    except PackageNotFoundError as exc:  # the runner cannot work without it; say so plainly
        raise DeviceError("the LiteRT runtime (ai-edge-litert) is not installed",
                          hint="reinstall tflite-farm: pip install -e .") from exc
    os_name = f"{uname.system} {uname.release}"
    cpu_model = _cpu_model()
    return {
        "serial": LOCAL_SERIAL,
        "kind": "local",
        "state": "device",
        "manufacturer": None,
        "model": cpu_model or uname.machine,
        "soc": cpu_model,
        "abi": uname.machine,
        "os": os_name,
        "fingerprint": f"{uname.node}/{os_name}/{uname.machine}/python {platform.python_version()}"
                       f"/{runtime}",
        "cpu": {"model": cpu_model, "cores": os.cpu_count(), "clusters": _clusters()},
        "ram_mb": parse_meminfo(_read("/proc/meminfo") or ""),
        "gpu": None,
        "host": uname.node,
        "info": {"runtime": runtime, "python": platform.python_version()},
    }


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def local_environment() -> dict[str, Any]:
    """Temperatures, clocks, governor and load of this machine, as far as it exposes them."""
    temps = [t / 1000.0 for p in glob.glob("/sys/class/thermal/thermal_zone*/temp")
             if (t := _read_int(p)) is not None and t > 0]
    governor = None
    with contextlib.suppress(OSError):
        governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    clocks = [f for p in sorted(glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"))
              if (f := _read_int(p)) is not None]
    return {
        "temp_c": max(temps) if temps else None,
        "governor": governor,
        "cur_freq_khz": clocks,
        "load_avg_1m": os.getloadavg()[0],
    }
