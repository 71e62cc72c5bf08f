"""Farm history for the dashboard tests, inserted through the ORM like the job runner stores it.

``Farm`` adds devices, models and runs with explicit values, so each test knows what the pages
must show without asking the code under test. A pool run's jobs name the phone that claimed them
("" for none yet) and may give each session's wall time, sessions of a phone back to back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session as DbSession

from orchestrator.repository import job_value
from orchestrator.schema import Device, Job, Model, Pool, Run, Session, Tool

EVIL = "<script>alert(1)</script>"


@dataclass(frozen=True)
class JobSpec:
    device: str  # a pool job: the phone that claimed it, "" for none yet
    model: str
    delegate: str
    threads: int
    values: Sequence[float]  # one session per value (inference_avg_ms)
    status: str = "done"
    error: tuple[str, str] | None = None
    coverage: str | None = None
    unsupported: Sequence[str] = ()
    temps: tuple[float, float] | None = (31.0, 34.0)
    thermal_status: int | None = None
    seconds: Sequence[float] = ()  # each session's wall time (default: none, started = finished)


class Farm:
    def __init__(self, db: DbSession) -> None:
        self.db = db
        self.devices: dict[str, Device] = {}
        self.models: dict[str, Model] = {}
        self.tool = Tool(name="benchmark_model", version="2.16.1", sha256="ab" * 32, abi="arm64-v8a")
        db.add(self.tool)

    def device(self, serial: str, **fields: Any) -> Device:
        device = Device(serial=serial, kind="adb", state=fields.pop("state", "device"),
                        manufacturer=fields.pop("manufacturer", "Google"),
                        model=fields.pop("model", f"Pixel {serial}"), soc="Tensor G2",
                        abi="arm64-v8a", os="Android 14 (SDK 34)",
                        fingerprint=f"google/{serial}/14/UQ1A:user/release-keys", cpu={},
                        info={}, last_seen=fields.pop("last_seen", datetime.now(UTC)), **fields)
        self.db.add(device)
        self.devices[serial] = device
        return device

    def model(self, name: str, size_bytes: int = 2_500_000, provenance: str = "official") -> Model:
        model = Model(name=name, sha256=hashlib.sha256(name.encode()).hexdigest(),
                      size_bytes=size_bytes, path=f"/models/{name}.tflite", provenance=provenance,
                      inputs=[], outputs=[], model_metadata={})
        self.db.add(model)
        self.models[name] = model
        return model

    def pool(self, pool_id: str, selector: str, members: Sequence[str]) -> Pool:
        pool = Pool(id=pool_id, selector=selector, members=list(members))
        self.db.add(pool)
        return pool

    def run(self, run_id: str, created_at: datetime, jobs: Sequence[JobSpec],
            trigger: str = "nightly", pool: Pool | None = None) -> Run:
        run = Run(id=run_id, status="done", trigger=trigger, created_at=created_at,
                  finished_at=created_at + timedelta(hours=1),
                  spec={"threads": [1, 4], "delegates": ["cpu", "gpu"], "repeats": 3})
        self.db.add(run)
        self.db.flush()
        clock: dict[str, datetime] = {}  # per phone: when its next session starts
        for seq, spec in enumerate(jobs):
            ok = [v for v in spec.values] if spec.status in ("done", "moved") else []
            job = Job(id=f"{run_id}-{seq}", run_id=run_id, seq=seq,
                      device_id=self.devices[spec.device].id if spec.device else None,
                      pool_id=pool.id if pool else None, model_id=self.models[spec.model].id,
                      tool_id=self.tool.id, delegate=spec.delegate, num_threads=spec.threads,
                      status=spec.status, attempts=1,
                      error_kind=spec.error[0] if spec.error else None,
                      error_message=spec.error[1] if spec.error else None,
                      value_ms=job_value(ok),
                      started_at=created_at, finished_at=created_at)
            self.db.add(job)
            self.db.flush()
            for index, value in enumerate(spec.values):
                session = self._session(job, index, value, spec, created_at)
                if spec.seconds:
                    session.started_at = clock.get(spec.device, created_at)
                    session.finished_at = session.started_at + timedelta(
                        seconds=spec.seconds[index])
                    clock[spec.device] = session.finished_at
                self.db.add(session)
        self.db.flush()
        return run

    def _session(self, job: Job, index: int, value: float, spec: JobSpec,
                 at: datetime) -> Session:
        failed = spec.status == "failed"
        detail = None
        if spec.delegate != "cpu" and not failed:
            detail = {"name": spec.delegate, "coverage": spec.coverage,
                      "unsupported_ops": list(spec.unsupported)}
        before, after = spec.temps or (None, None)
        env: dict[str, Any] = {"temp_before_c": before, "temp_after_c": after}
        if spec.thermal_status is not None:
            env["thermal_status"] = spec.thermal_status
        model = self.models[spec.model]
        return Session(
            job_id=job.id, repeat_index=index, status="failed" if failed else "ok",
            started_at=at, finished_at=at,
            init_ms=None if failed else value * 3, first_inference_ms=None if failed else value * 2,
            inference_avg_ms=None if failed else value, memory_peak_mb=None if failed else 40.0,
            num_threads=spec.threads, delegate_name=spec.delegate if detail else None,
            delegate_coverage=spec.coverage if detail else None, delegate_detail=detail,
            error_kind=spec.error[0] if failed and spec.error else None,
            error_message=spec.error[1] if failed and spec.error else None, ops=[],
            model_sha256=model.sha256, tool_name=self.tool.name, tool_version=self.tool.version,
            tool_sha256=self.tool.sha256,
            device_fingerprint=self.devices[spec.device].fingerprint,
            command=["benchmark_model", f"--graph={model.path}"], exit_code=1 if failed else 0,
            raw_output="", temp_before_c=before, temp_after_c=after, environment=env)


def nightly(farm: Farm, nights: int, *, start: datetime, devices: Sequence[str],
            models: Sequence[str], step_night: int | None = None) -> list[Run]:
    """``nights`` nightly runs: cpu x1 / x4 and gpu per device x model; values depend on the night
    so that trends are visible (a 30 % slowdown from ``step_night`` on)."""
    runs = []
    for night in range(nights):
        factor = 1.3 if step_night is not None and night >= step_night else 1.0
        jobs = []
        for d, device in enumerate(devices):
            for m, model in enumerate(models):
                base = (10.0 + 5 * m + 2 * d) * factor + (night % 3) * 0.1
                jobs += [
                    JobSpec(device, model, "cpu", 1, [base, base * 1.02, base * 0.98]),
                    JobSpec(device, model, "cpu", 4, [base / 3, base / 3 * 1.05]),
                    JobSpec(device, model, "gpu", 4, [base / 5, base / 5 * 1.01],
                            coverage="partial" if m == 0 else "full",
                            unsupported=("CUSTOM_OP_X", "RESIZE_BILINEAR") if m == 0 else (),
                            temps=(36.0, 47.5 if night == nights - 1 else 38.0)),
                ]
        runs.append(farm.run(f"n{night:04d}", start + timedelta(days=night), jobs))
    return runs
