"""``farm devices simulate`` and ``farm devices list`` as a user runs them, in a real process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.adb import AdbServer


@pytest.fixture
def env(farm_env: dict[str, str]) -> dict[str, str]:
    return farm_env  # FARM_HOME in tmp and ANDROID_ADB_SERVER_PORT at the session's adb server


def _devices(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "farm.cli", "devices", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_simulate_connects_phones_lists_them_and_stops_on_sigterm(adb: AdbServer,
                                                                  env: dict[str, str]) -> None:
    sim = _devices(env, "simulate", "--count", "2", "--profile", "galaxy-s21", "--base-port", "0")
    try:
        assert sim.stdout is not None
        serials = [sim.stdout.readline().split()[0] for _ in range(2)]
        assert all(s.startswith("127.0.0.1:") for s in serials), serials
        for serial in serials:
            adb.wait_state(serial, "device")
        listing = _devices(env, "list", "--json")
        out, err = listing.communicate(timeout=60)
        assert listing.returncode == 0, err
        rows = {row["info"].get("transport"): row for row in json.loads(out)}
        assert all(rows[s]["state"] == "device" and rows[s]["model"] == "SM-G991B" for s in serials)
        # serials are the phones' own (ro.serialno), not their transport addresses
        assert all(rows[s]["serial"] != s for s in serials)
        assert any(row["serial"] == "local" for row in rows.values())
        # the phones' benchmark tool came with them (registered before they started): the host
        # runner, for their ABI
        listed = subprocess.run([sys.executable, "-m", "farm.cli", "tools", "list", "-f", "json"],
                                env=env, capture_output=True, text=True, timeout=60, check=True)
        assert [(t["name"], t["abi"]) for t in json.loads(listed.stdout)] == [
            ("litert-host-runner", "arm64-v8a")]
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(timeout=30) == 0
        assert sim.stderr is not None
        assert "registered the host runner as the benchmark tool for arm64-v8a" in sim.stderr.read()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    for serial in serials:
        assert adb.state(serial) is None  # disconnected from the adb server
        with socket.socket() as s:  # and the phone process is gone
            assert s.connect_ex(("127.0.0.1", int(serial.rsplit(":", 1)[1]))) != 0


def test_unknown_profile_is_a_clear_error(env: dict[str, str]) -> None:
    started = time.monotonic()
    sim = _devices(env, "simulate", "--profile", "iphone")
    _, err = sim.communicate(timeout=60)
    assert sim.returncode != 0
    assert "no virtual phone profile 'iphone'" in err
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_phones_never_outlive_a_killed_simulate(adb: AdbServer, env: dict[str, str]) -> None:
    sim = _devices(env, "simulate", "--base-port", "0")
    assert sim.stdout is not None
    port = int(sim.stdout.readline().split()[0].rsplit(":", 1)[1])
    sim.kill()  # no chance to clean up
    sim.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the orphaned phone still listens")
    adb.adb("disconnect", f"127.0.0.1:{port}")
