"""Read-side queries shared by ``farm runs``, ``farm results`` and the reports.

Aggregation happens in SQL (one grouped query over sessions), so a run's table costs one round trip
whatever its number of sessions. Results come back as plain rows (``ResultRow``) and runs as
``RunSummary``; the CLI and the reports format them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import NotFound
from orchestrator.schema import Device, Job, Model, Run, Session

__all__ = ["ResultRow", "RunSummary", "get_run", "list_runs", "run_results", "run_sessions"]


@dataclass(frozen=True)
class RunSummary:
    id: str
    status: str
    trigger: str
    created_at: datetime
    finished_at: datetime | None
    jobs: int
    done: int
    failed: int
    skipped: int
    spec: dict[str, Any]


@dataclass(frozen=True)
class ResultRow:
    """One job of a run with its session statistics (times in ms, sizes in MB)."""

    job_id: str
    device: str
    device_model: str | None
    model: str
    provenance: str
    model_sha256: str
    size_mb: float
    delegate: str
    threads: int
    status: str
    value_ms: float | None
    sessions: int
    min_ms: float | None
    max_ms: float | None
    init_ms: float | None
    first_inference_ms: float | None
    memory_peak_mb: float | None
    delegate_coverage: str | None
    error_kind: str | None
    error_message: str | None

    @property
    def config(self) -> str:
        return f"{self.delegate} x{self.threads}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _count(status: str) -> Any:
    return func.sum(case((Job.status == status, 1), else_=0))


def list_runs(db: DbSession, limit: int = 50) -> list[RunSummary]:
    query = (
        select(Run, func.count(Job.id), _count("done"), _count("failed"), _count("skipped"))
        .outerjoin(Job, Job.run_id == Run.id)
        .group_by(Run.id)
        .order_by(Run.created_at.desc())
        .limit(limit)
    )
    return [
        RunSummary(run.id, run.status, run.trigger, run.created_at, run.finished_at,
                   total, done or 0, failed or 0, skipped or 0, run.spec)
        for run, total, done, failed, skipped in db.execute(query)
    ]


def get_run(db: DbSession, run_id: str) -> RunSummary:
    matches = [r for r in list_runs(db, limit=10_000) if r.id == run_id or r.id.startswith(run_id)]
    if not matches:
        raise NotFound(f"no run {run_id!r}", hint="see `farm runs list` for run ids")
    if len(matches) > 1:
        raise NotFound(f"run id prefix {run_id!r} is ambiguous",
                       hint=f"give more characters: {', '.join(m.id for m in matches[:5])}")
    return matches[0]


def run_results(db: DbSession, run_id: str) -> list[ResultRow]:
    ok = Session.status == "ok"
    stats = (
        select(
            Session.job_id.label("job_id"),
            func.count(case((ok, 1))).label("n"),
            func.min(case((ok, Session.inference_avg_ms))).label("min_ms"),
            func.max(case((ok, Session.inference_avg_ms))).label("max_ms"),
            func.avg(case((ok, Session.init_ms))).label("init_ms"),
            func.avg(case((ok, Session.first_inference_ms))).label("first_ms"),
            func.max(case((ok, Session.memory_peak_mb))).label("peak_mb"),
            func.max(Session.delegate_coverage).label("coverage"),
        )
        .join(Job, Job.id == Session.job_id)
        .where(Job.run_id == run_id)
        .group_by(Session.job_id)
        .subquery()
    )
    query = (
        select(Job, Device.serial, Device.model, Model, stats)
        .join(Device, Device.id == Job.device_id)
        .join(Model, Model.id == Job.model_id)
        .outerjoin(stats, stats.c.job_id == Job.id)
        .where(Job.run_id == run_id)
        .order_by(Job.seq)
    )
    rows = []
    for job, serial, device_model, model, *s in db.execute(query):
        _, n, min_ms, max_ms, init_ms, first_ms, peak_mb, coverage = s
        rows.append(ResultRow(
            job_id=job.id, device=serial, device_model=device_model, model=model.name,
            provenance=model.provenance, model_sha256=model.sha256,
            size_mb=model.size_bytes / 1e6, delegate=job.delegate, threads=job.num_threads,
            status=job.status, value_ms=job.value_ms, sessions=n or 0, min_ms=min_ms,
            max_ms=max_ms, init_ms=init_ms, first_inference_ms=first_ms, memory_peak_mb=peak_mb,
            delegate_coverage=coverage, error_kind=job.error_kind, error_message=job.error_message,
        ))
    return rows


def run_sessions(db: DbSession, run_id: str) -> list[dict[str, Any]]:
    """Every session value of a run (for spread plots): job id, repeat, status, inference_avg_ms."""
    query = (
        select(Session.job_id, Session.repeat_index, Session.status, Session.inference_avg_ms)
        .join(Job, Job.id == Session.job_id)
        .where(Job.run_id == run_id)
        .order_by(Session.job_id, Session.repeat_index)
    )
    return [dict(row._mapping) for row in db.execute(query)]
