"""`farm nightly --now` end to end on this machine: measure, screen, re-run, alert, webhook, exit code.

History before tonight is written into the database as earlier nightly runs; tonight's numbers, the
confirmation re-runs and everything after them are real.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from farm.executors import EmbeddedExecutor
from farm.nightly import run_nightly
from orchestrator import storage
from orchestrator.alerts import alerts_for_run, series_report
from orchestrator.config import Settings, load_settings
from orchestrator.schema import Alert, Device, Job, Model, Run, Session
from tests.support.cli import farm


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _seed_history(env: dict[str, str], scale: dict[str, float], nights: int = 14,
                  recent: int = 1) -> None:
    """Earlier nightly runs, one per night: the last ``recent`` nights at tonight's median per model,
    the ones before at ``scale`` times it."""
    settings = load_settings(env)
    with storage.session_scope(settings) as db:
        (tonight,) = db.scalars(select(Run).where(Run.trigger == "nightly"))
        for job in list(tonight.jobs):
            values = [s.inference_avg_ms for s in job.sessions if s.status == "ok"]
            template = job.sessions[0]
            for back in range(1, nights + 1):
                level = statistics.median(values) * (scale[job.model.name] if back > recent else 1.0)
                run = db.get(Run, f"past{back}") or Run(
                    id=f"past{back}", trigger="nightly", status="done",
                    created_at=tonight.created_at - timedelta(days=back))
                past = Job(id=f"{job.id[:30]}-{back}", run=run, seq=job.seq, device_id=job.device_id,
                           model_id=job.model_id, delegate=job.delegate,
                           num_threads=job.num_threads, status="done", spec=job.spec)
                # Nights spread like a shared CI machine's (+-8%), sessions within a night less.
                night_factor = 1 + 0.08 * ((back * 7) % 5 - 2) / 2
                for i, wiggle in enumerate((0.99, 1.0, 1.01)):
                    past.sessions.append(Session(
                        repeat_index=i, status="ok", inference_avg_ms=level * night_factor * wiggle,
                        model_sha256=template.model_sha256, tool_version=template.tool_version))
                db.add(past)


@pytest.mark.slow
def test_nightly_warms_up_then_confirms_a_regression_and_posts_it(
        farm_db_env: dict[str, str], tmp_path: Path, webhook: tuple[str, list[dict]]) -> None:
    url, received = webhook
    (tmp_path / "farm.toml").write_text(
        '[nightly]\nmodels = ["builtin-segmenter", "builtin-stylizer"]\ndevices = "local"\n'
        f'threads = [1]\ndelegates = ["xnnpack"]\nrepeats = 3\nconfirm_batches = 2\n'
        f'confirm_gap_s = 0\nwebhook_url = "{url}"\n')

    first = farm("nightly", "--now", "--json", env=farm_db_env)
    assert first.returncode == 0, first.stderr
    outcome = json.loads(first.stdout)
    assert (outcome["series"], outcome["warming_up"], outcome["alerts"]) == (2, 2, [])
    assert received == []  # nothing to say

    # The segmenter used to be ten times faster, until last night; the stylizer was where it is.
    # A step this large keeps the test about the pipeline: on CI's shared 2-core machine the other
    # test worker once slowed the re-runs enough that a threefold step confirmed at only +75%
    # (under half the night's +178%), and the night rightly stayed unconfirmed.
    _seed_history(farm_db_env, {"builtin-segmenter": 1 / 10, "builtin-stylizer": 1.0})
    second = farm("nightly", "--now", "--wait", "--json", env=farm_db_env)
    assert second.returncode == 3, second.stderr + second.stdout[-4000:]  # the suspects, if any
    outcome = json.loads(second.stdout)
    # Only the segmenter moved for sure; this machine's own noise is not under the test's control.
    (alert,) = [a for a in outcome["alerts"] if a["model"] == "builtin-segmenter"]
    assert alert["direction"] == "regression"
    # Tonight is ~10x the seeded baseline, give or take this shared machine's own drift.
    assert 400 < alert["change_pct"] < 2000 and alert["state"] == "untriaged"
    (suspect,) = [s for s in outcome["suspects"] if s["alert_id"] == alert["id"]]
    assert suspect["confirmed"] and suspect["confirm_p_value"] <= 0.01
    assert suspect["confirm_batches"] == 2

    (post,) = received
    assert post["type"] == "application/json"
    assert [a["id"] for a in post["json"]["alerts"]] == [a["id"] for a in outcome["alerts"]]

    settings = load_settings(farm_db_env)
    with storage.session_scope(settings) as db:
        row = db.get(Alert, alert["id"])
        assert row is not None and row.run_id == outcome["run_id"]
        confirm_runs = list(db.scalars(select(Run).where(Run.trigger == "confirm")
                                       .order_by(Run.created_at)))
        assert set(row.evidence["rerun_runs"]) <= {r.id for r in confirm_runs}
        confirm_runs = [r for r in confirm_runs if r.id in row.evidence["rerun_runs"]]
        # two batches of three rounds
        assert len(confirm_runs) == 6 and all(r.status == "done" for r in confirm_runs)
        models_per_round = [[j.model.name for j in r.jobs] for r in confirm_runs]
        if row.evidence["reference"]:
            # Interleaved: both models in every round, the order alternating within a batch.
            assert models_per_round[0] == models_per_round[2] == models_per_round[1][::-1]
            assert models_per_round[:3] == models_per_round[3:]
        assert all(len(j.sessions) == 1 and j.sessions[0].status == "ok"
                   for r in confirm_runs for j in r.jobs)
        assert len(row.evidence["rerun_sessions"]) == 6
        # Re-runs never enter the history that the next night is judged on.
        device = db.scalars(select(Device).where(Device.serial == "local")).one()
        assert device.id == confirm_runs[0].jobs[0].device_id
        assert db.scalars(select(Model).where(Model.name == "builtin-segmenter")).one()

    with storage.session_scope(settings) as db:
        # What the reports draw: trend values, alert markers, noise profiles.
        assert alert["id"] in [a.id for a in alerts_for_run(db, outcome["run_id"])]
        reports = {r.series: r for r in series_report(db, noise_limit=0.10)}
        assert len(reports) == 2
        marked = reports[row.series]
        assert [a.id for a in marked.alerts] == [alert["id"]]
        assert len(marked.nights) == 15 and marked.noise.nights >= 1

    listed = json.loads(farm("regressions", "list", "--json", env=farm_db_env).stdout)
    assert alert["id"] in [a["id"] for a in listed]


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("FARM_NIGHTLY_CONFIRM_BATCHES", "0", "nightly.confirm_batches"),
    ("FARM_NIGHTLY_CONFIRM_GAP", "-5", "nightly.confirm_gap_s"),
])
def test_a_nightly_that_could_not_confirm_is_refused_before_measuring(
        farm_db_env: dict[str, str], variable: str, value: str, named: str) -> None:
    result = farm("nightly", "--now", env=farm_db_env | {variable: value})
    assert result.returncode == 2
    assert named in result.stderr and "set " + named in result.stderr
    with storage.session_scope(load_settings(farm_db_env)) as db:
        assert list(db.scalars(select(Run))) == []


class _ScriptedPhone(EmbeddedExecutor):
    """The executor, for a test of what the nightly does with what it measures: every session of
    a job at the level the script gives its model; confirmation re-runs by batch of ``repeats``
    rounds (one run each), so a script can make a re-run's first batches fall short."""

    def __init__(self, settings: Settings, levels: dict[str, float],
                 rerun_levels: dict[str, list[float]], repeats: int) -> None:
        super().__init__(settings)
        self.levels, self.rerun_levels, self.repeats = levels, rerun_levels, repeats
        self.confirm_runs = 0

    def start(self, run_id: str, progress: object = None, stop: object = None) -> None:
        with storage.session_scope(self.settings) as db:
            run = db.get(Run, run_id)
            assert run is not None
            batch = self.confirm_runs // self.repeats
            self.confirm_runs += run.trigger == "confirm"
            for job in run.jobs:
                name = job.model.name
                level = (self.rerun_levels[name][batch] if run.trigger == "confirm"
                         else self.levels[name])
                for i in range(job.planned_sessions):
                    job.sessions.append(Session(
                        repeat_index=i, status="ok", inference_avg_ms=level * (1 + 0.002 * (i - 1)),
                        model_sha256=job.model.sha256, tool_version="scripted"))
                job.status = "done"
            run.status = "done"


@pytest.mark.parametrize(("first_batches", "alerted", "batches"), [
    (1.3, True, 4),  # went the suspect's way, too little: measured again, confirmed on all four
    (1.0, False, 2),  # the old level: nothing to settle, no more batches
])
def test_an_inconclusive_rerun_is_measured_again_in_as_many_batches(
        farm_db_env: dict[str, str], tmp_path: Path, first_batches: float, alerted: bool,
        batches: int) -> None:
    (tmp_path / "farm.toml").write_text(
        '[nightly]\nmodels = ["builtin-segmenter", "builtin-stylizer"]\ndevices = "local"\n'
        'threads = [1]\ndelegates = ["xnnpack"]\nrepeats = 3\nconfirm_batches = 2\n'
        'confirm_gap_s = 1.0\n')
    settings = load_settings(farm_db_env)
    # The segmenter took 10 ms until two nights ago and 20 ms since: a suspect on tonight's screen.
    # Its re-run's first two batches show 1.3x (or 1x) the old level, any later ones 4x.
    phone = _ScriptedPhone(settings, {"builtin-segmenter": 20.0, "builtin-stylizer": 50.0},
                           {"builtin-segmenter": [10.0 * first_batches] * 2 + [40.0] * 2,
                            "builtin-stylizer": [50.0] * 4}, repeats=3)
    assert run_nightly(settings, phone).alerts == []  # warming up
    _seed_history(farm_db_env, {"builtin-segmenter": 0.5, "builtin-stylizer": 1.0}, recent=2)

    outcome = run_nightly(settings, phone)
    (suspect,) = outcome.suspects
    assert suspect.suspect.direction == "up" and suspect.confirmation.confirmed == alerted
    assert phone.confirm_runs == 3 * batches and suspect.to_json()["confirm_batches"] == batches
    assert [a.direction for a in outcome.alerts] == (["regression"] if alerted else [])
    with storage.session_scope(settings) as db:
        runs = list(db.scalars(select(Run).where(Run.trigger == "confirm").order_by(Run.created_at)))
        assert len(runs) == 3 * batches
        # Every batch starts confirm_gap_s after the one before, across the second round too. The
        # runs are stamped when created, a moment after the pace let the batch go, and that moment
        # varies with the machine's load (0.3 s seen on a busy one): hence the margin.
        starts = [run.created_at for run in runs[::3]]
        assert all((b - a).total_seconds() >= 0.7 for a, b in pairwise(starts)), starts
        if alerted:
            (row,) = db.scalars(select(Alert))
            assert row.evidence["rerun_batches"] == [3] * batches
            assert len(row.evidence["rerun_runs"]) == 3 * batches
