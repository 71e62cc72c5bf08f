"""What a phone is and how it is doing: its device record and an environment snapshot.

Runs a few fixed read-only commands on the phone (no user data in them) and hands their output to
the pure parsers in ``probes``. One ``run_script`` call per snapshot keeps it to a single round
trip: the sections are separated by marker lines.
"""

from __future__ import annotations

import socket
from typing import Any

from workers.device.probes import (
    Cluster,
    big_core_mask,
    parse_battery,
    parse_cpu_clusters,
    parse_getprop,
    parse_gles,
    parse_meminfo,
    parse_thermal_zones,
    parse_thermalservice,
)
from workers.device.protocol import Device

__all__ = ["SECTION_MARK", "device_record", "environment_snapshot", "pin_mask", "zone_readings"]

SECTION_MARK = "@@farm-section:"

# Fixed scripts (nothing from users). Missing files and services print nothing, which the parsers
# read as "unknown".
_RECORD_SCRIPT = f"""
echo {SECTION_MARK}getprop; getprop
echo {SECTION_MARK}meminfo; cat /proc/meminfo
echo {SECTION_MARK}cpufreq; grep . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq \
/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null
echo {SECTION_MARK}surfaceflinger; dumpsys SurfaceFlinger 2>/dev/null | grep GLES
"""

_ENV_SCRIPT = f"""
echo {SECTION_MARK}battery; dumpsys battery 2>/dev/null
echo {SECTION_MARK}thermal; dumpsys thermalservice 2>/dev/null
echo {SECTION_MARK}zones; grep . /sys/class/thermal/thermal_zone*/type \
/sys/class/thermal/thermal_zone*/temp 2>/dev/null
echo {SECTION_MARK}cpufreq; grep . /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq \
/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null
"""


def zone_readings(text: str) -> dict[str, str]:
    """``{zone type: temp text}`` from ``grep . .../thermal_zone*/type .../thermal_zone*/temp``
    (one process for every zone: a loop of ``cat`` costs two forks a zone, most of a snapshot's
    time on a phone with a dozen zones). Lines of the older ``type=temp`` form are read too."""
    types: dict[str, str] = {}
    temps: dict[str, str] = {}
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        if sep and path.endswith(("/type", "/temp")):
            zone, _, leaf = path.rpartition("/")
            (types if leaf == "type" else temps)[zone] = value.strip()
        elif "=" in line:
            kind, _, raw = line.partition("=")
            pairs[kind] = raw
    return pairs | {types[zone]: temps[zone] for zone in types if zone in temps}


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith(SECTION_MARK):
            current = line[len(SECTION_MARK):].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def device_record(phone: Device) -> dict[str, Any]:
    """Field values for the ``devices`` row (serial from ``ro.serialno``, not the transport)."""
    sections = _sections(phone.run_script(_RECORD_SCRIPT, timeout=60).stdout)
    props = parse_getprop(sections.get("getprop", ""))
    clusters = parse_cpu_clusters(sections.get("cpufreq", ""))
    release, sdk = props.get("ro.build.version.release"), props.get("ro.build.version.sdk")
    soc = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get(
        "ro.hardware")
    return {
        "serial": props.get("ro.serialno") or props.get("ro.boot.serialno") or phone.transport,
        "kind": "adb",
        "state": "device",
        "manufacturer": props.get("ro.product.manufacturer"),
        "model": props.get("ro.product.model"),
        "soc": soc,
        "abi": (props.get("ro.product.cpu.abilist") or props.get("ro.product.cpu.abi") or ""
                ).split(",")[0] or None,
        "os": f"Android {release} (SDK {sdk})" if release else None,
        "fingerprint": props.get("ro.build.fingerprint"),
        "cpu": {"cores": sum(len(c.cores) for c in clusters),
                "clusters": [c.to_json() for c in clusters]},
        "ram_mb": parse_meminfo(sections.get("meminfo", "")),
        "gpu": parse_gles(sections.get("surfaceflinger", "")),
        "host": socket.gethostname(),
        "info": {"transport": phone.transport,
                 "abilist": props.get("ro.product.cpu.abilist", "").split(","),
                 "board": props.get("ro.board.platform"),
                 "sdk": int(sdk) if sdk and sdk.isdigit() else None},
    }


def environment_snapshot(phone: Device) -> dict[str, Any]:
    """Temperatures, thermal status, battery, governors and current clocks, right now."""
    sections = _sections(phone.run_script(_ENV_SCRIPT, timeout=60).stdout)
    battery = parse_battery(sections.get("battery", ""))
    thermal = parse_thermalservice(sections.get("thermal", ""))
    zones = parse_thermal_zones(zone_readings(sections.get("zones", "")))
    clocks: dict[str, str] = {}
    governors: dict[str, str] = {}
    for line in sections.get("cpufreq", "").splitlines():
        path, _, value = line.partition(":")
        cpu = path.split("/")[5] if path.count("/") > 5 else path
        (clocks if path.endswith("scaling_cur_freq") else governors)[cpu] = value.strip()
    candidates = [t for t in (thermal.hottest(("skin", "battery")), battery.temperature_c)
                  if t is not None]
    return {
        # The gate's temperature: skin / battery as the thermal HAL reports them, else the
        # battery service's reading (what a hand on the phone feels, and what throttles it).
        "temp_c": max(candidates) if candidates else None,
        "battery_level": battery.level,
        "charging": battery.charging,
        "battery_temp_c": battery.temperature_c,
        "thermal_status": thermal.status,
        "hal_temperatures": [list(t) for t in thermal.temperatures],
        "zones": [list(z) for z in zones],
        "cur_freq_khz": clocks,
        "governor": governors,
    }


def pin_mask(cpu: dict[str, Any]) -> str | None:
    """The big-core ``taskset`` mask from a device record's clusters."""
    return big_core_mask([Cluster.from_json(c) for c in cpu.get("clusters", [])])
