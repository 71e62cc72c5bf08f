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
from functools import cached_property, partial
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from dashboards.data import (
    load_device_page,
    load_model_page,
    load_run_report,
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
from orchestrator.queries import (
    DeviceHealth,
    ModelSummary,
    ResultRow,
    RunSummary,
    fleet,
    latest_results,
    list_models,
    list_runs,
    model_names,
)

__all__ = ["PLOTLY_FILE", "BuildStats", "Site", "SiteOptions", "build_site", "write_page"]

PLOTLY_FILE = "plotly.min.js"
_TOP_PAGES = ("index.html", "runs.html", "models.html", "trends.html")


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
    are rendered).

    What the pages share is loaded on first use and kept: building the whole site loads the
    fleet, the model list and the run list once, while the server, which makes a ``Site`` per
    request, loads only what the requested page shows (a device page never counts every job of
    every model). The page map itself needs only names: serials, model names, the newest runs.
    """

    def __init__(self, db: DbSession, now: datetime, options: SiteOptions) -> None:
        self.db, self.now, self.options = db, now, options
        #: the newest result of every series, once ``load_all`` ran (else each page ranks its own)
        self.latest: list[ResultRow] | None = None
        self.health = Health(now, stale_after=options.stale_after,
                             max_failure_rate=options.max_failure_rate,
                             max_hot_rate=options.max_hot_rate)

    @cached_property
    def devices(self) -> list[DeviceHealth]:
        return fleet(self.db, self.now - self.options.recent, self.options.heat.hot_c)

    @cached_property
    def models(self) -> list[ModelSummary]:
        return list_models(self.db)

    @cached_property
    def runs(self) -> list[RunSummary]:
        return list_runs(self.db, self.options.max_runs)

    @cached_property
    def linked_runs(self) -> set[str]:
        """The runs that get a report page: the newest ``max_run_pages`` of the listed ones."""
        shown = min(self.options.max_run_pages, self.options.max_runs)
        runs = self.runs if "runs" in self.__dict__ else list_runs(self.db, shown)
        return {r.id for r in runs[:shown]}

    @cached_property
    def _model_names(self) -> list[str]:
        if "models" in self.__dict__:
            return [m.name for m in self.models]
        return model_names(self.db)

    @cached_property
    def _serials(self) -> set[str]:
        return {d.serial for d in self.devices}

    def load_all(self) -> None:
        """Load what many pages share at once, for rendering every page: the fleet, the models,
        the runs, and the newest result of every series (one ranking instead of one per device
        and model page)."""
        _ = self.devices, self.models, self.runs
        self.latest = latest_results(self.db)

    def _renderer(self, path: str) -> Callable[[], str] | None:
        """The renderer of one page, looking up only the names of its kind."""
        fixed: dict[str, Callable[[], str]] = {
            "index.html": self._fleet,
            "runs.html": lambda: render_runs(self.runs, self.linked_runs),
            "models.html": lambda: render_models(self.models),
            "trends.html": lambda: render_trends(self.models),
        }
        if path in fixed:
            return fixed[path]
        folder = path.partition("/")[0]
        if folder == "runs":
            return next((partial(self._run, r) for r in sorted(self.linked_runs)
                         if run_path(r) == path), None)
        if folder == "devices":
            return next((partial(self._device, d) for d in self.devices
                         if device_path(d.serial) == path), None)
        if folder in ("models", "trends"):
            page, to_path = ((self._model, model_path) if folder == "models"
                             else (self._trend, trend_path))
            return next((partial(page, name) for name in self._model_names
                         if to_path(name) == path), None)
        return None

    def _fleet(self) -> str:
        # The fleet page shows how many models there are and the newest ten runs.
        runs = self.runs if "runs" in self.__dict__ else list_runs(
            self.db, min(10, self.options.max_runs))
        return render_fleet(self.devices, len(self._model_names), runs, self.now,
                            self.options.recent, self.health, self.linked_runs)

    def _model_summary(self, name: str) -> ModelSummary:
        if "models" in self.__dict__:
            return next(m for m in self.models if m.name == name)
        return list_models(self.db, name)[0]

    def _run(self, run_id: str) -> str:
        return render_run(load_run_report(self.db, run_id), self.options.heat)

    def _device(self, device: DeviceHealth) -> str:
        return render_device(
            load_device_page(self.db, device, heat=self.options.heat,
                             max_points=self.options.max_points, latest=self.latest),
            self.health, self.options.heat)

    def _model(self, name: str) -> str:
        return render_model(load_model_page(self.db, self._model_summary(name), self.latest),
                            self._serials)

    def _trend(self, name: str) -> str:
        return render_trend(load_trend_page(self.db, self._model_summary(name),
                                            max_points=self.options.max_points), self._serials)

    def paths(self) -> list[str]:
        return [*_TOP_PAGES, *(run_path(r) for r in sorted(self.linked_runs)),
                *(device_path(d.serial) for d in self.devices),
                *(to_path(name) for name in self._model_names
                  for to_path in (model_path, trend_path))]

    def render(self, path: str) -> str | None:
        """The page at ``path`` (relative to the site's top), or None if there is none."""
        renderer = self._renderer(path)
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
    site.load_all()
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
