"""The nightly: measure, screen every series, confirm suspects by re-running them, store, notify.

    run_nightly(settings, executor)        plan the ``[nightly]`` spec (trigger "nightly") on the
                                           devices the executor reaches, run it, evaluate it
    submit_nightly(settings, schedule, night)
                                           distributed: the night's run, once, under an id derived
                                           from the schedule and the date (insert-if-absent)
    scheduled_nightly(settings, schedule, night)
                                           what ``farm beat``'s task runs: submit once, wait, evaluate
    evaluate_night(settings, run, params, executor)
                                           screen tonight's series (``orchestrator.regression``),
                                           re-run each suspect on its device, interleaved with a
                                           reference series when one exists, store the confirmed
                                           changes as alerts, and POST them to ``nightly.webhook_url``

Confirmation re-runs go through the same planning and executor as any run: one small run (trigger
"confirm") per round, each holding one session of the suspect and one of the reference, their order
alternating between rounds, in ``nightly.confirm_batches`` batches spread over the night
(``_confirmation_reruns``); a suspect whose re-run was inconclusive (``regression.confirm``) gets as
many batches again. Runs with trigger "confirm" never enter a series' history.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import select

from farm.executors import DistributedExecutor, Executor, Progress
from models.builtin import register_builtin_models
from models.selection import resolve_models
from orchestrator.alerts import AlertView, segment_index, segment_starts, store_alert
from orchestrator.config import Settings
from orchestrator.errors import ConfigError, StorageError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import (
    Submission,
    create_run,
    models_by_name,
    nightly_run_id,
    parse_delegates,
    parse_names,
    parse_threads,
    resolve_devices,
)
from orchestrator.regression import (
    Confirmation,
    DetectorParams,
    Remeasurement,
    Screen,
    Suspect,
    confirm,
    detection_from,
    drift_suspect,
    screen_night,
    screen_series,
    settle,
)
from orchestrator.schema import Job, Model, Run, utcnow
from orchestrator.schema import Session as SessionRow
from orchestrator.secrets import mask_text, mask_url, url_secrets
from orchestrator.series import Series, SeriesKey, load_history
from orchestrator.stats import spread_cv
from orchestrator.storage import session_scope

__all__ = ["NightlyOutcome", "SuspectResult", "evaluate_night", "follow_nightly", "nightly_submission",
           "post_alerts", "run_nightly", "scheduled_nightly", "submit_nightly"]

log = logging.getLogger(__name__)

#: a queued nightly run with no task sent this long after its creation lost its submitter
_ABANDONED_AFTER_S = 120


def nightly_submission(settings: Settings) -> Submission:
    """The ``[nightly]`` table of farm.toml as a submission with trigger "nightly"."""
    return Submission(
        models=parse_names(str(settings.nightly_models), "nightly.models"),
        devices=parse_names(str(settings.nightly_devices), "nightly.devices"),
        threads=parse_threads(str(settings.nightly_threads)),
        delegates=parse_delegates(str(settings.nightly_delegates)),
        spec=JobSpec.from_settings(settings, repeats=int(settings.nightly_repeats)),
        trigger="nightly",
    )


@dataclass(frozen=True)
class SuspectResult:
    series: str
    suspect: Suspect
    confirmation: Confirmation
    reference: str | None
    alert: AlertView | None
    #: re-run batches the verdict rests on: ``nightly.confirm_batches``, or twice as many when the
    #: first were inconclusive
    batches: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"series": self.series, "stage": self.suspect.stage,
                "direction": self.suspect.direction, "change_pct": 100 * self.suspect.change,
                "p_value": self.suspect.p_value, "confirmed": self.confirmation.confirmed,
                "confirm_change_pct": 100 * self.confirmation.change,
                "confirm_p_value": self.confirmation.p_value, "confirm_batches": self.batches,
                "reference": self.reference,
                "reference_ratio": self.confirmation.reference_ratio,
                "alert_id": self.alert.id if self.alert else None}


@dataclass(frozen=True)
class NightlyOutcome:
    run_id: str
    night: date
    screens: list[Screen]
    suspects: list[SuspectResult]
    webhook: str | None = None
    alerts: list[AlertView] = field(default_factory=list)

    @property
    def regressions(self) -> list[AlertView]:
        return [alert for alert in self.alerts if alert.direction == "regression"]

    def count(self, status: str) -> int:
        return sum(screen.status == status for screen in self.screens)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "night": self.night.isoformat(),
                "series": len(self.screens), "tested": self.count("tested"),
                "warming_up": self.count("warming_up"), "too_noisy": self.count("too_noisy"),
                "suspects": [s.to_json() for s in self.suspects],
                "alerts": [a.to_json() for a in self.alerts], "webhook": self.webhook}


def _plan_nightly(settings: Settings, executor: Executor, run_id: str | None = None) -> str:
    submission = nightly_submission(settings)
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        models, _notes = resolve_models(db, submission.models)
        devices, _problems = executor.devices(db, submission.devices)
        return create_run(db, submission, models, devices, run_id=run_id).id


def run_nightly(settings: Settings, executor: Executor,
                params: DetectorParams | None = None) -> NightlyOutcome:
    """Tonight's nightly in full, here: plan it, run it, evaluate it."""
    run_id = _plan_nightly(settings, executor)
    executor.run(run_id)
    return evaluate_night(settings, run_id, params or DetectorParams(), executor)


def _abandoned(settings: Settings, run_id: str) -> bool:
    """Queued for a while with no task sent: its submitter died between the insert and the send.
    (A younger run may just be between the two steps of a live submitter.)"""
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        if run is None or run.status != "queued":
            return False
        created = run.created_at.replace(tzinfo=run.created_at.tzinfo or UTC)
        return created < utcnow() - timedelta(seconds=_ABANDONED_AFTER_S) and not any(
            job.task_id for job in run.jobs)


def submit_nightly(settings: Settings, schedule: str, night: date) -> tuple[str, bool]:
    """Create and enqueue the night's run once (distributed mode); (run id, whether this call
    submitted it). A second scheduler, a restarted beat or a redelivered nightly task finds the run
    and sends nothing twice."""
    executor = DistributedExecutor(settings)
    run_id = nightly_run_id(schedule, night)
    with session_scope(settings) as db:
        exists = db.get(Run, run_id) is not None
    created = False
    if not exists:
        try:
            _plan_nightly(settings, executor, run_id)
            created = True
        except StorageError:
            # A concurrent scheduler inserted it first (primary key): that one enqueues it.
            with session_scope(settings) as db:
                if db.get(Run, run_id) is None:
                    raise
    if created or _abandoned(settings, run_id):
        executor.start(run_id)
        return run_id, True
    return run_id, False


def scheduled_nightly(settings: Settings, schedule: str, night: date) -> str:
    """The scheduled nightly (``farm beat``'s task): submit the night's run once; the submitter
    waits for the workers to measure it, then screens and confirms; the run id."""
    executor = DistributedExecutor(settings, poll_s=2.0)
    run_id, created = submit_nightly(settings, schedule, night)
    log.info("nightly %s %s: run %s %s", schedule, night, run_id,
             "submitted" if created else "already submitted")
    if created and executor.wait(run_id) != "cancelled":
        outcome = evaluate_night(settings, run_id, DetectorParams(), executor)
        log.info("nightly %s: %d series screened, %d alert(s)", run_id, len(outcome.screens),
                 len(outcome.alerts))
    return run_id


def follow_nightly(settings: Settings, night: date, progress: Progress,
                   on_submitted: Callable[[str, bool], None] = lambda _run, _created: None,
                   ) -> NightlyOutcome:
    """``farm nightly --now --wait`` with a broker: submit tonight's run (once), follow the workers
    measuring it, then screen and confirm here. ``on_submitted(run id, created)``."""
    executor = DistributedExecutor(settings)
    run_id, created = submit_nightly(settings, "nightly", night)
    on_submitted(run_id, created)
    executor.wait(run_id, progress)
    return evaluate_night(settings, run_id, DetectorParams(), executor)


def _rerun(settings: Settings, executor: Executor, key: SeriesKey, names: Sequence[str],
           rounds: int) -> tuple[dict[str, list[float]], list[str]]:
    """Interleaved single sessions of each named model on the series' device and config."""
    spec = JobSpec.from_settings(settings, repeats=1)
    run_ids: list[str] = []
    for round_index in range(rounds):
        # Alternating the order keeps a slow drift within the re-run from favouring either model.
        order = tuple(names) if round_index % 2 == 0 else tuple(reversed(names))
        submission = Submission(models=order, devices=(key.device,), threads=(key.threads,),
                                delegates=(key.delegate,), spec=spec, trigger="confirm")
        with session_scope(settings) as db:
            run = create_run(db, submission, models_by_name(db, order),
                             resolve_devices(db, (key.device,)))
            run_ids.append(run.id)
        executor.run(run_ids[-1])
    values: dict[str, list[float]] = {name: [] for name in names}
    with session_scope(settings) as db:
        query = (select(Model.name, SessionRow.inference_avg_ms)
                 .join(Job, Job.id == SessionRow.job_id).join(Model, Model.id == Job.model_id)
                 .where(Job.run_id.in_(run_ids), SessionRow.status == "ok"))
        for name, value in db.execute(query):
            if value is not None:
                values[name].append(value)
    return values, run_ids


@dataclass(frozen=True)
class _Plan:
    """A suspect to confirm: its series' key, its reference series (if any) and the models to
    re-run on its device (the suspect's, then the reference's)."""

    label: str
    suspect: Suspect
    key: SeriesKey
    reference: str | None
    names: list[str]


class _Pace:
    """Starts batches at least ``gap`` seconds apart, the first batch of a second round of re-runs
    included."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.last: float | None = None

    def wait(self) -> None:
        if self.last is not None:
            time.sleep(max(0.0, self.last + self.gap - time.monotonic()))
        self.last = time.monotonic()


def _confirmation_reruns(settings: Settings, executor: Executor, plans: Sequence[_Plan], pace: _Pace,
                         ) -> tuple[dict[str, dict[str, list[list[float]]]], dict[str, list[str]]]:
    """Every suspect re-run in ``nightly.confirm_batches`` separate batches of ``nightly.repeats``
    rounds: each batch of every suspect before the next batch of any, and a batch's start at least
    ``nightly.confirm_gap_s`` after the previous batch's start (``pace``).

    The sessions of one batch share the phone's state of the moment (heat, background load), so a
    single batch is one draw of that state however many sessions it holds; batches apart in time
    are separate draws, and the re-run's evidence is kept by batch (``regression.confirm``). In
    ``benchmarks/regression_validation.py``, three batches of five in place of one let the screen's
    gate drop from 2.2 to 2.0 times the noise: on four tuning seeds, a third fewer 10% steps went
    unfound within three nights, with fewer false alerts.
    """
    fresh: dict[str, dict[str, list[list[float]]]] = {plan.label: {name: [] for name in plan.names}
                                                      for plan in plans}
    run_ids: dict[str, list[str]] = {plan.label: [] for plan in plans}
    for _batch in range(int(settings.nightly_confirm_batches) if plans else 0):
        pace.wait()
        for plan in plans:
            values, ids = _rerun(settings, executor, plan.key, plan.names,
                                 int(settings.nightly_repeats))
            for name, sessions in values.items():
                fresh[plan.label][name].append(sessions)
            run_ids[plan.label].extend(ids)
    return fresh, run_ids


def _reference(key: SeriesKey, screens: dict[str, Screen], history: dict[str, Series],
               suspects: set[str]) -> str | None:
    """The steadiest series tested tonight on the same device and config that is not a suspect.

    Steadiest by the spread of its baseline sessions (``stats.spread_cv``), not by the robust CV of
    its nightly medians: a bimodal model's slow mode hides from both, yet a re-run of a few sessions
    can land in it, and the suspect would then be divided by that jump (see ``confirm``).
    """
    same = (key.device, key.delegate, key.threads, key.tool_version)
    candidates = []
    for label, screen in screens.items():
        other = history[label].key
        if (label not in suspects and screen.status == "tested" and other is not None
                and history[label].model_names
                and (other.device, other.delegate, other.threads, other.tool_version) == same):
            candidates.append(label)
    return min(candidates, default=None,
               key=lambda label: spread_cv(history[label].sessions(screens[label].baseline)))


class _Verdict(NamedTuple):
    confirmation: Confirmation
    reference_ratio: float | None
    #: empty without a reference
    reference_sessions: list[float]


def _judge(plan: _Plan, fresh: dict[str, list[list[float]]], history: dict[str, Series],
           screens: dict[str, Screen], params: DetectorParams) -> _Verdict:
    """The confirmation of a plan's re-run, with the reference ratio and sessions it used."""
    ratio = None
    reference_sessions = (Remeasurement(fresh[plan.names[-1]]).sessions
                          if plan.reference is not None else [])
    if plan.reference is not None and reference_sessions:
        ref_series, ref_screen = history[plan.reference], screens[plan.reference]
        ref_base = ref_series.sessions(ref_screen.baseline)
        ratio = statistics.median(reference_sessions) / statistics.median(ref_base)
    confirmation = confirm(plan.suspect, fresh[plan.names[0]], history[plan.label], params, ratio)
    return _Verdict(confirmation, ratio, reference_sessions)


def evaluate_night(settings: Settings, run_id: str, params: DetectorParams,
                   executor: Executor) -> NightlyOutcome:
    """Screen the series the run measured, confirm suspects by re-runs, store and post alerts."""
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        if run is None:
            raise RuntimeError(f"run {run_id} does not exist")
        night = run.created_at.date()
        history = load_history(db)
        starts = segment_starts(db)
    screens: dict[str, Screen] = {}
    segments: dict[str, int] = {}
    for label, series in history.items():
        t = series.index_of(night)
        if t is None or series.key is None:
            continue
        segments[label] = segment_index(series, starts.get(label))
        screens[label] = screen_series(series, min(segments[label], t), t, params)
    suspects = {s.series: s for s in screen_night(list(screens.values()), params)}
    for label, screen in screens.items():
        if screen.status == "tested" and label not in suspects:
            series = history[label]
            drift = drift_suspect(series, segments[label], series.index_of(night) or 0, params)
            if drift is not None:
                suspects[label] = drift

    plans: list[_Plan] = []
    for label, suspect in sorted(suspects.items()):
        series = history[label]
        assert series.key is not None
        if not series.model_names:
            continue
        reference = _reference(series.key, screens, history, set(suspects))
        names = [series.model_names[0]]
        if reference is not None:
            names.append(history[reference].model_names[0])
        plans.append(_Plan(label, suspect, series.key, reference, names))
    pace = _Pace(float(settings.nightly_confirm_gap_s))
    fresh, rerun_ids = _confirmation_reruns(settings, executor, plans, pace)
    judged = {plan.label: _judge(plan, fresh[plan.label], history, screens, params) for plan in plans}
    # Re-runs that fell just short are measured once more, in as many batches, and judged on all.
    again = [plan for plan in plans if judged[plan.label].confirmation.inconclusive]
    if again:
        more, more_ids = _confirmation_reruns(settings, executor, again, pace)
        for plan in again:
            for name in plan.names:
                fresh[plan.label][name] += more[plan.label][name]
            rerun_ids[plan.label] += more_ids[plan.label]
            judged[plan.label] = _judge(plan, fresh[plan.label], history, screens, params)

    results: list[SuspectResult] = []
    for plan in plans:
        label, suspect, key, reference, names = (plan.label, plan.suspect, plan.key, plan.reference,
                                                 plan.names)
        series = history[label]
        confirmation, ratio, reference_sessions = judged[label]
        rerun = Remeasurement(fresh[label][names[0]])
        alert = None
        t = series.index_of(night)
        assert t is not None
        tonight = Series(series.name, series.nights[:t + 1], key, series.model_names)
        settled = (settle(tonight, segments[label], t, suspect, confirmation, params)
                   if confirmation.confirmed else None)
        if settled is not None:
            suspect = settled
            detection = detection_from(tonight, suspect, night, confirmation)
            with session_scope(settings) as db:
                alert = store_alert(
                    db, detection, key, model_name=names[0], run_id=run_id,
                    confirmation=confirmation, noise_cv=suspect.noise,
                    evidence={"rerun_runs": rerun_ids[label],
                              "rerun_sessions": rerun.sessions,
                              "rerun_batches": [len(batch) for batch in rerun.batches],
                              "reference": reference,
                              "reference_sessions": reference_sessions if reference else None,
                              "reference_ratio": ratio,
                              "baseline_sessions": len(series.sessions(plan.suspect.baseline))})
        results.append(SuspectResult(label, suspect, confirmation, reference, alert,
                                     len(rerun.batches)))
    alerts = [r.alert for r in results if r.alert is not None]
    outcome = NightlyOutcome(run_id, night, list(screens.values()), results, alerts=alerts)
    url = settings.nightly_webhook_url
    if url and alerts:
        outcome = NightlyOutcome(run_id, night, outcome.screens, results,
                                 post_alerts(str(url), outcome.to_json()), alerts)
    return outcome


def post_alerts(url: str, payload: dict[str, Any], timeout: float = 10.0) -> str:
    """POST the night's outcome as JSON; returns "sent (HTTP n)" or why it failed (never raises:
    a chat outage must not hide the alerts, which are stored already)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"nightly.webhook_url {mask_url(url)!r} is not an http(s) URL",
                          hint="set nightly.webhook_url to an http:// or https:// address")
    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (scheme checked)
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return f"sent (HTTP {response.status})"
    except (urllib.error.URLError, OSError) as exc:
        return f"failed: {mask_text(str(exc), url_secrets(url))}"
