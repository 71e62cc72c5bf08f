from __future__ import annotations

import pytest

from orchestrator.errors import PlanError
from orchestrator.planning import Submission, expand, job_id, parse_delegates, parse_threads
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
