"""What the farm reads of a phone (``workers.device.inspect``): one script per question, its
sections parsed, on a scripted phone."""

from __future__ import annotations

from tests.support.scripted import CLUSTERS, PhoneState, scripted_phone
from workers.device.inspect import (
    SECTION_MARK,
    device_record,
    environment_snapshot,
    pin_mask,
    zone_readings,
)


def test_an_environment_snapshot_is_one_round_trip() -> None:
    phone, _state = scripted_phone(PhoneState(temp_c=35.5, battery=64, charging=True))
    snapshot = environment_snapshot(phone)
    assert len(phone.commands()) == 1
    assert (snapshot["temp_c"], snapshot["battery_level"], snapshot["charging"]) == (35.5, 64, True)
    assert snapshot["thermal_status"] == 0 and snapshot["zones"] == [["battery", 35.5]]
    assert snapshot["cur_freq_khz"] == {"cpu0": "1800000"}


def test_a_device_record_is_read_from_ro_serialno_not_the_transport() -> None:
    phone, _state = scripted_phone(transport="192.168.1.20:5555")
    phone.on(r"echo @@farm-section:getprop", f"{SECTION_MARK}getprop\n"
             "[ro.serialno]: [R5CT90ABC]\n[ro.product.model]: [Pixel 7]\n"
             "[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a]\n"
             "[ro.build.version.release]: [14]\n[ro.build.version.sdk]: [34]\n"
             f"{SECTION_MARK}meminfo\nMemTotal:        7824308 kB\n"
             f"{SECTION_MARK}cpufreq\n"
             "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1800000\n"
             "/sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq:2850000\n"
             f"{SECTION_MARK}surfaceflinger\nGLES: ARM, Mali-G710, OpenGL ES 3.2\n")
    record = device_record(phone)
    assert (record["serial"], record["model"], record["abi"]) == ("R5CT90ABC", "Pixel 7", "arm64-v8a")
    assert record["os"] == "Android 14 (SDK 34)" and record["ram_mb"] == 7640
    assert record["gpu"] == "ARM, Mali-G710" and record["cpu"]["cores"] == 2
    assert record["info"]["transport"] == "192.168.1.20:5555"
    assert record["info"]["abilist"] == ["arm64-v8a", "armeabi-v7a"]


def test_the_big_core_mask_comes_from_the_clusters() -> None:
    assert pin_mask({"clusters": CLUSTERS}) == "f0"
    assert pin_mask({}) is None


def test_thermal_zones_are_read_from_one_grep_of_every_zone() -> None:
    text = ("/sys/class/thermal/thermal_zone0/type:BIG\n"
            "/sys/class/thermal/thermal_zone1/type:battery\n"
            "/sys/class/thermal/thermal_zone2/type:skin-unreadable\n"
            "/sys/class/thermal/thermal_zone0/temp:48250\n"
            "/sys/class/thermal/thermal_zone1/temp:31000\n"
            "garbage without a separator\n")
    # a zone whose temp file could not be read is left out, as the older loop's empty value was
    assert zone_readings(text) == {"BIG": "48250", "battery": "31000"}
    assert zone_readings("battery=35500\n") == {"battery": "35500"}  # the older form
