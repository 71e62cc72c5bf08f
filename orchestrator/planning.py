"""Planning: a submission (models x devices x threads x delegates) becomes a list of jobs.

The parsing of the CLI's lists and the expansion itself are pure functions; ``create_run`` stores
the plan. Rules:

- CPU and XNNPACK run once per thread count; GPU and NNAPI run once per model and device, with the
  largest thread count for their CPU fallback (thread count is not what those configs measure).
- Thread counts and delegates the submission leaves out (``None``) fit each device
  (``device_defaults``): 1 and its big-core count; XNNPACK, plus GPU and NNAPI where the device and
  its tool can run them.
- A config the device cannot run but the user asked for is planned as a *skipped* job with the
  reason (NNAPI exists only on Android), so the report shows it instead of silently leaving it out.
- A job's id is derived from (run, device, model, delegate, threads): the idempotency key under which
  its execution is recorded, however often it is delivered.
- One job per model *file*: models registered under several names from byte-identical files (same
  sha256) measure identically, so the file is planned once, under the first name selected
  (``distinct_files``); the run's spec lists the other names (``same_files``).
- A submission spreads ``each`` (every device runs every job) or as a ``pool`` (each job once, on
  whichever device of the pool claims it, longest expected duration first: ``plan_pool``). A pool
  job's sessions all run on the phone that claimed it, unless ``spread_sessions`` plans each session
  as a job of its own; either way every job keeps the serial of the phone that ran it.
- Devices are named by serial, ``local`` or ``all``: in embedded mode every online phone the last
  scan recorded (``resolve_devices``), in distributed mode every phone of a live worker
  (``resolve_live``: registered with a recent heartbeat); or chosen by what they are, with a
  selector (``model:"Pixel 7",android>=14``, ``orchestrator.selectors``) among those.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.config import Settings, default_settings
from orchestrator.errors import PlanError
from orchestrator.jobspec import JobSpec
from orchestrator.scheduling import expected_seconds, pool_id
from orchestrator.schema import Device, Job, Model, Pool, Run, utcnow
from orchestrator.schema import Session as SessionRow
from orchestrator.selectors import is_selector, parse_selector

__all__ = [
    "DELEGATE_NAMES",
    "SPREADS",
    "DeviceDefaults",
    "JobPlan",
    "SameFile",
    "Submission",
    "big_cores",
    "create_run",
    "device_defaults",
    "distinct_files",
    "expand",
    "heartbeat_max_age",
    "job_id",
    "job_key",
    "live_devices",
    "models_by_name",
    "new_run_id",
    "nightly_run_id",
    "parse_delegates",
    "parse_names",
    "parse_threads",
    "recorded_session_seconds",
    "resolve_devices",
    "resolve_live",
    "shuffle_seed",
]

DELEGATE_NAMES = ("cpu", "xnnpack", "gpu", "nnapi")
#: how a submission spreads over its devices
SPREADS = ("each", "pool")
_THREADED = ("cpu", "xnnpack")
#: NNAPI arrived with Android 8.1
_NNAPI_MIN_SDK = 27


def parse_threads(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> (1, 2, 4); anything else is a ``PlanError`` naming the bad item."""
    items = [item.strip() for item in text.split(",")]
    threads: list[int] = []
    for item in items:
        if not item.isdigit() or int(item) < 1 or int(item) > 256:
            raise PlanError(f"--threads: {item!r} is not a thread count",
                            hint="give whole numbers from 1 to 256 separated by commas, e.g. 1,2,4")
        if int(item) not in threads:
            threads.append(int(item))
    return tuple(threads)


def parse_delegates(text: str) -> tuple[str, ...]:
    names = parse_names(text, "--delegates")
    if names == ("all",):
        return DELEGATE_NAMES
    unknown = [name for name in names if name not in DELEGATE_NAMES]
    if unknown:
        raise PlanError(f"--delegates: unknown delegate {unknown[0]!r}",
                        hint=f"choose from {', '.join(DELEGATE_NAMES)} (or all)")
    return names


def parse_names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if not names:
        raise PlanError(f"{option} is empty", hint=f"give a comma-separated list to {option}")
    return names


@dataclass(frozen=True)
class Submission:
    models: tuple[str, ...] = ("all",)
    devices: tuple[str, ...] = ("local",)
    threads: tuple[int, ...] | None = None  # None: each device's ``device_defaults``
    delegates: tuple[str, ...] | None = None
    #: what every job measures with (its ``repeats`` sessions included)
    spec: JobSpec = field(default_factory=lambda: JobSpec.from_settings(default_settings()))
    trigger: str = "manual"
    spread: str = "each"
    #: a pool job's sessions may run on different phones (each planned as a job of its own)
    spread_sessions: bool = False

    def __post_init__(self) -> None:
        if self.spread not in SPREADS:
            raise PlanError(f"unknown spread {self.spread!r}", hint="use --each or --pool")
        if self.spread_sessions and self.spread != "pool":
            raise PlanError("--spread-sessions spreads a pool's jobs",
                            hint="add --pool, or leave --spread-sessions out")

    def to_json(self) -> dict[str, Any]:
        return {"models": list(self.models), "devices": list(self.devices),
                "threads": list(self.threads) if self.threads else "auto",
                "delegates": list(self.delegates) if self.delegates else "auto",
                "repeats": self.spec.repeats, "protocol": self.spec.to_json(),
                "spread": self.spread, "spread_sessions": self.spread_sessions}


@dataclass(frozen=True)
class JobPlan:
    device: Device
    model: Model
    delegate: str
    num_threads: int
    skip_reason: str | None = None


def _is_android(device: Device) -> bool:
    return device.kind != "local"


@dataclass(frozen=True)
class DeviceDefaults:
    """What a device runs when the submission names no thread counts or no delegates."""

    threads: tuple[int, ...]
    delegates: tuple[str, ...]


def big_cores(cpu: Mapping[str, Any]) -> int:
    """Cores in the clusters faster than the slowest (the ``--pin big`` set); with a single
    cluster, or none known, every core."""
    cores = int(cpu.get("cores") or 1)
    clusters = [c for c in cpu.get("clusters") or [] if c.get("cores")]
    if len(clusters) < 2:
        return cores
    slowest = min(int(c.get("max_freq_khz") or 0) for c in clusters)
    return sum(len(c["cores"]) for c in clusters if int(c.get("max_freq_khz") or 0) > slowest)


def device_defaults(device: Device, *, accelerators: bool) -> DeviceDefaults:
    """1 thread and one per big core (capped at the cores there are: 1,4 on a 2-core machine
    measures oversubscription, not the model); XNNPACK, plus the GPU where the device reports one
    and NNAPI from Android 8.1, when ``accelerators`` says its tool can drive them (a real
    ``benchmark_model``, not the host runner behind a virtual phone or this machine)."""
    cpu = device.cpu or {}
    cores = int(cpu.get("cores") or 1)
    threads = tuple(sorted({1, max(1, min(big_cores(cpu), cores))}))
    delegates = ["xnnpack"]
    if accelerators and _is_android(device):
        if device.gpu:
            delegates.append("gpu")
        if int((device.info or {}).get("sdk") or 0) >= _NNAPI_MIN_SDK:
            delegates.append("nnapi")
    return DeviceDefaults(threads, tuple(delegates))


@dataclass(frozen=True)
class SameFile:
    """Models registered from byte-identical files: the file is measured once, as ``kept``."""

    kept: Model
    aliases: tuple[Model, ...]

    def note(self) -> str:
        names = [self.kept.name, *(alias.name for alias in self.aliases)]
        listed = f"{', '.join(names[:-1])} and {names[-1]}"
        return (f"models {listed} are the same file (sha256 {self.kept.sha256[:12]}): "
                f"measured once, as {self.kept.name}")


def distinct_files(models: Sequence[Model]) -> tuple[list[Model], list[SameFile]]:
    """The models with one per file (sha256), the first selected of each, in order; and the
    files selected under more than one name."""
    first: dict[str, Model] = {}
    aliases: dict[str, list[Model]] = {}
    for model in models:
        kept = first.setdefault(model.sha256, model)
        if kept is not model:
            aliases.setdefault(model.sha256, []).append(model)
    return (list(first.values()),
            [SameFile(first[sha256], tuple(more)) for sha256, more in aliases.items()])


def expand(submission: Submission, models: Sequence[Model], devices: Sequence[Device],
           defaults: Mapping[str, DeviceDefaults] | None = None) -> list[JobPlan]:
    """The jobs of a submission, device-major so each device's jobs stay together; one model of
    each file (``distinct_files``: a job's id is its file's, not its name's).

    ``defaults`` (by serial) fill what the submission leaves out; a device missing from it gets
    ``device_defaults`` with accelerators on phones."""
    plans: list[JobPlan] = []
    files, _same = distinct_files(models)
    for device in devices:
        fitting = (defaults or {}).get(device.serial) or device_defaults(
            device, accelerators=_is_android(device))
        thread_counts = submission.threads or fitting.threads
        widest = max(thread_counts)
        for model in files:
            for delegate in submission.delegates or fitting.delegates:
                threads = thread_counts if delegate in _THREADED else (widest,)
                for n in threads:
                    reason = None
                    if delegate == "nnapi" and not _is_android(device):
                        reason = "NNAPI exists only on Android; this device is not a phone"
                    plans.append(JobPlan(device, model, delegate, n, reason))
    return plans


def job_key(run_id: str, serial: str, model_sha256: str, delegate: str, threads: int) -> str:
    """The idempotency key of a job: one id per run x device x model file x config."""
    key = f"{run_id}|{serial}|{model_sha256}|{delegate}|{threads}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def job_id(run_id: str, plan: JobPlan) -> str:
    return job_key(run_id, plan.device.serial, plan.model.sha256, plan.delegate, plan.num_threads)


def new_run_id() -> str:
    return secrets.token_hex(4)


def _selected(candidates: Sequence[Device], names: Sequence[str], what: str) -> list[Device]:
    """The candidates a selector (``--devices model:"Pixel 7",android>=14``) matches, or a
    ``PlanError`` naming the selector and what there is to choose from."""
    selector = parse_selector(names)
    chosen = selector.select(candidates)
    if not chosen:
        there = ", ".join(f"{d.serial} ({d.model or d.kind})" for d in candidates) or "none"
        raise PlanError(f"--devices {selector} matches no {what}",
                        hint=f"{what}s: {there}; see `farm devices list --select '{selector}'`")
    return chosen


def resolve_devices(db: Session, names: Sequence[str]) -> list[Device]:
    """``all`` = every online phone (adb); ``local`` = this machine; else serials, or a selector
    over every online device (``orchestrator.selectors``). A named device that is not online is an
    error (its state says why); unknown names are errors too."""
    rows = list(db.scalars(select(Device).order_by(Device.serial)))
    if is_selector(names):
        return _selected([r for r in rows if r.state == "device"], names, "online device")
    by_serial = {row.serial: row for row in rows}
    chosen: dict[str, Device] = {}
    for name in names:
        if name == "all":
            chosen |= {r.serial: r for r in rows if r.kind == "adb" and r.state == "device"}
            continue
        row = by_serial.get(name)
        if row is None:
            known = ", ".join(sorted(by_serial)) or "none"
            raise PlanError(f"unknown device {name!r}",
                            hint=f"known devices: {known}; see `farm devices list`")
        if row.state != "device":
            raise PlanError(f"device {name!r} is {row.state}, not online",
                            hint="see `farm devices list`; only online devices are benchmarked")
        chosen[row.serial] = row
    return list(chosen.values())


def models_by_name(db: Session, names: Sequence[str]) -> list[Model]:
    """Registered models by name, in the order given; an unknown name is a ``PlanError``.

    (``all``, the zoo's choice of files, is ``models.selection.resolve_models``'s to expand.)"""
    rows = {row.name: row for row in db.scalars(select(Model))}
    unknown = [name for name in names if name not in rows]
    if unknown:
        known = ", ".join(sorted(rows)) or "none"
        raise PlanError(f"unknown model {unknown[0]!r}",
                        hint=f"known models: {known}; add one with `farm models add PATH`")
    return [rows[name] for name in names]


def heartbeat_max_age(settings: Settings) -> float:
    """A phone whose worker missed three heartbeats (and at least 15 s) is not live."""
    return max(15.0, 3 * float(settings.heartbeat_s))


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def live_devices(db: Session, max_age_s: float) -> list[Device]:
    """The phones a ``farm worker`` registered with a recent heartbeat (distributed mode)."""
    since = utcnow() - timedelta(seconds=max_age_s)
    rows = db.scalars(select(Device).where(Device.host.is_not(None), Device.state == "device")
                      .order_by(Device.serial))
    # SQLite hands back naive datetimes: compare in UTC either way.
    return [d for d in rows if d.info.get("worker") and _aware(d.last_seen) >= since]


def resolve_live(db: Session, names: Sequence[str], max_age_s: float) -> list[Device]:
    """``all`` = every live phone; named devices must be live too (a worker must own them); a
    selector chooses among the live phones."""
    live = {d.serial: d for d in live_devices(db, max_age_s)}
    if is_selector(names):
        return _selected(list(live.values()), names, "live phone")
    chosen: list[Device] = []
    for name in names:
        if name == "all":
            chosen += [device for serial, device in live.items() if device not in chosen]
        elif name in live:
            if live[name] not in chosen:
                chosen.append(live[name])
        else:
            raise PlanError(f"device {name!r} has no live worker",
                            hint="start `farm worker` on the host it is plugged into; live "
                                 f"devices: {', '.join(live) or 'none'}")
    if not chosen:
        raise PlanError("no worker has registered a live device",
                        hint="start `farm worker` on each phone host (FARM_BROKER_URL and "
                             "FARM_DATABASE_URL must match this machine's)")
    return chosen


def nightly_run_id(schedule: str, night: date) -> str:
    """One id per (schedule, night): the key that makes a nightly submission insert-if-absent."""
    digest = hashlib.sha1(schedule.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"nightly-{night:%Y%m%d}-{digest}"


def shuffle_seed(run_id: str, serial: str) -> int:
    """A per run and device seed: the order is random across devices and runs, yet replayable."""
    return int(hashlib.sha256(f"{run_id}|{serial}".encode()).hexdigest()[:8], 16)


def recorded_session_seconds(db: Session, model: Model, delegate: str, threads: int,
                             phone_models: Sequence[str | None]) -> list[float]:
    """Wall times of the ok sessions already measured of this model and config on phones of these
    kinds (``Device.model``): what a pool's longest-first order estimates from."""
    rows = db.execute(
        select(SessionRow.started_at, SessionRow.finished_at)
        .join(Job, Job.id == SessionRow.job_id).join(Device, Device.id == Job.device_id)
        .where(Job.model_id == model.id, Job.delegate == delegate, Job.num_threads == threads,
               Device.model.in_([m for m in phone_models if m]), SessionRow.status == "ok",
               SessionRow.started_at.is_not(None), SessionRow.finished_at.is_not(None))
        .order_by(SessionRow.id.desc()).limit(50))
    return [(_aware(end) - _aware(start)).total_seconds() for start, end in rows if start and end]


def _pool(db: Session, submission: Submission, devices: Sequence[Device]) -> Pool:
    pid = pool_id(d.serial for d in devices)
    pool = db.get(Pool, pid)
    if pool is None:
        pool = Pool(id=pid, selector=",".join(submission.devices),
                    members=sorted(d.serial for d in devices))
        db.add(pool)
    return pool


def _pool_jobs(db: Session, run: Run, submission: Submission, models: Sequence[Model],
               devices: Sequence[Device], defaults: Mapping[str, DeviceDefaults] | None) -> None:
    """Each config once, with no device yet, in the pool of ``devices``; its configs are the first
    member's (a pool is meant to be phones of one kind), its estimate from the members' kinds."""
    pool = _pool(db, submission, devices)
    first = sorted(devices, key=lambda d: d.serial)[0]
    kinds = sorted({d.model for d in devices if d.model})
    spec = submission.spec
    parts = [(None, spec)] if not submission.spread_sessions else [
        (i, spec.with_repeats(1)) for i in range(spec.repeats)]
    for seq, plan in enumerate(expand(submission, models, [first], defaults)):
        history = recorded_session_seconds(db, plan.model, plan.delegate, plan.num_threads, kinds)
        for part, part_spec in parts:
            slot = f"pool:{pool.id}" if part is None else f"pool:{pool.id}#{part}"
            db.add(Job(
                id=job_key(run.id, slot, plan.model.sha256, plan.delegate, plan.num_threads),
                run_id=run.id, seq=seq * len(parts) + (part or 0), device_id=None, pool=pool,
                model_id=plan.model.id, delegate=plan.delegate, num_threads=plan.num_threads,
                spec=part_spec,
                estimate_s=expected_seconds(history, plan.model.size_bytes, part_spec),
                status="skipped" if plan.skip_reason else "pending",
                error_kind="unsupported" if plan.skip_reason else None,
                error_message=plan.skip_reason))


def create_run(db: Session, submission: Submission, models: Sequence[Model],
               devices: Sequence[Device], run_id: str | None = None,
               defaults: Mapping[str, DeviceDefaults] | None = None) -> Run:
    """Expand the submission over the resolved models and devices (``defaults``: see ``expand``)
    and store the run with its jobs (a pool submission's: see ``_pool_jobs``).

    ``run_id`` fixes the id (a nightly run's is derived from its schedule and date, so a second
    submission of the same night collides instead of duplicating it); default: a random one."""
    if not devices:
        raise PlanError("no devices are online",
                        hint="connect a phone (see `adb devices`), or use --devices local")
    spec = submission.to_json()
    _files, same = distinct_files(models)
    if same:
        # the other names each file was selected under: the run's spec (`farm runs show`) names
        # them all, though its jobs carry the first
        spec["same_files"] = {s.kept.name: [alias.name for alias in s.aliases] for s in same}
    run = Run(id=run_id or new_run_id(), status="queued", trigger=submission.trigger, spec=spec)
    db.add(run)
    if submission.spread == "pool":
        _pool_jobs(db, run, submission, models, devices, defaults)
        db.flush()
        return run
    for seq, plan in enumerate(expand(submission, models, devices, defaults)):
        db.add(Job(
            id=job_id(run.id, plan), run_id=run.id, seq=seq, device_id=plan.device.id,
            model_id=plan.model.id, delegate=plan.delegate, num_threads=plan.num_threads,
            spec=submission.spec,
            status="skipped" if plan.skip_reason else "pending",
            error_kind="unsupported" if plan.skip_reason else None,
            error_message=plan.skip_reason,
        ))
    db.flush()
    return run
