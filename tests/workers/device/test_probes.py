"""The device probes on text in the formats Android prints (samples written out by hand)."""

from __future__ import annotations

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

GETPROP = """[ro.product.model]: [Pixel 7]
[ro.build.fingerprint]: [google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys]
[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a,armeabi]
[persist.sys.empty]: []
garbage line
"""

BATTERY = """Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Max charging current: 500000
  status: 2
  health: 2
  present: true
  level: 85
  scale: 100
  voltage: 4123
  temperature: 312
  technology: Li-ion
"""

THERMAL = """IsStatusOverride: false
ThermalEventListeners:
	callbacks: 1
Thermal Status: 2
Cached temperatures:
	Temperature{mValue=30.0, mType=3, mName=skin, mStatus=0}
HAL Ready: true
HAL connection:
	ThermalHAL 2.0 connected: yes
Current temperatures from HAL:
	Temperature{mValue=41.5, mType=0, mName=CPU0, mStatus=0}
	Temperature{mValue=38.25, mType=3, mName=skin_therm, mStatus=1}
	Temperature{mValue=33.1, mType=2, mName=battery, mStatus=0}
	Temperature{mValue=35.0, mType=1, mName=GPU, mStatus=0}
Current cooling devices from HAL:
	CoolingDevice{mValue=0, mType=0, mName=battery}
"""

CPUFREQ = "\n".join(
    [f"/sys/devices/system/cpu/cpu{c}/cpufreq/cpuinfo_max_freq:1803000" for c in range(4)]
    + [f"/sys/devices/system/cpu/cpu{c}/cpufreq/cpuinfo_max_freq:2348000" for c in (4, 5)]
    + [f"/sys/devices/system/cpu/cpu{c}/cpufreq/cpuinfo_max_freq:2850000" for c in (6, 7)]
    + ["/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor:sched_pixel",
       "/sys/devices/system/cpu/cpu6/cpufreq/scaling_governor:sched_pixel",
       "/sys/devices/system/cpu/cpu9/cpufreq/cpuinfo_max_freq:unreadable"])


def test_getprop() -> None:
    props = parse_getprop(GETPROP)
    assert props["ro.product.model"] == "Pixel 7"
    assert props["ro.product.cpu.abilist"].split(",")[0] == "arm64-v8a"
    assert props["persist.sys.empty"] == ""
    assert len(props) == 4


def test_battery_charging_level_and_tenths_of_degrees() -> None:
    battery = parse_battery(BATTERY)
    assert (battery.level, battery.charging, battery.temperature_c) == (85, True, 31.2)
    unplugged = parse_battery(BATTERY.replace("USB powered: true", "USB powered: false")
                              .replace("status: 2", "status: 3"))
    assert unplugged.charging is False
    assert parse_battery("nonsense") == parse_battery("")


def test_thermalservice_prefers_current_hal_readings() -> None:
    thermal = parse_thermalservice(THERMAL)
    assert thermal.status == 2
    assert ("skin_therm", "skin", 38.25) in thermal.temperatures
    assert all(name != "skin" for name, _, _ in thermal.temperatures)  # cached one dropped
    assert thermal.hottest() == 41.5
    assert thermal.hottest(("skin", "battery")) == 38.25
    cached_only = parse_thermalservice(THERMAL.split("HAL Ready")[0])
    assert cached_only.temperatures == (("skin", "skin", 30.0),)


def test_gles_meminfo() -> None:
    flinger = "junk\nGLES: Qualcomm, Adreno (TM) 730, OpenGL ES 3.2 V@0615.65 (GIT@3e8b5fb)\n"
    assert parse_gles(flinger) == "Qualcomm, Adreno (TM) 730"
    assert parse_gles("no gles here") is None
    assert parse_meminfo("MemTotal:        7661240 kB\nMemFree: 1 kB\n") == 7481


def test_clusters_and_big_core_mask() -> None:
    clusters = parse_cpu_clusters(CPUFREQ)
    assert [c.cores for c in clusters] == [(0, 1, 2, 3), (4, 5), (6, 7)]
    assert clusters[0].governor == "sched_pixel"
    assert big_core_mask(clusters) == "f0"
    # 1 prime + 3 big + 4 little, cores numbered little-first
    assert big_core_mask([Cluster((0, 1, 2, 3), 1_800_000), Cluster((4, 5, 6), 2_400_000),
                          Cluster((7,), 3_000_000)]) == "f0"
    assert big_core_mask([Cluster((0, 1, 2, 3, 4, 5, 6, 7), 2_000_000)]) is None
    assert Cluster.from_json(clusters[2].to_json()) == clusters[2]


def test_thermal_zones_units() -> None:
    zones = dict(parse_thermal_zones({"cpu-0-0": "45100\n", "battery": "31\n", "bad": "n/a"}))
    assert zones == {"cpu-0-0": 45.1, "battery": 31.0}
