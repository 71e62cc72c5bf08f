"""Virtual phones driven by the real Debian adb server, through the adb command line and adbutils."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from tests.support.adb import AdbServer
from tests.support.virtual_phones import ConnectedPhone
from workers.virtual_phone.server import FEATURES


def test_adb_connect_lists_the_phone_with_its_model(phone: ConnectedPhone, adb: AdbServer) -> None:
    listing = adb.adb("devices", "-l").stdout.decode()
    line = next(row for row in listing.splitlines() if row.startswith(phone.serial))
    assert line.split()[1] == "device"
    assert "model:Pixel_7" in line and "device:panther" in line
    assert set(phone.device.get_features().split(",")) == set(FEATURES)


def test_adb_shell_exit_codes_and_stderr(phone: ConnectedPhone, adb: AdbServer) -> None:
    result = adb.adb("-s", phone.serial, "shell", "echo out; echo err >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert adb.adb("-s", phone.serial, "shell", "true").returncode == 0
    missing = adb.adb("-s", phone.serial, "shell", "no-such-tool")
    assert missing.returncode == 127 and b"not found" in missing.stderr


def test_adb_shell_getprop_answers_from_the_profile(phone: ConnectedPhone, adb: AdbServer) -> None:
    run = lambda cmd: adb.adb("-s", phone.serial, "shell", cmd).stdout.decode().strip()  # noqa: E731
    assert run("getprop ro.product.model") == "Pixel 7"
    assert run("getprop ro.soc.model") == "GS201"
    assert run("getprop ro.build.version.sdk") == "34"
    assert run("getprop ro.serialno") == phone.phone.device_serial
    assert run("getprop no.such.prop fallback") == "fallback"
    assert "[ro.board.platform]: [gs201]" in run("getprop")
    assert run("setprop debug.farm 1; getprop debug.farm") == "1"
    assert adb.adb("-s", phone.serial, "shell", "setprop ro.product.model X").returncode != 0


@pytest.mark.slow
def test_adb_push_and_pull_10_mib_byte_exact(phone: ConnectedPhone, adb: AdbServer,
                                             tmp_path: Path) -> None:
    data = os.urandom(10 * 1024 * 1024)
    src, back = tmp_path / "blob.bin", tmp_path / "back.bin"
    src.write_bytes(data)
    pushed = adb.adb("-s", phone.serial, "push", str(src), "/sdcard/Download/blob.bin")
    assert pushed.returncode == 0, pushed.stderr
    remote = phone.sh("sha256sum /sdcard/Download/blob.bin").stdout.split()[0]
    assert remote == hashlib.sha256(data).hexdigest()
    pulled = adb.adb("-s", phone.serial, "pull", "/sdcard/Download/blob.bin", str(back))
    assert pulled.returncode == 0, pulled.stderr
    assert back.read_bytes() == data
    # /sdcard is /storage/emulated/0 is /data/media/0, as on a phone
    assert phone.sh("cmp /data/media/0/Download/blob.bin /storage/emulated/0/Download/blob.bin"
                    ).returncode == 0


def test_adbutils_shell2_v2_separates_streams(phone: ConnectedPhone) -> None:
    result = phone.sh("printf 'a\\nb\\n'; printf 'oops' >&2; exit 42")
    assert (result.returncode, result.stdout, result.stderr) == (42, "a\nb\n", "oops")
    # the v1 path (no exit codes, stderr mixed in) still works for tools that use it
    assert phone.device.shell("echo v1; echo e1 >&2") == "v1\ne1"


def test_adbutils_sync_push_pull_stat_list(phone: ConnectedPhone, tmp_path: Path) -> None:
    sync = phone.device.sync
    payload = os.urandom(300_000)
    assert sync.push(payload, "/data/local/tmp/deep/dir/file.bin", mode=0o755) == len(payload)
    info = sync.stat("/data/local/tmp/deep/dir/file.bin")
    assert info.size == len(payload)
    assert stat.S_ISREG(info.mode) and info.mode & 0o777 == 0o755
    assert abs(info.mtime.timestamp() - time.time()) < 60
    assert sync.read_bytes("/data/local/tmp/deep/dir/file.bin") == payload
    assert sync.pull("/data/local/tmp/deep/dir/file.bin", tmp_path / "f") == len(payload)
    assert (tmp_path / "f").read_bytes() == payload
    names = {entry.path for entry in sync.list("/data/local/tmp/deep/dir")}
    assert names == {".", "..", "file.bin"}
    assert sync.stat("/data/local/tmp/nothing").mode == 0
    assert not sync.exists("/data/local/tmp/nothing")
    with pytest.raises(Exception, match="No such file"):
        sync.read_bytes("/data/local/tmp/nothing")


def test_16_concurrent_shells_on_one_phone(phone: ConnectedPhone) -> None:
    def work(i: int) -> tuple[int, str, int]:
        r = phone.sh(f"sleep 0.3; echo {i}; exit {i}")
        return i, r.stdout.strip(), r.returncode

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(16)))
    assert all(out == str(i) and code == i for i, out, code in results)
    assert time.monotonic() - started < 5  # they overlapped: 16 x 0.3 s in series would be 4.8 s


def test_two_phones_never_see_each_others_files(
        phone_factory: Callable[..., ConnectedPhone]) -> None:
    a = phone_factory(profile="pixel-7")
    b = phone_factory(profile="galaxy-s21", serial="R5CR10ISOLATE")
    a.device.sync.push(b"only on a", "/data/local/tmp/secret.txt")
    assert a.sh("cat /data/local/tmp/secret.txt").stdout == "only on a"
    seen = b.sh("cat /data/local/tmp/secret.txt")
    assert seen.returncode != 0 and "No such file" in seen.stderr
    assert b.sh("ls /sdcard /data/local/tmp").stdout.split() == ["/data/local/tmp:", "/sdcard:"]
    assert b.sh("getprop ro.product.model").stdout.strip() == "SM-G991B"
    assert b.sh("getprop ro.serialno").stdout.strip() == "R5CR10ISOLATE"
    # and the host does not see them either
    assert not Path("/data/local/tmp/secret.txt").exists()


def test_phone_tools_answer_from_the_profile(phone_factory: Callable[..., ConnectedPhone]) -> None:
    phone = phone_factory(profile="nokia-1-3")
    assert phone.sh("cat /sys/devices/system/cpu/possible").stdout == "0-3\n"
    assert phone.sh("cat /sys/devices/system/cpu/cpu3/cpufreq/cpuinfo_max_freq").stdout == \
        "1305600\n"
    assert "MemTotal:         940268 kB" in phone.sh("cat /proc/meminfo").stdout
    battery = phone.sh("dumpsys battery").stdout
    assert "level: 41" in battery and "temperature: " in battery
    thermal = phone.sh("dumpsys thermalservice").stdout
    assert "Thermal Status: 0" in thermal and "mName=battery" in thermal
    assert "Adreno (TM) 308" in phone.sh("dumpsys SurfaceFlinger").stdout
    zones = phone.sh("cat /sys/class/thermal/thermal_zone*/type").stdout.split()
    assert zones == ["cpu-0-0-usr", "gpu-usr", "battery", "quiet-therm-adc"]
    assert "booted as Nokia 1.3" in phone.sh("logcat -d").stdout
    assert phone.sh("id -u").stdout.strip() == "0"
    assert "/data" in phone.sh("df /data").stdout
    # taskset takes the phone's CPU ids and maps them onto this host's CPUs
    pinned = phone.sh("taskset 8 grep Cpus_allowed_list /proc/self/status")
    assert pinned.returncode == 0, pinned.stderr
    host_cpus = sorted(os.sched_getaffinity(0))
    assert pinned.stdout.split()[-1] == str(host_cpus[3 % len(host_cpus)])


@pytest.mark.slow
def test_heats_under_load_and_cools_at_rest(phone_factory: Callable[..., ConnectedPhone]) -> None:
    phone = phone_factory(profile="nokia-1-3")  # heats 2.2 C per busy CPU-second

    def cpu_temp() -> float:
        return int(phone.sh("cat /sys/class/thermal/thermal_zone0/temp").stdout) / 1000

    before = cpu_temp()
    # Busy loops, then the shell's `times`: the CPU seconds they really burnt (a loop's cost
    # differs between machines, and a busy host stretches it in time without changing it).
    loop = "i=0; while [ $i -lt 1500000 ]; do i=$((i+1)); done"
    work = phone.sh(f"({loop}) & ({loop}) & wait; times", timeout=180)
    assert work.returncode == 0, work.stderr
    children = re.findall(r"(\d+)m([\d.]+)s", work.stdout.splitlines()[-1])
    cpu_s = sum(int(m) * 60 + float(s) for m, s in children)
    assert cpu_s > 0.5, work.stdout
    # the heat lands with the thermal ticks that follow the work (0.5 s apart, later when busy)
    hot = before
    for _ in range(3):
        time.sleep(0.6)
        hot = max(hot, cpu_temp())
    assert hot - before > 0.6 * 2.2 * cpu_s, (before, hot, cpu_s)
    time.sleep(3)
    assert cpu_temp() < hot - 0.3


@pytest.mark.slow
def test_host_runner_is_the_phones_benchmark_binary(phone: ConnectedPhone,
                                                    tmp_path: Path) -> None:
    model = build_builtin_models(tmp_path)["builtin-segmenter"]
    launcher = f'#!/bin/sh\nexec {sys.executable} -m workers.tools.host_runner "$@"\n'
    sync = phone.device.sync
    sync.push(launcher.encode(), "/data/local/tmp/benchmark_model", mode=0o644)
    sync.push(model, "/data/local/tmp/model.tflite")
    run = phone.sh("cd /data/local/tmp && chmod +x benchmark_model && taskset c0 "
                   "./benchmark_model --graph=model.tflite --num_threads=2 --num_runs=3 "
                   "--min_secs=0.05 --warmup_min_secs=0.01", timeout=120)
    assert run.returncode == 0, run.output
    assert "Inference timings in us: Init: " in run.stdout
    assert "Loaded model model.tflite" in run.stdout
