"""The SQL schema (SQLAlchemy 2.x typed ORM). It only changes through an Alembic migration.

    runs ─< jobs ─< sessions          a submission, its model x device x config jobs, their sessions
    devices ─< jobs,  models ─< jobs,  tools ─< jobs
    pools ─< jobs                     a pool job runs once, on whichever phone of the pool claims it
    runs ─< alerts                    confirmed regressions / improvements of a series, with evidence

A session row is self-contained evidence: besides its measured values (named like the parser's
fields, see ``orchestrator.results.MEASURE_FIELDS``) it carries its own provenance (model sha256,
tool name / version / sha256, device fingerprint, exact command line, raw output) and environment
readings, because a device or a tool row can change after the session ran.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from orchestrator.jobspec import JobSpec

__all__ = ["ALERT_STATES", "Alert", "Base", "Device", "Job", "Model", "Pool", "Run", "Session", "Tool",
           "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Deterministic constraint names keep migrations identical on SQLite and PostgreSQL.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JobSpecType(TypeDecorator[JobSpec]):
    """``JobSpec`` in a JSON column, as its versioned JSON."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: JobSpec | None, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else value.to_json()

    def process_result_value(self, value: dict[str, Any] | None, dialect: Dialect) -> JobSpec | None:
        return None if value is None else JobSpec.from_json(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "local" | "adb"
    state: Mapped[str] = mapped_column(String(32), default="device")
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    soc: Mapped[str | None] = mapped_column(String(128))
    abi: Mapped[str | None] = mapped_column(String(64))
    os: Mapped[str | None] = mapped_column(String(128))  # "Android 14 (SDK 34)", "Linux 6.1"
    fingerprint: Mapped[str | None] = mapped_column(String(512))
    cpu: Mapped[dict[str, Any]] = mapped_column(default=dict)  # model, cores, clusters
    ram_mb: Mapped[int | None] = mapped_column(Integer)
    gpu: Mapped[str | None] = mapped_column(String(256))
    host: Mapped[str | None] = mapped_column(String(256))
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    # "builtin" | "user" | "replica" | "official" | "imported"
    provenance: Mapped[str] = mapped_column(String(16))
    catalog_name: Mapped[str | None] = mapped_column(String(256))
    inputs: Mapped[list[Any]] = mapped_column(default=list)
    outputs: Mapped[list[Any]] = mapped_column(default=list)
    model_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tool(Base):
    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("name", "version", "sha256", "abi", name="uq_tools_identity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    abi: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "queued" | "running" | "done" | "failed" | "cancelled"
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual | nightly | import
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    #: the `farm` process executing an embedded run (host, pid, start time; ``farm.stale``)
    owner: Mapped[dict[str, Any] | None] = mapped_column()

    jobs: Mapped[list[Job]] = relationship(back_populates="run", order_by="Job.seq")


class Pool(Base):
    """Phones that share a submission's work: each of its jobs runs once, on any of them.

    The id is derived from the members (``planning.pool_id``): submissions to the same phones share
    the pool, and its Celery queue."""

    __tablename__ = "pools"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    selector: Mapped[str] = mapped_column(Text)  # what --devices said
    members: Mapped[list[Any]] = mapped_column()  # serials
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One model x device x config of a run. ``id`` is the idempotency key of its execution.

    A pool job has no device until a phone of its pool claims it; ``estimate_s`` is its place in
    the pool's longest-first order."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # planning order, for stable listings
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), index=True)
    estimate_s: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    tool_id: Mapped[int | None] = mapped_column(ForeignKey("tools.id"))
    delegate: Mapped[str] = mapped_column(String(16))  # cpu | xnnpack | gpu | nnapi
    num_threads: Mapped[int] = mapped_column(Integer)
    #: the protocol it measures with, frozen at planning; None for imported jobs
    spec: Mapped[JobSpec | None] = mapped_column(JobSpecType)
    #: the Celery task that carries it (distributed mode), for `farm cancel` to revoke
    task_id: Mapped[str | None] = mapped_column(String(64))
    # "pending" | "running" | "done" | "failed" | "skipped"
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    value_ms: Mapped[float | None] = mapped_column(Float)  # median of session inference_avg_ms
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    run: Mapped[Run] = relationship(back_populates="jobs")
    device: Mapped[Device | None] = relationship()
    pool: Mapped[Pool | None] = relationship()
    model: Mapped[Model] = relationship()
    tool: Mapped[Tool | None] = relationship()
    sessions: Mapped[list[Session]] = relationship(
        back_populates="job", order_by="Session.repeat_index", cascade="all, delete-orphan"
    )

    @property
    def planned_sessions(self) -> int:
        """Sessions the job is to have: its spec's repeats (an imported job: what it holds)."""
        return self.spec.repeats if self.spec is not None else len(self.sessions)


class Session(Base):
    """One benchmark invocation: measured values, delegate verdict, provenance, environment."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("job_id", "repeat_index", name="uq_sessions_job_repeat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    repeat_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # ok | failed | incomplete
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    init_ms: Mapped[float | None] = mapped_column(Float)
    first_inference_ms: Mapped[float | None] = mapped_column(Float)
    warmup_avg_ms: Mapped[float | None] = mapped_column(Float)
    inference_avg_ms: Mapped[float | None] = mapped_column(Float)
    inference_std_ms: Mapped[float | None] = mapped_column(Float)
    inference_min_ms: Mapped[float | None] = mapped_column(Float)
    inference_max_ms: Mapped[float | None] = mapped_column(Float)
    inference_median_ms: Mapped[float | None] = mapped_column(Float)
    inference_count: Mapped[int | None] = mapped_column(Integer)
    model_size_mb: Mapped[float | None] = mapped_column(Float)
    num_threads: Mapped[int | None] = mapped_column(Integer)
    memory_init_mb: Mapped[float | None] = mapped_column(Float)
    memory_overall_mb: Mapped[float | None] = mapped_column(Float)
    memory_peak_mb: Mapped[float | None] = mapped_column(Float)

    delegate_name: Mapped[str | None] = mapped_column(String(32))
    delegate_coverage: Mapped[str | None] = mapped_column(String(16))
    delegate_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    ops: Mapped[list[Any]] = mapped_column(default=list)

    # provenance
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    tool_name: Mapped[str | None] = mapped_column(String(128))
    tool_version: Mapped[str | None] = mapped_column(String(128))
    tool_sha256: Mapped[str | None] = mapped_column(String(64))
    device_fingerprint: Mapped[str | None] = mapped_column(String(512))
    command: Mapped[list[Any]] = mapped_column(default=list)  # exact argv
    exit_code: Mapped[int | None] = mapped_column(Integer)
    raw_output: Mapped[str] = mapped_column(Text, default="")

    # environment
    temp_before_c: Mapped[float | None] = mapped_column(Float)
    temp_after_c: Mapped[float | None] = mapped_column(Float)
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)

    job: Mapped[Job] = relationship(back_populates="sessions")


#: triage states of an alert; every alert starts "untriaged"
ALERT_STATES = ("untriaged", "acknowledged", "investigating", "invalid", "wontfix", "fixed",
                "backedout")


class Alert(Base):
    """A confirmed change of one series, with the evidence that convinced the detector.

    A series is identified by its columns (model sha256, device serial, delegate, threads, tool
    version); ``series`` is their label (``orchestrator.series.SeriesKey.label``). ``night`` is the
    first night of the new level; every alert except an ``invalid`` one is an accepted change point
    that restarts the series' baseline.
    """

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("series", "night", "direction", name="uq_alerts_series_night"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(512), index=True)
    model_sha256: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(128))
    delegate: Mapped[str] = mapped_column(String(16))
    num_threads: Mapped[int] = mapped_column(Integer)
    tool_version: Mapped[str] = mapped_column(String(128))
    model_name: Mapped[str | None] = mapped_column(String(256))
    direction: Mapped[str] = mapped_column(String(16))  # regression | improvement
    stage: Mapped[str] = mapped_column(String(16))  # screen | fast | drift
    night: Mapped[date] = mapped_column(Date)
    detected_on: Mapped[date] = mapped_column(Date)
    baseline_start: Mapped[date] = mapped_column(Date)
    baseline_end: Mapped[date] = mapped_column(Date)
    baseline_median_ms: Mapped[float] = mapped_column(Float)
    new_median_ms: Mapped[float] = mapped_column(Float)
    change_pct: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    confirm_p_value: Mapped[float | None] = mapped_column(Float)
    confirm_change_pct: Mapped[float | None] = mapped_column(Float)
    noise_cv: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    #: re-run ids, the reference series used, the session values tested
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="untriaged", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
