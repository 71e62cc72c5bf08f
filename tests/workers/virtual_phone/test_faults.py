"""Every fault a virtual phone injects, observed the way the farm observes it: through adbutils."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import pytest

from tests.support.adb import AdbServer
from tests.support.virtual_phones import ConnectedPhone


def test_drop_mid_command_raises_in_shell2_and_the_phone_comes_back(
        phone_factory: Callable[..., ConnectedPhone], adb: AdbServer) -> None:
    phone = phone_factory(faults="drop-shell")
    started = time.monotonic()
    with pytest.raises((EOFError, adbutils.AdbError)):
        phone.sh("sleep 5; echo never")
    assert time.monotonic() - started < 3  # cut mid-command, not after it
    # the adb server reconnects TCP devices; the next command works
    adb.wait_state(phone.serial, "device")
    assert phone.sh("echo back").stdout == "back\n"


def test_drop_when_a_fast_command_would_finish_still_loses_the_exit_status(
        phone_factory: Callable[..., ConnectedPhone]) -> None:
    phone = phone_factory(faults="drop-shell")
    with pytest.raises((EOFError, adbutils.AdbError)):
        phone.sh("echo quick")


def test_drop_mid_push_raises(phone_factory: Callable[..., ConnectedPhone], adb: AdbServer) -> None:
    phone = phone_factory(faults="drop-push")
    with pytest.raises(adbutils.AdbError):
        phone.device.sync.push(b"x" * 500_000, "/data/local/tmp/cut.bin")
    adb.wait_state(phone.serial, "device")
    size = phone.sh("stat -c %s /data/local/tmp/cut.bin").stdout.strip()
    assert int(size) < 500_000  # what arrived before the cut, as on a real phone


@pytest.mark.slow
def test_offline_from_the_start(phone_factory: Callable[..., ConnectedPhone],
                                adb: AdbServer) -> None:
    # adb connect gives up on the handshake after its own 10 s, and keeps the phone, offline
    phone = phone_factory(faults="offline", expect_state="offline")
    with pytest.raises(adbutils.AdbError, match="offline"):
        phone.sh("echo hi", timeout=10)
    phone.phone.clear_faults("offline")
    adb.wait_state(phone.serial, "device")
    assert phone.sh("echo hi").stdout == "hi\n"


def test_going_offline_at_run_time(phone: ConnectedPhone, adb: AdbServer) -> None:
    phone.phone.set_faults("offline")
    adb.wait_state(phone.serial, "offline")
    with pytest.raises(adbutils.AdbError, match="offline"):
        phone.sh("echo hi", timeout=10)
    phone.phone.clear_faults("offline")
    adb.wait_state(phone.serial, "device")
    assert phone.sh("echo hi").stdout == "hi\n"


def test_unauthorized_until_the_key_is_accepted(phone_factory: Callable[..., ConnectedPhone],
                                                adb: AdbServer) -> None:
    phone = phone_factory(faults="unauthorized", expect_state="unauthorized")
    with pytest.raises(adbutils.AdbError, match="unauthorized"):
        phone.sh("echo hi", timeout=10)
    time.sleep(1)
    assert adb.state(phone.serial) == "unauthorized"  # never accepted by itself
    phone.phone.clear_faults("unauthorized")  # the user taps "Allow"
    adb.wait_state(phone.serial, "device")
    assert phone.sh("echo hi").stdout == "hi\n"


def test_slow_link_limits_throughput(phone_factory: Callable[..., ConnectedPhone]) -> None:
    phone = phone_factory(faults="slow=512")
    started = time.monotonic()
    phone.device.sync.push(b"z" * 512 * 1024, "/data/local/tmp/slow.bin")
    assert time.monotonic() - started > 0.8  # 512 KiB at 512 KiB/s
    phone.phone.clear_faults("slow")
    started = time.monotonic()
    phone.device.sync.push(b"z" * 512 * 1024, "/data/local/tmp/fast.bin")
    assert time.monotonic() - started < 0.5


def test_latency_is_added_to_each_round_trip(phone: ConnectedPhone) -> None:
    def round_trip() -> float:
        started = time.monotonic()
        phone.sh("true")
        return time.monotonic() - started

    fast = min(round_trip() for _ in range(3))
    phone.phone.set_faults("latency=60")
    slow = min(round_trip() for _ in range(3))
    assert slow > fast + 0.1  # several messages each way, 60 ms each


def test_overheat_shows_in_thermal_zones_dumpsys_and_battery(phone: ConnectedPhone) -> None:
    phone.phone.set_faults("overheat")
    time.sleep(1.1)  # two thermal ticks
    thermal = phone.sh("dumpsys thermalservice").stdout
    status = int(thermal.split("Thermal Status: ")[1].split()[0])
    assert status >= 4
    battery_c = int(phone.sh("cat /sys/class/power_supply/battery/temp").stdout) / 10
    assert battery_c >= 47.0
    dumpsys_c = int(phone.sh("dumpsys battery").stdout.split("temperature: ")[1].split()[0]) / 10
    assert dumpsys_c >= 47.0
    assert "thermal status changed" in phone.sh("logcat -d").stdout
    phone.phone.clear_faults("overheat")
    time.sleep(1.1)
    cooler = int(phone.sh("cat /sys/class/power_supply/battery/temp").stdout) / 10
    assert cooler < battery_c


def test_storage_full_fails_pushes_and_writes_with_enospc(phone: ConnectedPhone, adb: AdbServer,
                                                          tmp_path: Path) -> None:
    phone.phone.set_faults("storage-full")
    with pytest.raises(adbutils.AdbError):
        phone.device.sync.push(b"y" * 200_000, "/data/local/tmp/full.bin")
    blob = tmp_path / "blob"
    blob.write_bytes(b"y" * 300_000)
    cli = adb.adb("-s", phone.serial, "push", str(blob), "/data/local/tmp/full2.bin")
    assert cli.returncode != 0
    assert b"No space left on device" in cli.stdout + cli.stderr
    write = phone.sh("cat /system/build.prop > /sdcard/note.txt")
    assert write.returncode != 0 and "No space left" in write.stderr
    phone.phone.clear_faults("storage-full")
    assert phone.sh("cat /system/build.prop > /sdcard/note.txt").returncode == 0
    phone.device.sync.push(b"y" * 200_000, "/data/local/tmp/full.bin")
