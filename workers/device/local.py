"""The ``local`` device: this machine, described like a phone would be.

Read from /proc and /sys (CPU model, cores, per-core max frequencies, RAM) and ``platform``.
Anything missing (a container without cpufreq, say) is left out rather than guessed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from orchestrator.errors import DeviceError

__all__ = ["LOCAL_SERIAL", "describe_local"]

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
    """Cores grouped by max frequency, fastest last (the way phones list big.LITTLE clusters)."""
    by_freq: dict[int, list[int]] = {}
    for cpu in range(os.cpu_count() or 1):
        raw = _read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq")
        if raw and raw.isdigit():
            by_freq.setdefault(int(raw), []).append(cpu)
    return [{"cores": cores, "max_freq_khz": freq} for freq, cores in sorted(by_freq.items())]


def _ram_mb() -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def describe_local() -> dict[str, Any]:
    """Field values for the ``devices`` row of this machine."""
    uname = platform.uname()
    try:
        from importlib.metadata import version

        runtime = f"ai-edge-litert {version('ai-edge-litert')}"
    except Exception as exc:  # the runner cannot work without it; say so plainly
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
        "ram_mb": _ram_mb(),
        "gpu": None,
        "host": uname.node,
        "info": {"runtime": runtime, "python": platform.python_version()},
    }
