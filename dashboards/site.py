"""The dashboard site: which pages exist for a database state, and writing them (the only module
of ``dashboards`` that touches the file system).

``Site`` maps every page path (see ``dashboards.pages``) to its renderer, so ``build_site``
renders them all into a folder and the server (``dashboards.serve``) renders one per request.
plotly.js is one file per site, ``plotly.min.js``, that every page references.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from dashboards.data import (
    SiteIndex,
    load_device_page,
    load_model_page,
    load_run_report,
    load_site_index,
    load_trend_page,
)
from dashboards.html import plotly_js
from dashboards.metrics import HeatPolicy
from dashboards.pages import (
    Health,
    device_path,
    model_path,
    render_device,
    render_fleet,
    render_model,
    render_models,
    render_run,
    render_runs,
    render_trend,
    render_trends,
    run_path,
    trend_path,
)

__all__ = ["PLOTLY_FILE", "BuildStats", "Site", "SiteOptions", "build_site", "write_page"]

PLOTLY_FILE = "plotly.min.js"


@dataclass(frozen=True)
class SiteOptions:
    recent: timedelta = timedelta(days=7)
    stale_after: timedelta = timedelta(days=2)
    max_failure_rate: float = 0.2
    max_hot_rate: float = 0.1
    heat: HeatPolicy = field(default_factory=HeatPolicy)
    max_runs: int = 500  # listed on runs.html
    max_run_pages: int = 10  # the newest runs get a report page
    max_points: int = 4000  # history points per page (longer histories are bucketed)


@dataclass(frozen=True)
class BuildStats:
    pages: int
    total_bytes: int
    largest_page: str
    largest_bytes: int
    seconds: float


class Site:
    """The pages of the site for the database as it is now (``db`` must stay open while pages
    are rendered)."""

    def __init__(self, db: DbSession, now: datetime, options: SiteOptions) -> None:
        self.db, self.options = db, options
        self.index: SiteIndex = load_site_index(db, now, recent=options.recent,
                                                heat=options.heat, max_runs=options.max_runs)
        self.health = Health(now, stale_after=options.stale_after,
                             max_failure_rate=options.max_failure_rate,
                             max_hot_rate=options.max_hot_rate)
        self.linked_runs = {r.id for r in self.index.runs[:options.max_run_pages]}
        self._serials = {d.serial for d in self.index.devices}
        self._pages: dict[str, Callable[[], str]] = {
            "index.html": lambda: render_fleet(self.index, self.health, self.linked_runs),
            "runs.html": lambda: render_runs(self.index, self.linked_runs),
            "models.html": lambda: render_models(self.index),
            "trends.html": lambda: render_trends(self.index),
        }
        for run_id in sorted(self.linked_runs):
            self._pages[run_path(run_id)] = self._run(run_id)
        for device in self.index.devices:
            self._pages[device_path(device.serial)] = self._device(device.serial)
        for model in self.index.models:
            self._pages[model_path(model.name)] = self._model(model.name)
            self._pages[trend_path(model.name)] = self._trend(model.name)

    def _run(self, run_id: str) -> Callable[[], str]:
        return lambda: render_run(load_run_report(self.db, run_id), self.options.heat)

    def _device(self, serial: str) -> Callable[[], str]:
        device = next(d for d in self.index.devices if d.serial == serial)
        return lambda: render_device(
            load_device_page(self.db, device, heat=self.options.heat,
                             max_points=self.options.max_points),
            self.health, self.options.heat)

    def _model(self, name: str) -> Callable[[], str]:
        model = next(m for m in self.index.models if m.name == name)
        return lambda: render_model(load_model_page(self.db, model), self._serials)

    def _trend(self, name: str) -> Callable[[], str]:
        model = next(m for m in self.index.models if m.name == name)
        return lambda: render_trend(
            load_trend_page(self.db, model, max_points=self.options.max_points), self._serials)

    def paths(self) -> list[str]:
        return list(self._pages)

    def render(self, path: str) -> str | None:
        """The page at ``path`` (relative to the site's top), or None if there is none."""
        renderer = self._pages.get(path)
        return renderer() if renderer else None


def write_page(text: str, path: Path) -> Path:
    """Write atomically: a reader (a browser, the server) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def build_site(db: DbSession, out_dir: Path, now: datetime,
               options: SiteOptions | None = None) -> BuildStats:
    """Render every page of the site into ``out_dir`` (entry: ``out_dir/index.html``)."""
    started = time.perf_counter()
    site = Site(db, now, options or SiteOptions())
    write_page(plotly_js(), out_dir / PLOTLY_FILE)
    sizes: dict[str, int] = {}
    for path in site.paths():
        text = site.render(path)
        assert text is not None  # every listed path has a renderer
        write_page(text, out_dir / path)
        sizes[path] = len(text.encode())
    largest = max(sizes, key=lambda p: sizes[p])
    return BuildStats(pages=len(sizes), total_bytes=sum(sizes.values()), largest_page=largest,
                      largest_bytes=sizes[largest], seconds=time.perf_counter() - started)
