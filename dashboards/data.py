"""What each page needs from the database, gathered in one place (every query lives in
``orchestrator.queries``; this module only decides which ones a page calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session as DbSession

from dashboards.metrics import HeatPolicy
from orchestrator.queries import (
    DeviceHealth,
    HistoryPoint,
    ModelSummary,
    ResultRow,
    RunPool,
    RunProvenance,
    RunSummary,
    SessionRow,
    TemperaturePoint,
    fleet,
    get_run,
    latest_results,
    list_models,
    list_runs,
    nightly_history,
    run_pools,
    run_provenance,
    run_results,
    run_sessions,
    temperature_history,
    unsupported_ops,
)

__all__ = [
    "CompareReport",
    "DevicePage",
    "ModelPage",
    "RunReport",
    "SiteIndex",
    "TrendPage",
    "load_compare",
    "load_device_page",
    "load_model_page",
    "load_run_report",
    "load_site_index",
    "load_trend_page",
]


@dataclass(frozen=True)
class RunReport:
    run: RunSummary
    rows: list[ResultRow]
    sessions: list[SessionRow]
    provenance: RunProvenance
    unsupported: dict[str, tuple[str, ...]]
    #: the pools its jobs were planned in, with each phone's share (empty for an --each run)
    pools: list[RunPool] = field(default_factory=list)


@dataclass(frozen=True)
class CompareReport:
    a: RunSummary
    b: RunSummary
    a_rows: list[ResultRow]
    b_rows: list[ResultRow]


@dataclass(frozen=True)
class SiteIndex:
    """What every page links to: the fleet, the models, the newest runs."""

    now: datetime
    recent: timedelta  # the window of "recent" activity on the fleet page
    devices: list[DeviceHealth]
    models: list[ModelSummary]
    runs: list[RunSummary]


@dataclass(frozen=True)
class DevicePage:
    device: DeviceHealth
    rows: list[ResultRow]
    unsupported: dict[str, tuple[str, ...]]
    temperatures: list[TemperaturePoint]
    history: list[HistoryPoint]


@dataclass(frozen=True)
class ModelPage:
    model: ModelSummary
    rows: list[ResultRow]
    unsupported: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class TrendPage:
    model: ModelSummary
    history: list[HistoryPoint] = field(default_factory=list)


def load_run_report(db: DbSession, run_id: str) -> RunReport:
    run = get_run(db, run_id)
    rows = run_results(db, run.id)
    return RunReport(run, rows, run_sessions(db, run.id), run_provenance(db, run.id),
                     unsupported_ops(db, [r.job_id for r in rows if r.delegate != "cpu"]),
                     run_pools(db, run.id))


def load_compare(db: DbSession, run_a: str, run_b: str) -> CompareReport:
    a, b = get_run(db, run_a), get_run(db, run_b)
    return CompareReport(a, b, run_results(db, a.id), run_results(db, b.id))


def load_site_index(db: DbSession, now: datetime, *, recent: timedelta, heat: HeatPolicy,
                    max_runs: int) -> SiteIndex:
    return SiteIndex(now, recent, fleet(db, now - recent, heat.hot_c), list_models(db),
                     list_runs(db, max_runs))


def load_device_page(db: DbSession, device: DeviceHealth, *, heat: HeatPolicy,
                     max_points: int, latest: Sequence[ResultRow] | None = None) -> DevicePage:
    """``latest``: ``latest_results`` of every series, when the caller loaded it for many pages
    (the device's rows are the same whether ranked alone or among all)."""
    rows = (latest_results(db, device=device.serial) if latest is None
            else [r for r in latest if r.device == device.serial])
    return DevicePage(
        device, rows, unsupported_ops(db, [r.job_id for r in rows if r.delegate != "cpu"]),
        temperature_history(db, device.serial, hot_c=heat.hot_c, max_points=max_points // 8),
        nightly_history(db, device=device.serial, max_points=max_points))


def load_model_page(db: DbSession, model: ModelSummary,
                    latest: Sequence[ResultRow] | None = None) -> ModelPage:
    rows = (latest_results(db, model=model.name) if latest is None
            else [r for r in latest if r.model == model.name])
    return ModelPage(model, rows,
                     unsupported_ops(db, [r.job_id for r in rows if r.delegate != "cpu"]))


def load_trend_page(db: DbSession, model: ModelSummary, *, max_points: int) -> TrendPage:
    return TrendPage(model, nightly_history(db, model=model.name, max_points=max_points))
