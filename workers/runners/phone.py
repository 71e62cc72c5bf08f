"""``PhoneRunner``: benchmark sessions on a phone, through any ``Device`` (the adb phone, or a
scripted one in tests).

Per model: the benchmark tool registered for the phone's ABI and the model file go through the push
cache (sha256-keyed, pushed only when missing or corrupted). Per session: the thermal / battery gate
(its first reading is the previous session's closing snapshot when that is under 5 s old: back to
back, the phone is in the state that reading saw), the command (quoted argv; optionally
``taskset`` to the big cores; wrapped in the device's ``timeout`` so a hung tool is killed on the
phone, not mistaken for a lost link), then a closing snapshot. The phone is found through its
``DeviceLink`` by ``ro.serialno``, whatever transport it currently has, so a phone that reconnects
elsewhere is found again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session as DbSession

from orchestrator import repository
from orchestrator.errors import DeviceUnavailable, ToolError
from orchestrator.repository import DeviceRef, ToolRef
from orchestrator.schema import utcnow
from workers.device.gate import GatePolicy, too_hot, wait_for_gate
from workers.device.inspect import environment_snapshot, pin_mask
from workers.device.protocol import Device, DeviceLink
from workers.device.push_cache import Pushed, ensure_on_device
from workers.runners.base import RawSession, SessionPlan, verify_model
from workers.tools.benchmark_argv import build_argv

__all__ = ["PhoneRunner"]

#: toybox / coreutils ``timeout`` exits with 124 (or 128+9 when it had to KILL)
_TIMEOUT_CODES = (124, 137)
#: a session's closing snapshot younger than this is the next session's gate reading (one shell
#: call less per session: ``benchmarks/overhead.py``)
_REUSE_AFTER_S = 5.0
#: the longest pause between two looks for a lost phone
_RECONNECT_POLL_MAX_S = 8.0


class PhoneRunner:
    """A phone (a ``Runner``). ``sleep`` and ``clock`` pace the reconnect loop."""

    def __init__(self, device: DeviceRef, link: DeviceLink, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.device = device
        self.link = link
        self._sleep, self._clock = sleep, clock
        phone = link.find()
        if phone is None:
            raise DeviceUnavailable(f"{device.serial} is not online at the adb server",
                                    hint="check `adb devices` (offline / unauthorized phones "
                                         "are not benchmarked)")
        self.phone: Device = phone
        self.remote_models: dict[str, str] = {}  # host path -> path on the phone
        self.remote_tool: str | None = None
        self.pushes: list[Pushed] = []
        self._pushes_reported = 0  # pushes already listed in a session's environment
        #: the last session's closing snapshot and when it was read: the next session's gate
        #: reading while it is fresh (back to back, nothing happened on the phone in between)
        self._last_after: tuple[float, dict[str, Any]] | None = None
        self._ensure: list[tuple[Path, str, str]] = []  # what a reconnect must re-verify

    def choose_tool(self, db: DbSession) -> ToolRef:
        abis = repository.device_abis(self.device.abi, self.device.info)
        tools = repository.tools_for_abis(db, abis)
        if not tools:
            raise ToolError(
                f"no benchmark tool is registered for {self.device.serial} ({', '.join(abis)})",
                hint=f"register one: `farm tools add PATH/benchmark_model --abi {abis[0]}`")
        tool = tools[0]
        if not tool.path or not Path(tool.path).is_file():
            raise ToolError(f"the registered tool {tool.name} {tool.version} is missing at "
                            f"{tool.path}", hint="register it again with `farm tools add`")
        return tool

    def _push(self, local: Path, sha256: str, role: str) -> str:
        pushed = ensure_on_device(self.phone, local, sha256, role)
        self.pushes.append(pushed)
        if (local, sha256, role) not in self._ensure:
            self._ensure.append((local, sha256, role))
        return pushed.remote

    def prepare_model(self, path: str, sha256: str, tool: ToolRef) -> None:
        verify_model(path, sha256)
        self.remote_tool = self._push(Path(tool.path or ""), tool.sha256, "benchmark_model")
        self.remote_models[path] = self._push(Path(path), sha256, "model.tflite")

    def run_session(self, plan: SessionPlan) -> RawSession:
        if self.remote_tool is None or plan.spec.graph not in self.remote_models:
            raise RuntimeError("prepare_model() must run before run_session()")
        reused = self._fresh_after()
        gate = wait_for_gate(self._gate_reader(reused), plan.gate)
        spec = replace(plan.spec, graph=self.remote_models[plan.spec.graph])
        command = [self.remote_tool, *build_argv(spec)]
        mask = pin_mask(self.device.cpu) if plan.pin == "big" else None
        if mask:
            command = ["taskset", mask, *command]
        argv = ["timeout", "-s", "KILL", f"{plan.timeout_s:g}", *command]
        started = utcnow()
        # The socket outlives the device-side timeout: only a dead link trips adbutils' timeout.
        result = self.phone.shell(argv, timeout=plan.timeout_s + 60)
        finished = utcnow()
        after = environment_snapshot(self.phone)
        self._last_after = (self._clock(), after)
        timed_out = result.exit_code in _TIMEOUT_CODES
        # What this session had to push first (an unchanged model and tool: nothing).
        pushed = [p.remote for p in self.pushes[self._pushes_reported:] if p.pushed]
        self._pushes_reported = len(self.pushes)
        return RawSession(
            argv=argv, output=result.stdout + result.stderr, exit_code=result.exit_code,
            started_at=started, finished_at=finished,
            environment={"before": gate.environment, "after": after, "gate": gate.to_json(),
                         "temp_before_c": gate.environment.get("temp_c"),
                         "temp_after_c": after.get("temp_c"), "pin": plan.pin, "pin_mask": mask,
                         "transport": self.phone.transport, "pushed": pushed,
                         "before_reused_s": reused[0] if reused else None},
            error_kind="timeout" if timed_out else None,
            error_message=f"the session ran longer than {plan.timeout_s:g} s and was killed"
            if timed_out else None)

    def _fresh_after(self) -> tuple[float, dict[str, Any]] | None:
        """(age in s, snapshot) of the last session's closing reading, if under
        ``_REUSE_AFTER_S`` old; it is taken once."""
        last, self._last_after = self._last_after, None
        if last is None or self._clock() - last[0] > _REUSE_AFTER_S:
            return None
        return round(self._clock() - last[0], 3), last[1]

    def _gate_reader(self, reused: tuple[float, dict[str, Any]] | None
                     ) -> Callable[[], dict[str, Any]]:
        """The gate's readings: the reused snapshot first (if any), then fresh ones."""
        pending = [reused[1]] if reused else []

        def read() -> dict[str, Any]:
            return pending.pop() if pending else environment_snapshot(self.phone)

        return read

    def too_hot(self, policy: GatePolicy) -> str | None:
        return too_hot(environment_snapshot(self.phone), policy)

    def reconnect(self, wait_s: float) -> bool:
        """Look for the phone until ``wait_s`` has passed: at once, then after pauses that double
        from 0.5 s up to ``_RECONNECT_POLL_MAX_S`` (a blip is caught within a second; a phone that
        takes a minute to re-enumerate costs a dozen adb queries, not a hundred)."""
        deadline = self._clock() + wait_s
        pause = 0.5
        while True:
            phone = self.link.find()
            if phone is not None:
                self.phone = phone
                # A phone that rebooted may have lost its files: check (and re-push) them.
                for local, sha256, role in self._ensure:
                    self.pushes.append(ensure_on_device(self.phone, local, sha256, role))
                return True
            left = deadline - self._clock()
            if left <= 0:
                return False
            self._sleep(min(pause, left))
            pause = min(pause * 2, _RECONNECT_POLL_MAX_S)
