"""A scripted phone for the fast tier: a ``ScriptedDevice`` that answers the environment snapshot
and runs a "benchmark" that prints the TF 2.13+ summary lines at a latency the test chooses.

It has no adb server behind it and runs no model: the tests that use it check what the farm does
with what a phone says (order, gates, retries, storage), not the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from models.builtin import register_builtin_models
from orchestrator.config import Settings
from orchestrator.repository import DeviceRef, upsert_device
from workers.device.inspect import SECTION_MARK
from workers.device.protocol import ShellResult
from workers.device.scripted import ScriptedDevice, ScriptedLink
from workers.runners import PhoneRunner
from workers.tools.registry import register_tool

#: the CPU of the scripted phone: four little cores, then four big ones (taskset mask f0)
CLUSTERS = [{"cores": [0, 1, 2, 3], "max_freq_khz": 1_800_000, "governor": "schedutil"},
            {"cores": [4, 5, 6, 7], "max_freq_khz": 2_800_000, "governor": "schedutil"}]


def benchmark_output(avg_ms: float, threads: int = 1) -> str:
    """What benchmark_model prints for one session averaging ``avg_ms``."""
    us = avg_ms * 1000
    return (f"INFO: Num threads: [{threads}]\n"
            f"INFO: #threads used for CPU inference: [{threads}]\n"
            "INFO: The input model file size (MB): 0.5\n"
            "INFO: Initialized session in 3.5ms.\n"
            f"INFO: count=5 first={us:.0f} curr={us:.0f} min={us:.0f} max={us:.0f} avg={us} "
            "std=1 p5=1 median=1 p95=1\n"
            f"INFO: Inference timings in us: Init: 3500, First inference: {us:.0f}, "
            f"Warmup (avg): {us}, Inference (avg): {us}\n"
            "INFO: Memory footprint delta from the start of the tool (MB): init=1.5 overall=4.25\n"
            "INFO: Overall peak memory footprint (MB) via periodic monitoring: 20.5\n")


@dataclass
class PhoneState:
    """What the phone reports; tests change it as they go."""

    temp_c: float = 30.0
    battery: int = 80
    charging: bool = False
    #: latency of a session, from its command line (default: 20 ms)
    latency_ms: Callable[[str], float] = field(default=lambda _command: 20.0)

    def environment(self, _script: str) -> str:
        return (f"{SECTION_MARK}battery\n  AC powered: {str(self.charging).lower()}\n"
                f"  level: {self.battery}\n  scale: 100\n  temperature: {round(self.temp_c * 10)}\n"
                f"{SECTION_MARK}thermal\nThermal Status: 0\n"
                f"{SECTION_MARK}zones\n/sys/class/thermal/thermal_zone0/type:battery\n"
                f"/sys/class/thermal/thermal_zone0/temp:{round(self.temp_c * 1000)}\n"
                f"{SECTION_MARK}cpufreq\n"
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq:1800000\n")

    def benchmark(self, script: str) -> ShellResult:
        threads = re.search(r"--num_threads=(\d+)", script)
        return ShellResult(benchmark_output(self.latency_ms(script),
                                            int(threads.group(1)) if threads else 1), "", 0)


def scripted_phone(state: PhoneState | None = None, transport: str = "scripted-1"
                   ) -> tuple[ScriptedDevice, PhoneState]:
    state = state or PhoneState()
    phone = ScriptedDevice(transport)
    phone.on(r"dumpsys battery", state.environment)
    phone.on(r"^timeout ", state.benchmark)
    return phone, state


def device_ref(device_id: int, serial: str = "SCRIPTED1") -> DeviceRef:
    return DeviceRef(device_id, serial, "adb", "arm64-v8a", f"scripted/{serial}:14/user",
                     {"cores": 8, "clusters": CLUSTERS}, {"abilist": ["arm64-v8a"]})


def device_record(serial: str = "SCRIPTED1") -> dict[str, object]:
    """The ``devices`` row of a scripted phone."""
    return {"serial": serial, "kind": "adb", "state": "device", "model": "Scripted 1",
            "abi": "arm64-v8a", "os": "Android 14 (SDK 34)",
            "fingerprint": f"scripted/{serial}:14/user",
            "cpu": {"cores": 8, "clusters": CLUSTERS}, "info": {"abilist": ["arm64-v8a"]}}


def phone_runners(phones: dict[str, ScriptedDevice], links: dict[str, ScriptedLink] | None = None,
                  clock: FakeClock | None = None) -> Callable[[DeviceRef], PhoneRunner]:
    """A runner factory (``execute_jobs(runners=...)``) that reaches each serial's scripted phone;
    ``links`` collects the links so a test can unplug a phone; the runners' waits pass on
    ``clock`` (a fresh one per runner unless given)."""
    links = {} if links is None else links

    def runner(device: DeviceRef) -> PhoneRunner:
        link = links.setdefault(device.serial, ScriptedLink(phones[device.serial], device.serial))
        paced = clock or FakeClock()
        return PhoneRunner(device, link, sleep=paced.sleep, clock=paced)

    return runner


@dataclass
class FakeClock:
    """Monotonic time that passes only when slept: a reconnect's waits cost the test nothing."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def register_phones(db: DbSession, settings: Settings, serials: Sequence[str], tool_dir: Path) -> None:
    """The rows a run on scripted phones needs: the built-in models, the phones, a tool."""
    register_builtin_models(db, settings)
    for serial in serials:
        upsert_device(db, device_record(serial))
    binary = tool_dir / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    register_tool(db, binary, abi="arm64-v8a", name="benchmark_model", tool_version="2.16")
