"""Profiles, fault specs and the thermal model: the parts of a phone that need no process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from workers.virtual_phone.emulated import dynamic_files, static_files
from workers.virtual_phone.faults import Faults, parse_fault_names
from workers.virtual_phone.profile import PROFILE_DIR, available_profiles, load_profile
from workers.virtual_phone.thermal import DescendantCpu, ThermalState


def test_three_shipped_profiles_cover_big_little_samsung_and_low_end() -> None:
    names = available_profiles()
    assert {"pixel-7", "galaxy-s21", "nokia-1-3"} <= set(names)
    pixel, nokia = load_profile("pixel-7"), load_profile("nokia-1-3")
    assert len({c.max_freq_khz for c in pixel.clusters}) == 3  # big.LITTLE: three clusters
    assert pixel.properties()["ro.product.cpu.abilist"].startswith("arm64-v8a")
    assert load_profile("galaxy-s21").properties()["ro.product.manufacturer"] == "samsung"
    assert nokia.properties()["ro.product.cpu.abilist64"] == ""
    assert nokia.mem_total_kb < 1_048_576
    for name in names:
        props = load_profile(name).properties()
        for key in ("ro.serialno", "ro.board.platform", "ro.soc.model", "ro.build.fingerprint",
                    "ro.build.version.sdk", "ro.build.version.release", "ro.product.model"):
            assert props[key], (name, key)


def test_banner_is_what_the_adb_server_parses() -> None:
    banner = load_profile("pixel-7").banner(["shell_v2", "stat_v2"])
    assert banner == (b"device::ro.product.name=panther;ro.product.model=Pixel 7;"
                      b"ro.product.device=panther;features=shell_v2,stat_v2")


def test_bad_profiles_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_profile("no-such-phone")
    assert "pixel-7" in (missing.value.hint or "")
    broken = tmp_path / "broken.toml"
    broken.write_text((PROFILE_DIR / "pixel-7.toml").read_text().replace("cores = [4, 5]",
                                                                         "cores = [4, 4]"))
    with pytest.raises(ConfigError, match="cores"):
        load_profile(broken)


def test_fault_specs() -> None:
    f = Faults.parse("slow, drop-shell=2, latency=30, overheat")
    assert (f.slow_kib_s, f.drop_shell, f.latency_ms, f.overheat) == (256, 2, 30, True)
    assert f.take("drop_shell") and f.take("drop_shell") and not f.take("drop_shell")
    f.clear(["slow", "overheat"])
    assert (f.slow_kib_s, f.overheat, f.latency_ms) == (0, False, 30)
    f.clear(["all"])
    assert f == Faults()
    for bad in ("explode", "offline=1", "latency", "slow=fast", "drop-push=-1"):
        with pytest.raises(ConfigError):
            Faults.parse(bad)
    with pytest.raises(ConfigError):
        parse_fault_names("overheat,nonsense")


def test_temperature_rises_with_work_and_falls_at_rest() -> None:
    model = load_profile("pixel-7").thermal
    state = ThermalState(model)
    start = dict(state.temps)
    for _ in range(20):
        state.step(0.5, busy_s=1.0, overheat=False)  # two busy cores
    hot = dict(state.temps)
    assert all(hot[z] > start[z] + 5 for z in start)
    assert hot["BIG"] > hot["battery"]  # the CPU zone heats most
    for _ in range(200):
        state.step(0.5, busy_s=0.0, overheat=False)
    assert all(abs(t - model.ambient_c) < 0.5 for t in state.temps.values())


def test_overheat_holds_until_cleared_and_raises_thermal_status() -> None:
    model = load_profile("galaxy-s21").thermal
    state = ThermalState(model)
    assert state.status() == 0
    for _ in range(10):
        state.step(0.5, busy_s=0.0, overheat=True)
    assert state.temperature("battery") >= model.overheat_c
    assert state.status() >= 4  # CRITICAL
    state.step(0.5, busy_s=0.0, overheat=False)
    assert state.temperature("battery") < model.overheat_c + 2


def test_busy_children_are_counted() -> None:
    cpu = DescendantCpu()
    spin = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.4: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    time.sleep(0.2)
    while_running = cpu.busy_since_last()  # the live child
    child.wait()
    after = cpu.busy_since_last()  # the rest, now in our cutime
    assert 0.35 < while_running + after < 1.5
    time.sleep(0.2)
    assert cpu.busy_since_last() < 0.05


def test_emulated_files_follow_the_profile_and_the_heat() -> None:
    profile = load_profile("pixel-7")
    files = static_files(profile)
    assert files["/sys/devices/system/cpu/possible"] == "0-7\n"
    assert files["/sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq"] == "2850000\n"
    assert files["/sys/devices/system/cpu/cpu0/cpufreq/related_cpus"] == "0 1 2 3\n"
    assert "MemTotal:        7717376 kB" in files["/system/vphone/meminfo"]
    assert "Mali-G710" in files["/system/vphone/dumpsys/SurfaceFlinger"]
    state = ThermalState(profile.thermal)
    cool = dynamic_files(profile, state, busy_fraction=0.0)
    state.step(1.0, busy_s=0.0, overheat=True)
    hot = dynamic_files(profile, state, busy_fraction=1.0)
    assert int(hot["/sys/class/thermal/thermal_zone0/temp"]) > 47000
    assert "Thermal Status: 0" in cool["/system/vphone/dumpsys/thermalservice"]
    assert "Thermal Status: 0" not in hot["/system/vphone/dumpsys/thermalservice"]
    # throttled: the big cores no longer reach their maximum clock
    assert int(hot["/sys/devices/system/cpu/cpu7/cpufreq/scaling_cur_freq"]) < 2850000
