"""``farm beat``: Celery beat with the nightly schedule (``[nightly] cron`` of farm.toml, UTC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from farm.distributed.celery_app import beat_schedule, celery_app
from orchestrator.config import Settings

__all__ = ["make_beat"]


def make_beat(settings: Settings, schedule: str, state: Path | None = None) -> Any:
    """Celery beat, ready to ``run()``: it sends the nightly task when due. Its state lives in
    ``state`` (default: FARM_HOME/celerybeat-SCHEDULE). A bad cron is a ``ConfigError`` here."""
    app = celery_app(settings)
    app.conf.beat_schedule = beat_schedule(settings, schedule)
    state = state or settings.home_path / f"celerybeat-{schedule}"
    state.parent.mkdir(parents=True, exist_ok=True)
    return app.Beat(schedule=str(state), loglevel="INFO")
