"""``farm regressions detect|list|triage``: offline detection over a CSV, and the stored alerts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator import alerts
from orchestrator.alerts import AlertView
from orchestrator.config import Settings
from orchestrator.regression import Detection, DetectorParams, detect_history
from orchestrator.series import read_csv
from orchestrator.storage import session_scope

__all__ = ["detect_csv", "list_alerts", "triage"]


def detect_csv(path: Path) -> list[Detection]:
    """The screen and change-point stages over a CSV history (no confirmation re-runs)."""
    return detect_history(read_csv(path), DetectorParams())


def list_alerts(settings: Settings, *, states: Sequence[str] = (), series: str | None = None,
                limit: int = 100) -> list[AlertView]:
    with session_scope(settings) as db:
        return alerts.list_alerts(db, states=states, series=series, limit=limit)


def triage(settings: Settings, alert_id: int, state: str) -> AlertView:
    with session_scope(settings) as db:
        return alerts.triage(db, alert_id, state)
