"""Plan a run in a test the way a use case would: named models, devices the last scan recorded."""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from models.selection import resolve_models
from orchestrator.planning import Submission, create_run, resolve_devices
from orchestrator.schema import Run


def plan_run(db: DbSession, submission: Submission) -> Run:
    models, _notes = resolve_models(db, submission.models)
    return create_run(db, submission, models, resolve_devices(db, submission.devices))
