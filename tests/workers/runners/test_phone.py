"""``PhoneRunner`` on a scripted phone: tools, pushes, the command line, the gate, timeouts and
reconnects, with no adb server."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from models.tflite_file import sha256_file
from orchestrator.config import load_settings
from orchestrator.errors import DeviceUnavailable, ModelError, ToolError
from orchestrator.repository import ToolRef
from orchestrator.storage import session_scope
from tests.support.scripted import FakeClock, PhoneState, device_ref, scripted_phone
from workers.device.gate import GatePolicy
from workers.device.protocol import ShellResult
from workers.device.scripted import ScriptedLink
from workers.runners import PhoneRunner, SessionPlan
from workers.tools.benchmark_argv import SessionSpec
from workers.tools.registry import register_tool


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return build_builtin_models(tmp_path / "models")["builtin-segmenter"]


@pytest.fixture
def tool(tmp_path: Path) -> ToolRef:
    path = tmp_path / "benchmark_model"
    path.write_text("#!/bin/sh\n")
    return ToolRef(1, "benchmark_model", "2.16", sha256_file(path), "arm64-v8a", str(path))


def _runner(state: PhoneState | None = None) -> tuple[PhoneRunner, ScriptedLink, FakeClock]:
    phone, _state = scripted_phone(state)
    link, clock = ScriptedLink(phone, "SCRIPTED1"), FakeClock()
    return PhoneRunner(device_ref(1), link, sleep=clock.sleep, clock=clock), link, clock


def _plan(model: Path, **changes: object) -> SessionPlan:
    return SessionPlan(spec=SessionSpec(graph=str(model), num_threads=2, delegate="xnnpack"),
                       timeout_s=90, gate=GatePolicy(max_wait_s=0.5, poll_s=0.01),
                       **changes)  # type: ignore[arg-type]


def test_a_phone_that_is_not_online_is_unavailable() -> None:
    phone, _ = scripted_phone()
    with pytest.raises(DeviceUnavailable, match="not online"):
        PhoneRunner(device_ref(1), ScriptedLink(phone, "SCRIPTED1", online=False))


def test_model_and_tool_go_to_the_phone_once_by_sha256(model: Path, tool: ToolRef) -> None:
    runner, _, _ = _runner()
    runner.prepare_model(str(model), sha256_file(model), tool)
    runner.prepare_model(str(model), sha256_file(model), tool)
    phone = runner.phone
    assert sorted(phone.commands("push")) == sorted([  # type: ignore[attr-defined]
        f"/data/local/tmp/farm/{sha256_file(model)}/model.tflite",
        f"/data/local/tmp/farm/{tool.sha256}/benchmark_model"])
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="changed since it was registered"):
        runner.prepare_model(str(model), sha256_file(model)[::-1], tool)


def test_the_command_is_quoted_timed_out_on_the_phone_and_pinned(model: Path, tool: ToolRef) -> None:
    runner, _, _ = _runner()
    with pytest.raises(RuntimeError, match="prepare_model"):
        runner.run_session(_plan(model))
    runner.prepare_model(str(model), sha256_file(model), tool)
    raw = runner.run_session(_plan(model, pin="big"))
    remote_tool = f"/data/local/tmp/farm/{tool.sha256}/benchmark_model"
    assert raw.argv[:7] == ["timeout", "-s", "KILL", "90", "taskset", "f0", remote_tool]
    assert f"--graph=/data/local/tmp/farm/{sha256_file(model)}/model.tflite" in raw.argv
    assert raw.exit_code == 0 and "Inference timings in us" in raw.output
    env = raw.environment
    assert env["gate"]["passed"] and env["temp_before_c"] == 30.0 and env["pin_mask"] == "f0"
    assert env["before"]["battery_level"] == 80 and env["transport"] == "scripted-1"
    assert "taskset" not in runner.run_session(_plan(model)).argv


def test_a_hung_tool_killed_by_the_phone_is_a_timeout(model: Path, tool: ToolRef) -> None:
    runner, _, _ = _runner()
    runner.phone.on(r"^timeout ", ShellResult("INFO: STARTING!\n", "", 124))  # type: ignore[attr-defined]
    runner.prepare_model(str(model), sha256_file(model), tool)
    raw = runner.run_session(_plan(model))
    assert raw.error_kind == "timeout" and "longer than 90 s" in (raw.error_message or "")


def test_the_gate_waits_for_a_hot_phone_to_cool(model: Path, tool: ToolRef) -> None:
    state = PhoneState(temp_c=41.0)
    readings: list[float] = []
    environment = state.environment

    def cooling(script: str) -> str:
        readings.append(state.temp_c)
        if len(readings) == 3:
            state.temp_c = 33.0
        return environment(script)

    state.environment = cooling  # type: ignore[method-assign]
    runner, _, _ = _runner(state)
    runner.prepare_model(str(model), sha256_file(model), tool)
    raw = runner.run_session(_plan(model))
    assert readings[:3] == [41.0, 41.0, 41.0]
    assert raw.environment["gate"]["passed"] and raw.environment["temp_before_c"] == 33.0


def test_a_phone_that_stays_hot_runs_anyway_and_says_so(model: Path, tool: ToolRef) -> None:
    runner, _, _ = _runner(PhoneState(temp_c=45.0))
    runner.prepare_model(str(model), sha256_file(model), tool)
    gate = runner.run_session(_plan(model)).environment["gate"]
    assert not gate["passed"] and "45.0 C" in gate["reasons"][0]


def test_reconnect_waits_then_re_pushes_what_a_rebooted_phone_lost(model: Path,
                                                                    tool: ToolRef) -> None:
    runner, link, clock = _runner()
    runner.prepare_model(str(model), sha256_file(model), tool)
    link.online = False
    assert runner.reconnect(wait_s=4.0) is False
    # polled with doubling pauses, the last cut at the deadline; no real time spent
    assert clock.now == 4.0 and clock.slept == [0.5, 1.0, 2.0, 0.5]
    runner.phone.files.clear()  # type: ignore[attr-defined]
    link.online = True
    assert runner.reconnect(wait_s=4.0) is True
    assert len(runner.phone.files) == 2  # type: ignore[attr-defined]
    assert [p.pushed for p in runner.pushes[-2:]] == [True, True]


def test_tool_choice_for_the_phones_abis(db_env: dict[str, str], tmp_path: Path) -> None:
    runner, _, _ = _runner()
    with session_scope(load_settings()) as db:
        with pytest.raises(ToolError, match="farm tools add") as info:
            runner.choose_tool(db)
        assert "--abi arm64-v8a" in (info.value.hint or "")
        for abi in ("armeabi-v7a", "arm64-v8a"):
            path = tmp_path / f"bm-{abi}"
            path.write_text(f"#!/bin/sh\n# {abi}\n")
            register_tool(db, path, abi=abi, name=f"bm-{abi}")
        assert runner.choose_tool(db).abi == "arm64-v8a"
        (tmp_path / "bm-arm64-v8a").unlink()
        with pytest.raises(ToolError, match="missing"):
            runner.choose_tool(db)


def _snapshots(runner: PhoneRunner) -> int:
    """Environment snapshots the runner has read from its phone so far."""
    return sum("dumpsys battery" in script
               for script in runner.phone.commands("shell"))  # type: ignore[attr-defined]


def test_back_to_back_sessions_read_the_phone_once_between_them(model: Path, tool: ToolRef
                                                                ) -> None:
    runner, _, clock = _runner()
    runner.prepare_model(str(model), sha256_file(model), tool)
    snapshots = _snapshots(runner)
    first = runner.run_session(_plan(model))
    second = runner.run_session(_plan(model))
    readings = _snapshots(runner) - snapshots
    # before and after the first; after the second (its gate read the first's closing snapshot)
    assert readings == 3
    assert first.environment["before_reused_s"] is None
    assert second.environment["before_reused_s"] == 0 and second.environment["gate"]["passed"]
    assert second.environment["before"] == first.environment["after"]
    # A closing snapshot older than 5 s is not trusted: the gate reads the phone again.
    clock.now += 6
    third = runner.run_session(_plan(model))
    assert third.environment["before_reused_s"] is None
    assert _snapshots(runner) - snapshots == 5


def test_a_reused_reading_that_is_too_hot_is_read_again_until_cool(model: Path, tool: ToolRef
                                                                   ) -> None:
    state = PhoneState()
    runner, _, _ = _runner(state)
    runner.prepare_model(str(model), sha256_file(model), tool)
    runner.run_session(_plan(model))
    state.temp_c = 45.0  # the closing snapshot said 30 C; now the phone is hot...
    hot = runner.run_session(_plan(model))
    # ... the reused reading let this session go: the state right after the last session.
    assert hot.environment["temp_before_c"] == 30.0 and hot.environment["temp_after_c"] == 45.0
    # The next session's reused reading is the hot one: the gate waits, reading afresh.
    waiting = runner.run_session(_plan(model))
    assert not waiting.environment["gate"]["passed"]
