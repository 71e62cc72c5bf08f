"""Bring hand-run benchmark history into the farm: ``farm import-log``.

Every invocation found in the files becomes an *imported* session (with its own raw text) of a run
whose trigger is ``import``; invocations are grouped into jobs by config (delegate x threads), so
imported history appears in results and reports like any run. A device name the farm does not know
is recorded as an ``imported`` device (never scheduled); the model is a registered name or a
``.tflite`` path (registered on the way). Thread count 0 means "the log did not say".
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import ParseError, PlanError
from orchestrator.planning import job_key, new_run_id
from orchestrator.schema import Device, Job, Model, Run, Session, utcnow
from orchestrator.storage import register_model

__all__ = ["ImportResult", "import_logs"]

IMPORTED_TOOL = "benchmark_model (imported)"
_DELEGATES = {"XNNPACK": "xnnpack", "GPU": "gpu", "NNAPI": "nnapi"}


@dataclass(frozen=True)
class ImportResult:
    run_id: str
    sessions: int
    jobs: int
    failed_sessions: int


def _device(db: DbSession, name: str) -> Device:
    device = db.scalars(select(Device).where(Device.serial == name)).one_or_none()
    if device is None:
        device = Device(serial=name, kind="imported", state="imported",
                        info={"source": "farm import-log"})
        db.add(device)
        db.flush()
    return device


def _model(db: DbSession, name_or_path: str) -> Model:
    model = db.scalars(select(Model).where(Model.name == name_or_path)).one_or_none()
    if model is not None:
        return model
    if Path(name_or_path).is_file():
        return register_model(db, name_or_path, provenance="user")
    raise PlanError(f"unknown model {name_or_path!r}",
                    hint="give a registered model name (`farm runs show`) or the .tflite file's path")


def _has_evidence(session_values: dict[str, object]) -> bool:
    return any(v is not None for k, v in session_values.items()
               if k not in ("status", "ops", "delegate_detail")) or bool(session_values["ops"])


def import_logs(db: DbSession, logs: list[tuple[str, str]], *, device: str,
                model: str) -> ImportResult:
    """Store every invocation in ``logs`` ([(file name, text)]); raise if a file holds none."""
    from workers.service import session_from_parsed
    from workers.tools.benchmark_output import parse_invocations

    found: list[tuple[str, str, dict[str, object]]] = []
    for name, text in logs:
        usable = [(inv.text, session_from_parsed(inv.run)) for inv in parse_invocations(text)]
        usable = [(raw, values) for raw, values in usable if _has_evidence(values)]
        if not usable:
            raise ParseError(f"{name}: no benchmark_model output found",
                             hint="import the text benchmark_model printed (stdout or logcat)")
        found.extend((name, raw, values) for raw, values in usable)

    device_row, model_row = _device(db, device), _model(db, model)
    run = Run(id=new_run_id(), status="done", trigger="import", finished_at=utcnow(),
              spec={"files": [name for name, _ in logs], "device": device, "model": model_row.name})
    db.add(run)
    by_config: dict[tuple[str, int], list[tuple[str, str, dict[str, object]]]] = defaultdict(list)
    for name, raw, values in found:
        delegate = str(values["delegate_name"] or "")
        key = (_DELEGATES.get(delegate.upper(), delegate.lower() or "cpu"),
               int(values["num_threads"] or 0))  # type: ignore[call-overload]
        by_config[key].append((name, raw, values))

    failed = 0
    for seq, ((delegate, threads), items) in enumerate(sorted(by_config.items())):
        job = Job(id=job_key(run.id, device, model_row.sha256, delegate, threads), run_id=run.id,
                  seq=seq, device_id=device_row.id, model_id=model_row.id, delegate=delegate,
                  num_threads=threads, spec=None,
                  attempts=0, finished_at=utcnow())
        db.add(job)
        for index, (name, raw, values) in enumerate(items):
            failed += values["status"] != "ok"
            db.add(Session(job_id=job.id, repeat_index=index, imported=True, raw_output=raw,
                           command=[], model_sha256=model_row.sha256, tool_name=IMPORTED_TOOL,
                           device_fingerprint=device_row.fingerprint,
                           environment={"imported_from": [name]}, **values))
        ok = [float(v["inference_avg_ms"]) for _, _, v in items  # type: ignore[arg-type]
              if v["status"] == "ok" and v["inference_avg_ms"] is not None]
        job.value_ms = statistics.median(ok) if ok else None
        errors = [v for _, _, v in items if v["status"] != "ok"]
        job.status = "done" if ok else "failed"
        if not ok and errors:
            job.error_kind = str(errors[0]["error_kind"] or "unknown")
            job.error_message = str(errors[0]["error_message"] or "the imported run did not finish")
    db.flush()
    return ImportResult(run.id, len(found), len(by_config), failed)
