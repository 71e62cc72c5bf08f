from __future__ import annotations

import pytest

from orchestrator.errors import PlanError
from orchestrator.planning import (
    DeviceDefaults,
    Submission,
    big_cores,
    device_defaults,
    distinct_files,
    expand,
    job_id,
    parse_delegates,
    parse_threads,
)
from orchestrator.schema import Device, Model


def test_parse_threads() -> None:
    assert parse_threads("1,2,4") == (1, 2, 4)
    assert parse_threads(" 4 , 4,1") == (4, 1)


@pytest.mark.parametrize("bad", ["", "1,,2", "x", "0", "-1", "1.5", "1;2", "300"])
def test_malformed_threads_name_the_item(bad: str) -> None:
    with pytest.raises(PlanError, match="--threads") as info:
        parse_threads(bad)
    assert info.value.exit_code == 2 and info.value.hint


def test_parse_delegates() -> None:
    assert parse_delegates("xnnpack,cpu") == ("xnnpack", "cpu")
    assert parse_delegates("all") == ("cpu", "xnnpack", "gpu", "nnapi")
    with pytest.raises(PlanError, match="'tpu'"):
        parse_delegates("cpu,tpu")


def _device(serial: str, kind: str) -> Device:
    return Device(id=hash(serial) % 1000, serial=serial, kind=kind)


def _model(name: str) -> Model:
    return Model(id=hash(name) % 1000, name=name, sha256=name * 4)


def test_expand_threads_delegates_and_skips() -> None:
    submission = Submission(threads=(1, 4), delegates=("cpu", "xnnpack", "gpu", "nnapi"))
    local, phone = _device("local", "local"), _device("R5CT", "adb")
    plans = expand(submission, [_model("a"), _model("b")], [local, phone])
    # per device and model: cpu x2 threads, xnnpack x2, gpu x1, nnapi x1
    assert len(plans) == 2 * 2 * 6
    gpu = [p for p in plans if p.delegate == "gpu"]
    assert {p.num_threads for p in gpu} == {4}
    skipped = [p for p in plans if p.skip_reason]
    assert {(p.device.serial, p.delegate) for p in skipped} == {("local", "nnapi")}
    assert all("Android" in (p.skip_reason or "") for p in skipped)
    # device-major order: all of one device's jobs before the next device's
    serials = [p.device.serial for p in plans]
    assert serials == sorted(serials, key=lambda s: s != "local")


def test_job_ids_are_idempotency_keys() -> None:
    plans = expand(Submission(threads=(1, 2)), [_model("a")], [_device("local", "local")])
    ids = [job_id("run1", p) for p in plans]
    assert len(set(ids)) == len(ids)
    assert ids == [job_id("run1", p) for p in plans]
    assert ids != [job_id("run2", p) for p in plans]


def test_one_job_per_model_file_under_the_first_name_selected() -> None:
    """Two names of one file (a copy added under another name) would share every job id."""
    a, b, c = _model("a"), _model("b"), Model(id=7, name="copy-of-a", sha256="a" * 4)
    plans = expand(Submission(threads=(1, 2), delegates=("cpu",)), [c, b, a, c],
                   [_device("local", "local")])
    assert [(p.model.name, p.num_threads) for p in plans] == [
        ("copy-of-a", 1), ("copy-of-a", 2), ("b", 1), ("b", 2)]
    ids = [job_id("run1", p) for p in plans]
    assert len(set(ids)) == len(ids)
    files, same = distinct_files([c, b, a, c])
    assert files == [c, b]
    # the same model named twice is not an alias of itself
    assert [(s.kept, s.aliases) for s in same] == [(c, (a,))]
    assert same[0].note() == ("models copy-of-a and a are the same file (sha256 aaaa): "
                              "measured once, as copy-of-a")
    assert distinct_files([a, b]) == ([a, b], [])


def test_three_names_of_one_file_are_listed_in_one_note() -> None:
    x, y, z = (Model(id=i, name=n, sha256="f" * 64) for i, n in enumerate("xyz"))
    (same,) = distinct_files([x, y, z])[1]
    assert same.note() == ("models x, y and z are the same file (sha256 ffffffffffff): "
                           "measured once, as x")


PIXEL_7 = {"cores": 8, "clusters": [
    {"cores": [0, 1, 2, 3], "max_freq_khz": 1_803_000},
    {"cores": [4, 5], "max_freq_khz": 2_348_000},
    {"cores": [6, 7], "max_freq_khz": 2_850_000}]}


@pytest.mark.parametrize(("cpu", "big"), [
    (PIXEL_7, 4),  # every cluster faster than the slowest: the `--pin big` set
    ({"cores": 2, "clusters": []}, 2),  # a container without cpufreq: every core
    ({"cores": 6, "clusters": [{"cores": [0, 1, 2, 3, 4, 5], "max_freq_khz": 2_000_000}]}, 6),
    ({}, 1),
])
def test_big_cores(cpu: dict[str, object], big: int) -> None:
    assert big_cores(cpu) == big


def _phone(cpu: dict[str, object], *, gpu: str | None = "Mali-G710", sdk: int = 34) -> Device:
    return Device(id=1, serial="P", kind="adb", cpu=cpu, gpu=gpu, info={"sdk": sdk})


def test_defaults_fit_the_device() -> None:
    local = Device(id=2, serial="local", kind="local", cpu={"cores": 2, "clusters": []})
    # a 2-core machine measures 1 and 2 threads (not 4: that would measure oversubscription)
    assert device_defaults(local, accelerators=True) == DeviceDefaults((1, 2), ("xnnpack",))
    assert device_defaults(_phone(PIXEL_7), accelerators=True) == DeviceDefaults(
        (1, 4), ("xnnpack", "gpu", "nnapi"))
    # the host runner behind a virtual phone drives only LiteRT's CPU paths
    assert device_defaults(_phone(PIXEL_7), accelerators=False).delegates == ("xnnpack",)
    # no GPU reported, NNAPI before Android 8.1: neither is planned by default
    assert device_defaults(_phone(PIXEL_7, gpu=None, sdk=26), accelerators=True).delegates == (
        "xnnpack",)
    single = _phone({"cores": 1, "clusters": []})
    assert device_defaults(single, accelerators=True).threads == (1,)


def test_a_submission_without_threads_or_delegates_takes_each_devices_defaults() -> None:
    local, phone = _device("local", "local"), _device("R5CT", "adb")
    defaults = {"local": DeviceDefaults((1, 2), ("xnnpack",)),
                "R5CT": DeviceDefaults((1, 4), ("xnnpack", "gpu"))}
    plans = expand(Submission(), [_model("a")], [local, phone], defaults)
    assert [(p.device.serial, p.delegate, p.num_threads) for p in plans] == [
        ("local", "xnnpack", 1), ("local", "xnnpack", 2),
        ("R5CT", "xnnpack", 1), ("R5CT", "xnnpack", 4), ("R5CT", "gpu", 4)]
    assert not any(p.skip_reason for p in plans)
    # what the user names wins over the defaults, and a delegate the device lacks is a skip
    asked = expand(Submission(threads=(3,), delegates=("nnapi",)), [_model("a")], [local],
                   defaults)
    assert [(p.delegate, p.num_threads, bool(p.skip_reason)) for p in asked] == [
        ("nnapi", 3, True)]
