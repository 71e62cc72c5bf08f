"""The scripted device itself (``workers.device.scripted``): the fast tier's phone is only as good
as its rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.errors import DeviceError, DeviceLost, DeviceStorageFull
from workers.device.protocol import ShellResult
from workers.device.scripted import ScriptedDevice, ScriptedLink


def test_the_newest_matching_rule_answers_and_times_use_a_rule_up() -> None:
    phone = ScriptedDevice().on(r"^getprop", "old\n").on(r"^getprop", "new\n", times=1)
    assert phone.getprops() == "new\n"
    assert phone.getprops() == "old\n"
    phone.on(r"^id$", lambda script: ShellResult(f"ran {script}", "warn", 3))
    assert phone.run_script("id") == ShellResult("ran id", "warn", 3)


def test_a_failure_is_raised_as_often_as_asked() -> None:
    phone = ScriptedDevice().on(r"^ls", "a\n").fail(r"^ls", DeviceLost("dropped"), times=2)
    for _ in range(2):
        with pytest.raises(DeviceLost, match="dropped"):
            phone.shell(["ls"])
    assert phone.shell(["ls"]).stdout == "a\n"


def test_an_unscripted_command_is_not_found_and_argv_is_quoted() -> None:
    phone = ScriptedDevice()
    result = phone.shell(["echo", "it's a name; rm -rf /"])
    assert result.exit_code == 127
    assert phone.commands() == ["echo 'it'\"'\"'s a name; rm -rf /'"]


def test_files_behave_like_a_phones(tmp_path: Path) -> None:
    phone = ScriptedDevice(free_bytes=10)
    local = tmp_path / "m"
    local.write_bytes(b"12345")
    phone.push(local, "/data/m")
    assert phone.files == {"/data/m": b"12345"}
    digest = phone.shell(["sha256sum", "/data/m"]).stdout.split()[0]
    assert digest == hashlib.sha256(b"12345").hexdigest()
    assert phone.shell(["sha256sum", "/data/none"]).exit_code == 1
    assert phone.shell(["mkdir", "-p", "/data/x"]).exit_code == 0
    assert phone.shell(["df", "-k", "/data"]).stdout.splitlines()[-1].split()[3] == "0"
    out = tmp_path / "back"
    phone.pull("/data/m", out)
    assert out.read_bytes() == b"12345"
    with pytest.raises(DeviceError, match="no file"):
        phone.pull("/data/none", out)
    local.write_bytes(b"x" * 11)
    with pytest.raises(DeviceStorageFull):
        phone.push(local, "/data/big")
    assert [c.kind for c in phone.calls] == ["push", "shell", "shell", "shell", "shell", "pull",
                                             "pull", "push"]


def test_a_link_finds_its_phone_only_while_plugged_in() -> None:
    phone = ScriptedDevice()
    link = ScriptedLink(phone, "S1")
    assert link.find() is phone
    link.online = False
    assert link.find() is None and link.finds == 2
