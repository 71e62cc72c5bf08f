"""The push cache (``workers.device.push_cache``) on a scripted phone: files keyed by sha256,
pushed only when missing or corrupted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.errors import DeviceError, DeviceStorageFull
from workers.device.push_cache import ensure_on_device, remote_path
from workers.device.scripted import ScriptedDevice


@pytest.fixture
def model(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"TFL3" + bytes(range(200)))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_pushed_once_then_found(model: tuple[Path, str]) -> None:
    path, digest = model
    phone = ScriptedDevice()
    first = ensure_on_device(phone, path, digest, "model.tflite")
    second = ensure_on_device(phone, path, digest, "model.tflite")
    assert (first.pushed, second.pushed) == (True, False)
    assert first.remote == f"/data/local/tmp/farm/{digest}/model.tflite"
    assert phone.commands("push") == [first.remote]


def test_a_corrupted_copy_is_pushed_again(model: tuple[Path, str]) -> None:
    path, digest = model
    phone = ScriptedDevice()
    remote = ensure_on_device(phone, path, digest, "model.tflite").remote
    phone.files[remote] = phone.files[remote][:10]  # a push cut short, long ago
    assert ensure_on_device(phone, path, digest, "model.tflite").pushed
    assert phone.files[remote] == path.read_bytes()


def test_a_copy_that_arrives_corrupted_twice_is_an_error(model: tuple[Path, str]) -> None:
    path, digest = model
    phone = ScriptedDevice().on(r"^sha256sum ", "0" * 64 + "  somewhere\n")
    with pytest.raises(DeviceError, match="corrupted after two pushes"):
        ensure_on_device(phone, path, digest, "model.tflite")
    assert len(phone.commands("push")) == 2


def test_a_tool_is_made_executable(model: tuple[Path, str]) -> None:
    path, digest = model
    phone = ScriptedDevice()
    ensure_on_device(phone, path, digest, "benchmark_model")
    assert phone.commands()[-1] == f"chmod 755 {remote_path(digest, 'benchmark_model')}"


def test_a_full_phone_says_so(model: tuple[Path, str]) -> None:
    path, digest = model
    with pytest.raises(DeviceStorageFull):
        ensure_on_device(ScriptedDevice(free_bytes=16), path, digest, "model.tflite")


@pytest.mark.parametrize(("key", "role"), [("../../etc", "model.tflite"), ("a" * 64, "x.sh")])
def test_only_digests_and_fixed_names_reach_the_phone(key: str, role: str) -> None:
    with pytest.raises(ValueError, match="bad cache key"):
        remote_path(key, role)
