"""Plan a run in a test the way a use case would (named models, devices the last scan recorded),
and read it back: its jobs with their sessions, device and model, and its status."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from models.selection import resolve_models
from orchestrator.config import load_settings
from orchestrator.planning import Submission, create_run, resolve_devices
from orchestrator.schema import Job, Run
from orchestrator.storage import session_scope


def plan_run(db: DbSession, submission: Submission) -> Run:
    models, _notes = resolve_models(db, submission.models)
    return create_run(db, submission, models, resolve_devices(db, submission.devices))


def run_jobs(run_id: str) -> list[Job]:
    """The run's jobs in plan order, their sessions, device and model loaded."""
    with session_scope(load_settings()) as db:
        jobs = list(db.scalars(select(Job).where(Job.run_id == run_id).order_by(Job.seq)))
        for job in jobs:  # loaded while the session is open
            _ = job.sessions, job.device, job.model
        return jobs


def run_status(run_id: str) -> str:
    with session_scope(load_settings()) as db:
        run = db.get(Run, run_id)
        assert run is not None
        return run.status
