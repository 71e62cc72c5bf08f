"""The device layer against virtual phones through the real adb server (nothing here assumes a
virtual phone: the same calls drive a USB phone)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from farm.inventory import discover_phones
from models.builtin import build_builtin_models
from models.tflite_file import sha256_file
from orchestrator import storage
from orchestrator.errors import DeviceLost, DeviceNotFound, DeviceStorageFull
from orchestrator.schema import Device
from tests.support.adb import AdbServer
from tests.support.virtual_phones import ConnectedPhone
from workers.device.adb import AdbPhone, adb_client
from workers.device.gate import GatePolicy, wait_for_gate
from workers.device.inspect import environment_snapshot, pin_mask
from workers.device.push_cache import ensure_on_device
from workers.virtual_phone.profile import load_profile

pytestmark = pytest.mark.slow


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DbSession]:
    engine = create_engine(f"sqlite:///{tmp_path / 'farm.db'}")
    storage.upgrade(engine)
    with DbSession(engine) as session:
        yield session
    engine.dispose()


def _phone(connected: ConnectedPhone, adb: AdbServer) -> AdbPhone:
    return AdbPhone(adb_client(adb.port), connected.serial)


def test_discovery_records_three_profiles(phone_factory: Callable[..., ConnectedPhone],
                                          adb: AdbServer, db: DbSession) -> None:
    phones = {name: phone_factory(profile=name) for name in ("pixel-7", "galaxy-s21", "nokia-1-3")}
    found = discover_phones(db, adb_client(adb.port))
    assert found.problems == []
    for name, connected in phones.items():
        profile = load_profile(name)
        props = profile.properties()
        serial = props["ro.serialno"]
        assert serial in found.online and serial != connected.serial  # not the transport address
        device = db.scalars(select(Device).where(Device.serial == serial)).one()
        assert device.kind == "adb" and device.state == "device"
        assert device.manufacturer == props["ro.product.manufacturer"]
        assert device.model == props["ro.product.model"]
        assert device.abi == props["ro.product.cpu.abilist"].split(",")[0]
        assert device.fingerprint == props["ro.build.fingerprint"]
        assert device.os == f"Android {props['ro.build.version.release']} " \
                            f"(SDK {props['ro.build.version.sdk']})"
        clusters = device.cpu["clusters"]
        assert [c["max_freq_khz"] for c in clusters] == sorted(
            cl.max_freq_khz for cl in profile.clusters)
        assert device.cpu["cores"] == profile.core_count
        assert device.ram_mb == profile.mem_total_kb // 1024
        assert device.gpu and profile.gpu["renderer"] in device.gpu
        assert device.info["transport"] == connected.serial
    # pin masks from each profile's clusters: the big cores are those above the slowest cluster
    masks = {}
    for name in phones:
        serial = load_profile(name).properties()["ro.serialno"]
        masks[name] = pin_mask(db.scalars(select(Device).where(Device.serial == serial)).one().cpu)
    assert masks["pixel-7"] == "f0" and masks["galaxy-s21"] == "f0"
    assert masks["nokia-1-3"] is None  # one cluster: pinning would change nothing


def test_unauthorized_and_gone_phones_are_reported(phone_factory: Callable[..., ConnectedPhone],
                                                   adb: AdbServer, db: DbSession) -> None:
    ok = phone_factory()
    locked = phone_factory(faults="unauthorized", expect_state="unauthorized",
                           serial="LOCKED0001")
    found = discover_phones(db, adb_client(adb.port))
    assert len(found.online) == 1
    assert any("unauthorized" in p and "accept the USB debugging prompt" in p
               for p in found.problems)
    states = {d.info.get("transport"): d.state for d in db.scalars(select(Device))}
    assert states[locked.serial] == "unauthorized" and states[ok.serial] == "device"
    ok.phone.stop()
    adb.adb("disconnect", ok.serial)
    discover_phones(db, adb_client(adb.port))
    states = {d.info.get("transport"): d.state for d in db.scalars(select(Device))}
    assert states[ok.serial] == "disconnected"


def test_push_cache_hits_misses_and_corruption(phone: ConnectedPhone, adb: AdbServer,
                                               tmp_path: Path) -> None:
    model = build_builtin_models(tmp_path)["builtin-stylizer"]
    digest = sha256_file(model)
    device = _phone(phone, adb)
    first = ensure_on_device(device, model, digest, "model.tflite")
    second = ensure_on_device(device, model, digest, "model.tflite")
    assert (first.pushed, second.pushed) == (True, False)
    assert digest in first.remote
    # a copy corrupted on the phone (a cut push, a flipped bit) is detected and pushed again
    device.run_script(f"printf 'garbage' > {first.remote}")
    third = ensure_on_device(device, model, digest, "model.tflite")
    assert third.pushed
    assert device.shell(["sha256sum", third.remote]).stdout.split()[0] == digest


def test_storage_full_is_a_clear_error(phone: ConnectedPhone, adb: AdbServer,
                                       tmp_path: Path) -> None:
    big = tmp_path / "big.tflite"
    big.write_bytes(b"\0" * (4 << 20))
    phone.phone.set_faults("storage-full")
    with pytest.raises(DeviceStorageFull, match="no room"):
        ensure_on_device(_phone(phone, adb), big, sha256_file(big), "model.tflite")
    phone.phone.clear_faults("storage-full")


def test_the_v2_shell_keeps_streams_status_and_large_output(phone: ConnectedPhone,
                                                           adb: AdbServer) -> None:
    device = _phone(phone, adb)
    result = device.run_script("echo out; echo err >&2; exit 7")
    assert (result.stdout, result.stderr, result.exit_code) == ("out", "err", 7)
    # More than one packet (the phone's shell writes in chunks): every byte, in order.
    big = device.run_script("i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done")
    lines = big.stdout.split("\n")
    assert len(lines) == 20000 and lines[0] == "line0" and lines[-1] == "line19999"


def test_the_v2_shell_turns_a_drop_and_an_unknown_phone_into_device_errors(
        phone_factory: Callable[..., ConnectedPhone], adb: AdbServer) -> None:
    dropping = phone_factory(faults="drop-shell")
    with pytest.raises(DeviceLost, match="connection lost"):
        _phone(dropping, adb).run_script("sleep 5; echo never")
    with pytest.raises(DeviceNotFound):
        AdbPhone(adb_client(adb.port), "127.0.0.1:1").run_script("echo hi")


def test_quoting_keeps_user_data_out_of_the_shell(phone: ConnectedPhone, adb: AdbServer) -> None:
    device = _phone(phone, adb)
    canary = "/data/local/tmp/pwned"
    hostile = f"x; touch {canary}; $(touch {canary}) `touch {canary}` ' \" \\"
    result = device.shell(["echo", hostile])
    assert result.stdout.rstrip("\n") == hostile and result.exit_code == 0
    assert device.shell(["ls", canary]).exit_code != 0


def test_thermal_gate_waits_for_an_overheated_phone(phone: ConnectedPhone,
                                                    adb: AdbServer) -> None:
    device = _phone(phone, adb)
    phone.phone.set_faults("overheat")
    deadline = time.monotonic() + 15
    while (environment_snapshot(device)["temp_c"] or 0) <= 40:  # the phone heats up on its tick
        assert time.monotonic() < deadline, "the overheat fault never showed in the readings"
        time.sleep(0.2)
    # gives up after the maximum wait, saying why
    gave_up = wait_for_gate(lambda: environment_snapshot(device),
                            GatePolicy(max_temp_c=37.0, max_wait_s=1.0, poll_s=0.2))
    assert not gave_up.passed and "temperature" in gave_up.reasons[0]
    # cools once the heat goes away: the gate waits for it, then lets the session run
    threading.Timer(1.5, phone.phone.clear_faults, args=("overheat",)).start()
    start = time.monotonic()
    cooled = wait_for_gate(lambda: environment_snapshot(device),
                           GatePolicy(max_temp_c=37.0, max_wait_s=120.0, poll_s=0.3))
    assert cooled.passed and cooled.waited_s >= 1.4 and time.monotonic() - start < 120
    assert cooled.environment["temp_c"] < 37.0
    assert cooled.environment["battery_level"] is not None
    assert cooled.environment["cur_freq_khz"] and cooled.environment["governor"]


def test_gate_policy_battery(phone: ConnectedPhone) -> None:
    readings = iter([{"temp_c": 30.0, "battery_level": 12, "charging": False},
                     {"temp_c": 30.0, "battery_level": 12, "charging": True}])
    result = wait_for_gate(lambda: next(readings), GatePolicy(min_battery=30, poll_s=0),
                           sleep=lambda _s: None)
    assert result.passed and result.environment["charging"] is True
