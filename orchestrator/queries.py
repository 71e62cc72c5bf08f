"""Read-side queries shared by ``farm runs``, ``farm results``, the reports and the dashboard.

Aggregation happens in SQL: a results table is one grouped query over sessions, a history is one
grouped query over jobs with long spans folded into buckets of nights, so what comes back to Python
is bounded by the number of series and points a page shows, never by the number of sessions.
Results come back as plain frozen rows; the CLI and the dashboards format them.

Vocabulary: a *series* is device x model x delegate x threads; a *night* is the creation day of a
run with ``trigger == "nightly"``, and a series' nightly value is its job's ``value_ms`` (the median
of that job's sessions).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, distinct, func, select, true
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import NotFound
from orchestrator.schema import Device, Job, Model, Pool, Run, Session

__all__ = [
    "NO_PHONE",
    "DeviceHealth",
    "HistoryPoint",
    "ModelSummary",
    "PoolPhone",
    "ResultRow",
    "RunPool",
    "RunProvenance",
    "RunSummary",
    "SessionRow",
    "TemperaturePoint",
    "fleet",
    "get_run",
    "latest_results",
    "list_models",
    "list_runs",
    "model_names",
    "nightly_history",
    "run_pools",
    "run_provenance",
    "run_results",
    "run_sessions",
    "temperature_history",
    "unsupported_ops",
]

#: what a result row says for its device while its pool job waits for a phone to claim it
NO_PHONE = "(no phone yet)"


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
    #: the pool the job was planned in (what --devices said), None for an --each job
    pool: str | None = None

    @property
    def config(self) -> str:
        return f"{self.delegate} x{self.threads}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SessionRow:
    """One session of a run, as the report's environment and failure sections need it."""

    job_id: str
    device: str
    model: str
    delegate: str
    threads: int
    repeat_index: int
    status: str
    inference_avg_ms: float | None
    temp_before_c: float | None
    temp_after_c: float | None
    thermal_status: int | None
    started_at: datetime | None
    error_kind: str | None
    error_message: str | None
    #: the pool the job was planned in (what --devices said), None for an --each job
    pool: str | None = None

    @property
    def config(self) -> str:
        return f"{self.delegate} x{self.threads}"


@dataclass(frozen=True)
class ModelProvenance:
    name: str
    provenance: str
    catalog_name: str | None
    sha256: str  # as measured by the sessions (the model row may have moved on since)
    size_mb: float
    sessions: int


@dataclass(frozen=True)
class ToolProvenance:
    name: str | None
    version: str | None
    sha256: str | None
    sessions: int


@dataclass(frozen=True)
class DeviceProvenance:
    serial: str
    description: str
    fingerprint: str | None  # as recorded by the sessions
    sessions: int


@dataclass(frozen=True)
class RunProvenance:
    models: list[ModelProvenance] = field(default_factory=list)
    tools: list[ToolProvenance] = field(default_factory=list)
    devices: list[DeviceProvenance] = field(default_factory=list)


@dataclass(frozen=True)
class PoolPhone:
    """One phone's part of a pool's work in a run."""

    serial: str
    jobs: int  # the pool jobs it claimed, moved ones included
    moved: int  # of them, the ones that moved on when it was lost
    sessions: int  # their sessions on it, of any status
    busy_s: float  # the sum of those sessions' wall times (started_at .. finished_at)


@dataclass(frozen=True)
class RunPool:
    """A pool a run's jobs were planned in, with each phone's share of them."""

    id: str
    selector: str  # what --devices said
    members: tuple[str, ...]  # serials
    phones: list[PoolPhone]  # every member (in ``members`` order), then any other that ran a job
    waiting: int  # jobs no phone has claimed yet

    @property
    def busy_s(self) -> float:
        return sum(p.busy_s for p in self.phones)

    def share_pct(self, phone: PoolPhone) -> float | None:
        """The phone's share of the pool's work, by busy time (None before any session ran)."""
        total = self.busy_s
        return 100 * phone.busy_s / total if total > 0 else None


@dataclass(frozen=True)
class DeviceHealth:
    """A device row with its recent activity (jobs and sessions of runs created since ``since``)."""

    serial: str
    kind: str
    state: str
    manufacturer: str | None
    model: str | None
    soc: str | None
    abi: str | None
    os: str | None
    fingerprint: str | None
    ram_mb: int | None
    gpu: str | None
    host: str | None
    first_seen: datetime
    last_seen: datetime
    jobs: int
    failed: int
    sessions: int
    hot_sessions: int
    max_temp_c: float | None
    last_run_at: datetime | None

    @property
    def description(self) -> str:
        return " ".join(p for p in (self.manufacturer, self.model) if p) or self.serial


@dataclass(frozen=True)
class ModelSummary:
    name: str
    provenance: str
    catalog_name: str | None
    sha256: str
    size_mb: float
    devices: int
    jobs: int
    last_run_at: datetime | None


@dataclass(frozen=True)
class HistoryPoint:
    """A series over one bucket of nights: the mean, lowest and highest nightly value in it."""

    device: str
    model: str
    delegate: str
    threads: int
    night: datetime  # the first night of the bucket
    value_ms: float
    low_ms: float
    high_ms: float
    nights: int

    @property
    def config(self) -> str:
        return f"{self.delegate} x{self.threads}"


@dataclass(frozen=True)
class TemperaturePoint:
    day: datetime  # the first day of the bucket
    before_c: float | None  # mean
    after_c: float | None  # mean
    after_max_c: float | None
    sessions: int
    hot: int


def _count(status: str) -> Any:
    return func.sum(case((Job.status == status, 1), else_=0))


def list_runs(db: DbSession, limit: int = 50, id_prefix: str | None = None) -> list[RunSummary]:
    """The newest ``limit`` runs with their job counts (only their jobs are counted)."""
    query = select(Run).order_by(Run.created_at.desc()).limit(limit)
    if id_prefix is not None:
        query = query.where(Run.id.startswith(id_prefix, autoescape=True))
    runs = list(db.scalars(query))
    counts: dict[str, tuple[int, int, int, int]] = {}
    # Chunks keep the IN list under every driver's bound-parameter limit.
    for start in range(0, len(runs), 500):
        counted = (
            select(Job.run_id, func.count(Job.id), _count("done"), _count("failed"),
                   _count("skipped"))
            .where(Job.run_id.in_([r.id for r in runs[start:start + 500]]))
            .group_by(Job.run_id)
        )
        for run_id, *numbers in db.execute(counted):
            total, done, failed, skipped = (n or 0 for n in numbers)
            counts[run_id] = (total, done, failed, skipped)
    return [RunSummary(run.id, run.status, run.trigger, run.created_at, run.finished_at,
                       *counts.get(run.id, (0, 0, 0, 0)), run.spec) for run in runs]


def get_run(db: DbSession, run_id: str) -> RunSummary:
    matches = list_runs(db, limit=6, id_prefix=run_id)
    exact = [m for m in matches if m.id == run_id]
    if exact:
        return exact[0]
    if not matches:
        raise NotFound(f"no run {run_id!r}", hint="see `farm runs list` for run ids")
    if len(matches) > 1:
        raise NotFound(f"run id prefix {run_id!r} is ambiguous",
                       hint=f"give more characters: {', '.join(m.id for m in matches[:5])}")
    return matches[0]


# The worst verdict of a job's sessions wins: none > partial > full.
_COVERAGE_RANK = case((Session.delegate_coverage == "none", 3),
                      (Session.delegate_coverage == "partial", 2),
                      (Session.delegate_coverage == "full", 1))
_COVERAGE_NAMES = {3: "none", 2: "partial", 1: "full"}


def _result_rows(db: DbSession, jobs: ColumnElement[bool]) -> list[ResultRow]:
    """Result rows for the jobs matching ``jobs``, session statistics grouped in SQL."""
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
            func.max(_COVERAGE_RANK).label("coverage"),
        )
        .join(Job, Job.id == Session.job_id)
        .where(jobs)
        .group_by(Session.job_id)
        .subquery()
    )
    # Columns, not entities: a page needs a few fields of each job and model, and loading the
    # whole rows would decode every job's spec and every model's metadata JSON.
    query = (
        select(Job.id, Device.serial, Device.model, Model.name, Model.provenance, Model.sha256,
               Model.size_bytes, Job.delegate, Job.num_threads, Job.status, Job.value_ms,
               Job.error_kind, Job.error_message, Pool.selector, stats)
        .select_from(Job)
        .outerjoin(Device, Device.id == Job.device_id)  # a pool job no phone claimed has none
        .outerjoin(Pool, Pool.id == Job.pool_id)
        .join(Model, Model.id == Job.model_id)
        .outerjoin(stats, stats.c.job_id == Job.id)
        .where(jobs)
        .order_by(Job.run_id, Job.seq)
    )
    rows = []
    for (job_id, serial, device_model, name, provenance, sha256, size_bytes, delegate, threads,
         status, value_ms, error_kind, error_message, pool, *s) in db.execute(query):
        _, n, min_ms, max_ms, init_ms, first_ms, peak_mb, coverage = s
        rows.append(ResultRow(
            job_id=job_id, device=serial or NO_PHONE, device_model=device_model, model=name,
            provenance=provenance, model_sha256=sha256, size_mb=size_bytes / 1e6,
            delegate=delegate, threads=threads, status=status, value_ms=value_ms,
            sessions=n or 0, min_ms=min_ms, max_ms=max_ms, init_ms=init_ms,
            first_inference_ms=first_ms, memory_peak_mb=peak_mb,
            delegate_coverage=_COVERAGE_NAMES.get(coverage or 0),
            error_kind=error_kind, error_message=error_message, pool=pool,
        ))
    return rows


def run_results(db: DbSession, run_id: str) -> list[ResultRow]:
    return _result_rows(db, Job.run_id == run_id)


def latest_results(db: DbSession, *, device: str | None = None,
                   model: str | None = None) -> list[ResultRow]:
    """The newest finished (done / failed / skipped) job of every series, optionally of one device
    or one model: what a drilldown page shows as "the current numbers".

    The ranking is a CTE: ``_result_rows`` refers to the chosen jobs twice (their sessions'
    statistics, the jobs themselves) and both engines then rank once instead of twice."""
    rank = func.row_number().over(
        partition_by=(Job.device_id, Job.model_id, Job.delegate, Job.num_threads),
        order_by=(Run.created_at.desc(), Job.seq.desc()),
    ).label("rank")
    ranked = (
        select(Job.id.label("id"), rank)
        .join(Run, Run.id == Job.run_id)
        .join(Device, Device.id == Job.device_id)
        .join(Model, Model.id == Job.model_id)
        .where(Job.status.in_(("done", "failed", "skipped")),
               Device.serial == device if device is not None else true(),
               Model.name == model if model is not None else true())
        .cte("ranked")
    )
    latest = select(ranked.c.id).where(ranked.c.rank == 1)
    return _result_rows(db, Job.id.in_(latest))


def _thermal_status(environment: dict[str, Any] | None) -> int | None:
    """Android's thermal status (0 none .. 6 shutdown), wherever the runner recorded it."""
    env = environment or {}
    for source in (env, env.get("after") or {}, env.get("before") or {}):
        value = source.get("thermal_status") if isinstance(source, dict) else None
        if isinstance(value, int | float):
            return int(value)
    return None


def run_sessions(db: DbSession, run_id: str) -> list[SessionRow]:
    """Every session of a run, in planning order (a run's sessions are bounded by its plan)."""
    query = (
        select(Session.job_id, Device.serial, Model.name, Job.delegate, Job.num_threads,
               Session.repeat_index, Session.status, Session.inference_avg_ms,
               Session.temp_before_c, Session.temp_after_c, Session.environment,
               Session.started_at, Session.error_kind, Session.error_message)
        .join(Job, Job.id == Session.job_id)
        .join(Device, Device.id == Job.device_id)
        .join(Model, Model.id == Job.model_id)
        .where(Job.run_id == run_id)
        .order_by(Job.seq, Session.repeat_index)
    )
    return [
        SessionRow(job_id, serial, model, delegate, threads, repeat, status, avg, before, after,
                   _thermal_status(env), started, kind, message)
        for (job_id, serial, model, delegate, threads, repeat, status, avg, before, after, env,
             started, kind, message) in db.execute(query)
    ]


def _seconds(start: datetime | None, end: datetime | None) -> float:
    """A session's wall time; SQLite hands back naive datetimes (UTC), PostgreSQL aware ones."""
    if start is None or end is None:
        return 0.0
    start, end = (m.replace(tzinfo=UTC) if m.tzinfo is None else m for m in (start, end))
    return max(0.0, (end - start).total_seconds())


def run_pools(db: DbSession, run_id: str) -> list[RunPool]:
    """The pools of a run's jobs (none for an --each run) and what each phone did of their work.

    Jobs are counted in SQL; busy time is summed over the run's pool sessions in Python (date
    arithmetic differs between the engines, and a run's sessions are bounded by its plan)."""
    in_run = and_(Job.run_id == run_id, Job.pool_id.is_not(None))
    pools = list(db.scalars(select(Pool).where(Pool.id.in_(
        select(Job.pool_id).where(in_run).distinct())).order_by(Pool.selector, Pool.id)))
    if not pools:
        return []
    Key = tuple[str, str]  # pool id, serial
    jobs: dict[Key, int] = defaultdict(int)
    moved: dict[Key, int] = defaultdict(int)
    waiting: dict[str, int] = defaultdict(int)
    counted = (
        select(Pool.id, Device.serial, Job.status, func.count(Job.id))
        .join(Pool, Pool.id == Job.pool_id).outerjoin(Device, Device.id == Job.device_id)
        .where(in_run).group_by(Pool.id, Device.serial, Job.status)
    )
    for pool_id, serial, status, n in db.execute(counted):
        if serial is None:
            waiting[pool_id] += n if status in ("pending", "running") else 0
        else:
            jobs[pool_id, serial] += n
            moved[pool_id, serial] += n if status == "moved" else 0
    sessions: dict[Key, int] = defaultdict(int)
    busy: dict[Key, float] = defaultdict(float)
    timed = (
        select(Pool.id, Device.serial, Session.started_at, Session.finished_at)
        .join(Job, Job.id == Session.job_id).join(Pool, Pool.id == Job.pool_id)
        .join(Device, Device.id == Job.device_id).where(in_run)
    )
    for pool_id, serial, started, finished in db.execute(timed):
        sessions[pool_id, serial] += 1
        busy[pool_id, serial] += _seconds(started, finished)
    result = []
    for pool in pools:
        members = tuple(str(m) for m in pool.members or ())
        others = sorted({s for p, s in (*jobs, *sessions) if p == pool.id} - set(members))
        phones = [PoolPhone(serial, jobs[pool.id, serial], moved[pool.id, serial],
                            sessions[pool.id, serial], busy[pool.id, serial])
                  for serial in (*members, *others)]
        result.append(RunPool(pool.id, pool.selector, members, phones, waiting[pool.id]))
    return result


def unsupported_ops(db: DbSession, job_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The ops a delegate refused, per job (only jobs with partial or no delegate coverage)."""
    ids = list(job_ids)
    found: dict[str, set[str]] = defaultdict(set)
    # Chunks keep the IN list under every driver's bound-parameter limit.
    for start in range(0, len(ids), 500):
        query = select(Session.job_id, Session.delegate_detail).where(
            Session.job_id.in_(ids[start:start + 500]),
            Session.delegate_coverage.in_(("partial", "none")))
        for job_id, detail in db.execute(query):
            ops = (detail or {}).get("unsupported_ops") or []
            found[job_id].update(str(op) for op in ops)
    return {job_id: tuple(sorted(ops)) for job_id, ops in found.items()}


def run_provenance(db: DbSession, run_id: str) -> RunProvenance:
    """Models, tools and device fingerprints a run's sessions actually used (grouped in SQL)."""
    in_run = Job.run_id == run_id
    models = select(Model.name, Model.provenance, Model.catalog_name,
                    func.coalesce(Session.model_sha256, Model.sha256), Model.size_bytes,
                    func.count(Session.id)) \
        .select_from(Job).join(Model, Model.id == Job.model_id) \
        .outerjoin(Session, Session.job_id == Job.id).where(in_run) \
        .group_by(Model.name, Model.provenance, Model.catalog_name,
                  func.coalesce(Session.model_sha256, Model.sha256), Model.size_bytes) \
        .order_by(Model.name)
    tools = select(Session.tool_name, Session.tool_version, Session.tool_sha256,
                   func.count(Session.id)) \
        .join(Job, Job.id == Session.job_id).where(in_run) \
        .group_by(Session.tool_name, Session.tool_version, Session.tool_sha256) \
        .order_by(Session.tool_name, Session.tool_version)
    devices = select(Device.serial, Device.manufacturer, Device.model,
                     func.coalesce(Session.device_fingerprint, Device.fingerprint),
                     func.count(Session.id)) \
        .select_from(Job).join(Device, Device.id == Job.device_id) \
        .outerjoin(Session, Session.job_id == Job.id).where(in_run) \
        .group_by(Device.serial, Device.manufacturer, Device.model,
                  func.coalesce(Session.device_fingerprint, Device.fingerprint)) \
        .order_by(Device.serial)
    return RunProvenance(
        models=[ModelProvenance(n, p, c, sha, size / 1e6, k) for n, p, c, sha, size, k
                in db.execute(models)],
        tools=[ToolProvenance(n, v, sha, k) for n, v, sha, k in db.execute(tools)],
        devices=[DeviceProvenance(serial, " ".join(x for x in (maker, model) if x) or serial,
                                  fp, k) for serial, maker, model, fp, k in db.execute(devices)],
    )


def fleet(db: DbSession, since: datetime, hot_c: float) -> list[DeviceHealth]:
    """Every device with its activity in runs created since ``since`` (sessions at or above
    ``hot_c`` after the run count as hot)."""
    # Jobs are reached through the recent runs (the run_id index), not by testing every job's
    # run: the work is bounded by the window, not by the history.
    recent = Job.run_id.in_(select(Run.id).where(Run.created_at >= since))
    jobs = (
        select(Job.device_id.label("device_id"), func.count(Job.id).label("jobs"),
               func.sum(case((Job.status == "failed", 1), else_=0)).label("failed"),
               func.max(Run.created_at).label("last_run_at"))
        .join(Run, Run.id == Job.run_id).where(recent).group_by(Job.device_id).subquery()
    )
    sessions = (
        select(Job.device_id.label("device_id"), func.count(Session.id).label("sessions"),
               func.sum(case((Session.temp_after_c >= hot_c, 1), else_=0)).label("hot"),
               func.max(Session.temp_after_c).label("max_temp"))
        .join(Job, Job.id == Session.job_id)
        .where(recent).group_by(Job.device_id).subquery()
    )
    query = (
        select(Device, jobs.c.jobs, jobs.c.failed, jobs.c.last_run_at, sessions.c.sessions,
               sessions.c.hot, sessions.c.max_temp)
        .outerjoin(jobs, jobs.c.device_id == Device.id)
        .outerjoin(sessions, sessions.c.device_id == Device.id)
        .order_by(Device.serial)
    )
    return [
        DeviceHealth(d.serial, d.kind, d.state, d.manufacturer, d.model, d.soc, d.abi, d.os,
                     d.fingerprint, d.ram_mb, d.gpu, d.host, d.first_seen, d.last_seen,
                     n_jobs or 0, failed or 0, n_sessions or 0, hot or 0, max_temp, last_run)
        for d, n_jobs, failed, last_run, n_sessions, hot, max_temp in db.execute(query)
    ]


def model_names(db: DbSession) -> list[str]:
    """Every registered model's name, in order (no counting: what a page map needs)."""
    return list(db.scalars(select(Model.name).order_by(Model.name)))


def list_models(db: DbSession, name: str | None = None) -> list[ModelSummary]:
    """Every model (or the one called ``name``) with the devices and jobs that ran it."""
    query = (
        select(Model, func.count(distinct(Job.device_id)), func.count(Job.id),
               func.max(Run.created_at))
        .outerjoin(Job, Job.model_id == Model.id)
        .outerjoin(Run, Run.id == Job.run_id)
        .where(Model.name == name if name is not None else true())
        .group_by(Model.id)
        .order_by(Model.name)
    )
    return [ModelSummary(m.name, m.provenance, m.catalog_name, m.sha256, m.size_bytes / 1e6,
                         devices, jobs, last) for m, devices, jobs, last in db.execute(query)]


def _epoch_days(db: DbSession, column: Any) -> Any:
    if db.get_bind().dialect.name == "sqlite":
        return func.julianday(column)
    return func.extract("epoch", column) / 86400.0


def _bucket(db: DbSession, column: Any, width_days: int) -> Any:
    days = _epoch_days(db, column) / width_days
    # Day numbers are positive, so SQLite's truncating cast is a floor; PostgreSQL's cast rounds.
    if db.get_bind().dialect.name == "sqlite":
        return cast(days, Integer)
    return func.floor(days)


def _width(first: datetime | None, last: datetime | None, buckets: int) -> int:
    """Whole days per bucket so that the span fits in ``buckets`` buckets."""
    if first is None or last is None:
        return 1
    span = (last - first).total_seconds() / 86400 + 1
    # Buckets are aligned to whole multiples of the width, so the span can touch one more.
    return max(1, math.ceil(span / max(1, buckets - 1)))


def nightly_history(db: DbSession, *, device: str | None = None, model: str | None = None,
                    max_points: int = 4000) -> list[HistoryPoint]:
    """Nightly values of every series (of one device / model), folded into buckets of whole
    nights so that the result has at most about ``max_points`` points."""
    where = and_(
        Run.trigger == "nightly", Job.status == "done", Job.value_ms.is_not(None),
        Device.serial == device if device is not None else true(),
        Model.name == model if model is not None else true(),
    )

    def scoped(query: Any) -> Any:
        return (query.select_from(Job).join(Run, Run.id == Job.run_id)
                .join(Device, Device.id == Job.device_id).join(Model, Model.id == Job.model_id)
                .where(where))

    series_key = (Device.serial, Model.name, Job.delegate, Job.num_threads)
    # One pass for the number of series and the span of nights (the bucket width needs both).
    spans = scoped(select(*series_key, func.min(Run.created_at).label("first"),
                          func.max(Run.created_at).label("last"))).group_by(*series_key).subquery()
    n_series, first, last = db.execute(
        select(func.count(), func.min(spans.c.first), func.max(spans.c.last))).one()
    if not n_series:
        return []
    bucket = _bucket(db, Run.created_at, _width(first, last, max_points // n_series)
                     ).label("bucket")
    query = (
        scoped(select(*series_key, bucket, func.min(Run.created_at), func.avg(Job.value_ms),
                      func.min(Job.value_ms), func.max(Job.value_ms),
                      func.count(distinct(Run.id))))
        .group_by(*series_key, bucket)
        .order_by(*series_key, bucket)
    )
    return [HistoryPoint(serial, name, delegate, threads, night, avg, low, high, nights)
            for serial, name, delegate, threads, _, night, avg, low, high, nights
            in db.execute(query)]


def _day_number(db: DbSession, moment: datetime) -> float:
    """``_epoch_days`` of a value read back: SQLite's Julian day (from whole milliseconds, as
    its ``julianday`` counts), PostgreSQL's days since the Unix epoch."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if db.get_bind().dialect.name == "sqlite":
        return (round(aware.timestamp() * 1000) + 210_866_760_000_000) / 86_400_000.0
    return aware.timestamp() / 86400.0


def temperature_history(db: DbSession, device: str, *, hot_c: float,
                        max_points: int = 400) -> list[TemperaturePoint]:
    """A device's session temperatures per day (by run creation), in at most ``max_points``
    buckets of whole days.

    The sessions are read once, grouped per run in SQL (sums and counts, so means stay exact);
    the per-run rows, bounded by the number of runs, are then folded into the buckets, whose
    width needs the span of days that the same pass yields."""
    ok_before = case((Session.temp_before_c.is_not(None), 1), else_=0)
    ok_after = case((Session.temp_after_c.is_not(None), 1), else_=0)
    # Grouped by the job's run id first, the run's date joined to the groups afterwards: one
    # lookup per run instead of one per session.
    sums = (
        select(Job.run_id.label("run_id"), func.sum(Session.temp_before_c).label("before"),
               func.sum(ok_before).label("n_before"), func.sum(Session.temp_after_c).label("after"),
               func.sum(ok_after).label("n_after"), func.max(Session.temp_after_c).label("top"),
               func.count(Session.id).label("n"),
               func.sum(case((Session.temp_after_c >= hot_c, 1), else_=0)).label("hot"))
        .select_from(Session).join(Job, Job.id == Session.job_id)
        .join(Device, Device.id == Job.device_id)
        .where(Device.serial == device)
        .group_by(Job.run_id)
        .subquery()
    )
    per_run = select(Run.created_at, sums.c.before, sums.c.n_before, sums.c.after,
                     sums.c.n_after, sums.c.top, sums.c.n, sums.c.hot
                     ).join(Run, Run.id == sums.c.run_id)
    runs = sorted(db.execute(per_run).all(), key=lambda r: r[0])
    if not runs:
        return []
    width = _width(runs[0][0], runs[-1][0], max_points)
    buckets: dict[int, list[Any]] = {}
    for day, before, n_before, after, n_after, after_max, n, hot in runs:
        key = math.floor(_day_number(db, day) / width)
        b = buckets.setdefault(key, [day, 0.0, 0, 0.0, 0, None, 0, 0])
        b[1] += before or 0.0
        b[2] += n_before or 0
        b[3] += after or 0.0
        b[4] += n_after or 0
        if after_max is not None and (b[5] is None or after_max > b[5]):
            b[5] = after_max
        b[6] += n
        b[7] += hot or 0
    return [TemperaturePoint(day, before / n_before if n_before else None,
                             after / n_after if n_after else None, after_max, n, hot)
            for day, before, n_before, after, n_after, after_max, n, hot
            in (buckets[key] for key in sorted(buckets))]
