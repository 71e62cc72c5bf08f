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
from workers.device.probes import parse_cpu_clusters, parse_meminfo

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
        "ram_mb": parse_meminfo(_read("/proc/meminfo") or ""),
        "gpu": None,
        "host": uname.node,
        "info": {"runtime": runtime, "python": platform.python_version()},
    }
