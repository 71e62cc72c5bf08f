"""Reports and the dashboard: a run's page, two runs compared, the whole site built or served."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

from dashboards.data import load_compare, load_run_report
from dashboards.report import render_compare_report, render_run_report
from dashboards.serve import make_server
from dashboards.site import BuildStats, build_site, write_page
from orchestrator.config import Settings
from orchestrator.errors import NotFound
from orchestrator.queries import list_runs
from orchestrator.storage import session_scope

__all__ = ["Written", "build_dashboard", "dashboard_server", "default_report_path",
           "write_compare_report", "write_run_report"]


@dataclass(frozen=True)
class Written:
    path: Path
    run_id: str


def default_report_path(settings: Settings, run_id: str) -> Path:
    return settings.home_path / "reports" / f"run-{run_id}.html"


def write_run_report(settings: Settings, run_id: str | None = None,
                     output: Path | None = None) -> Written:
    """One run's self-contained page (default: the newest run, into FARM_HOME/reports)."""
    with session_scope(settings) as db:
        if run_id is None:
            newest = list_runs(db, limit=1)
            if not newest:
                raise NotFound("there are no runs yet", hint="run `farm submit` first")
            run_id = newest[0].id
        loaded = load_run_report(db, run_id)
        page = render_run_report(loaded)
    path = output or default_report_path(settings, loaded.run.id)
    return Written(write_page(page, path), loaded.run.id)


def write_compare_report(settings: Settings, run_a: str, run_b: str,
                         output: Path | None = None) -> Written:
    """Every series of run A against run B, on one page."""
    with session_scope(settings) as db:
        data = load_compare(db, run_a, run_b)
        page = render_compare_report(data)
    path = output or settings.home_path / "reports" / f"compare-{data.a.id}-{data.b.id}.html"
    return Written(write_page(page, path), data.b.id)


def build_dashboard(settings: Settings, folder: Path | None = None) -> tuple[Path, BuildStats]:
    """The static site, rendered from the database (default: FARM_HOME/dashboard); its entry."""
    folder = folder or settings.home_path / "dashboard"
    with session_scope(settings) as db:
        stats = build_site(db, folder, datetime.now(UTC))
    return folder / "index.html", stats


def dashboard_server(settings: Settings, host: str, port: int) -> ThreadingHTTPServer:
    """The site, each page rendered from the database per request."""
    return make_server(lambda: session_scope(settings), host, port)
