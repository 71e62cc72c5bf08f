"""Alerts: storing confirmed changes, listing and triaging them, and what the reports show.

An alert is written once per (series, night, direction): detecting the same change again updates
its evidence instead of duplicating it. Its triage state is the team's verdict; ``invalid`` means
"not a real change", so an invalid alert no longer restarts its series' baseline.

For the reports and the dashboard: ``alerts_for_run`` (the alerts a nightly run raised) and
``series_report`` (a series' nightly values, its alerts as markers, its noise profile).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import NotFound, PlanError
from orchestrator.regression import Confirmation, Detection
from orchestrator.schema import ALERT_STATES, Alert, utcnow
from orchestrator.series import NoiseProfile, Series, SeriesKey, load_history, noise_profile

__all__ = [
    "AlertView",
    "SeriesReport",
    "alerts_for_run",
    "list_alerts",
    "segment_index",
    "segment_starts",
    "series_report",
    "store_alert",
    "triage",
]


@dataclass(frozen=True)
class AlertView:
    id: int
    series: str
    model_name: str | None
    device: str
    config: str
    direction: str
    stage: str
    night: date
    detected_on: date
    baseline_median_ms: float
    new_median_ms: float
    change_pct: float
    p_value: float
    confirm_p_value: float | None
    noise_cv: float
    state: str
    run_id: str | None
    evidence: dict[str, Any]

    @classmethod
    def of(cls, row: Alert) -> AlertView:
        return cls(row.id, row.series, row.model_name, row.device,
                   f"{row.delegate} x{row.num_threads}", row.direction, row.stage, row.night,
                   row.detected_on, row.baseline_median_ms, row.new_median_ms, row.change_pct,
                   row.p_value, row.confirm_p_value, row.noise_cv, row.state, row.run_id,
                   dict(row.evidence))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "series": self.series, "model": self.model_name, "device": self.device,
            "config": self.config, "direction": self.direction, "stage": self.stage,
            "night": self.night.isoformat(), "detected_on": self.detected_on.isoformat(),
            "baseline_median_ms": self.baseline_median_ms, "new_median_ms": self.new_median_ms,
            "change_pct": round(self.change_pct, 3), "p_value": self.p_value,
            "confirm_p_value": self.confirm_p_value, "noise_cv": self.noise_cv,
            "state": self.state, "run_id": self.run_id,
        }


def store_alert(db: DbSession, detection: Detection, key: SeriesKey, *, model_name: str | None,
                run_id: str | None, confirmation: Confirmation, noise_cv: float,
                evidence: dict[str, Any]) -> AlertView:
    """Insert the alert, or refresh the evidence of the same (series, night, direction)."""
    if not isinstance(detection.night, date) or not isinstance(detection.detected_on, date):
        raise TypeError("stored alerts are placed on calendar nights")
    row = db.scalars(select(Alert).where(Alert.series == key.label, Alert.night == detection.night,
                                         Alert.direction == detection.direction)).first()
    if row is None:
        row = Alert(series=key.label, model_sha256=key.model_sha256, device=key.device,
                    delegate=key.delegate, num_threads=key.threads, tool_version=key.tool_version,
                    night=detection.night, direction=detection.direction, state="untriaged")
        db.add(row)
    start, end = detection.baseline_nights
    assert isinstance(start, date) and isinstance(end, date)
    row.model_name = model_name
    row.stage = detection.stage
    row.detected_on = detection.detected_on
    row.baseline_start, row.baseline_end = start, end
    row.baseline_median_ms, row.new_median_ms = detection.baseline_median, detection.new_median
    row.change_pct, row.p_value = detection.change_pct, detection.p_value
    row.confirm_p_value = confirmation.p_value
    row.confirm_change_pct = 100.0 * confirmation.change
    row.noise_cv = noise_cv
    row.run_id = run_id
    row.evidence = evidence
    row.updated_at = utcnow()
    db.flush()
    return AlertView.of(row)


def list_alerts(db: DbSession, *, states: Sequence[str] = (), series: str | None = None,
                limit: int = 100) -> list[AlertView]:
    """Newest first; ``states`` filters by triage state, ``series`` by label prefix."""
    unknown = [state for state in states if state not in ALERT_STATES]
    if unknown:
        raise PlanError(f"unknown alert state {unknown[0]!r}", hint=f"states: {', '.join(ALERT_STATES)}")
    query = select(Alert).order_by(Alert.detected_on.desc(), Alert.id.desc()).limit(limit)
    if states:
        query = query.where(Alert.state.in_(list(states)))
    if series:
        query = query.where(Alert.series.startswith(series, autoescape=True))
    return [AlertView.of(row) for row in db.scalars(query)]


def triage(db: DbSession, alert_id: int, state: str) -> AlertView:
    if state not in ALERT_STATES:
        raise PlanError(f"unknown alert state {state!r}", hint=f"states: {', '.join(ALERT_STATES)}")
    row = db.get(Alert, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}", hint="see `farm regressions list` for alert ids")
    row.state = state
    row.updated_at = utcnow()
    db.flush()
    return AlertView.of(row)


def segment_starts(db: DbSession) -> dict[str, date]:
    """Series label -> first night of its current segment (the latest accepted alert's night)."""
    query = select(Alert.series, Alert.night).where(Alert.state != "invalid")
    starts: dict[str, date] = {}
    for label, night in db.execute(query):
        starts[label] = max(night, starts.get(label, night))
    return starts


def segment_index(series: Series, start: date | None) -> int:
    """Index of the first night of the segment that begins at ``start`` (0 without one)."""
    if start is None:
        return 0
    for index, night in enumerate(series.nights):
        if isinstance(night.night, date) and night.night >= start:
            return index
    return len(series.nights)


def alerts_for_run(db: DbSession, run_id: str) -> list[AlertView]:
    """Alerts raised by a (nightly) run, for its report."""
    query = select(Alert).where(Alert.run_id == run_id).order_by(Alert.series, Alert.night)
    return [AlertView.of(row) for row in db.scalars(query)]


@dataclass(frozen=True)
class SeriesReport:
    """What a trend chart needs: nightly values, alert markers, and the noise profile."""

    series: str
    key: SeriesKey | None
    nights: list[tuple[date, float, tuple[float, ...]]]
    alerts: list[AlertView]
    noise: NoiseProfile


def series_report(db: DbSession, noise_limit: float, labels: Sequence[str] | None = None,
                  triggers: Sequence[str] = ("nightly",)) -> list[SeriesReport]:
    """Every stored series (or those labelled), each with its alerts and noise profile."""
    history = load_history(db, triggers)
    starts = segment_starts(db)
    alerts_by_series: dict[str, list[AlertView]] = {}
    for row in db.scalars(select(Alert).order_by(Alert.night)):
        alerts_by_series.setdefault(row.series, []).append(AlertView.of(row))
    reports = []
    for label, series in history.items():
        if labels is not None and label not in labels:
            continue
        start = segment_index(series, starts.get(label))
        nights = [(n.night, n.value, n.sessions) for n in series.nights
                  if isinstance(n.night, date)]
        reports.append(SeriesReport(label, series.key, nights, alerts_by_series.get(label, []),
                                    noise_profile(series, start, noise_limit)))
    return reports

