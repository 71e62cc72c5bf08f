"""The dashboard site's pages as HTML strings, from loaded data (``dashboards.data``).

Page map (``root`` is the relative way back to the top, so the site works from any folder)::

    index.html              the fleet: devices, state, last seen, health; the newest runs
    runs.html               runs, newest first; runs/<id>.html: a run's report
    models.html             models with their provenance; models/<slug>.html: one model across devices
    devices/<slug>.html     a device's drilldown
    trends.html             nightly trend pages; trends/<slug>.html: one model's nightly history
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from dashboards.data import DevicePage, ModelPage, RunReport, TrendPage
from dashboards.figures import (
    TrendMarker,
    coverage_figure,
    inference_time_figure,
    memory_figure,
    model_latency_figure,
    speedup_figure,
    startup_figure,
    temperature_history_figure,
    thread_scaling_figure,
    trend_figure,
)
from dashboards.html import badge, chart, esc, link, num, page, slug, table, when
from dashboards.metrics import HeatPolicy, delegate_speedups, device_health
from dashboards.report import results_table, run_report_body
from orchestrator.queries import DeviceHealth, ModelSummary, RunSummary

__all__ = [
    "Health",
    "device_path",
    "model_path",
    "render_device",
    "render_fleet",
    "render_model",
    "render_models",
    "render_run",
    "render_runs",
    "render_trend",
    "render_trends",
    "run_path",
    "trend_path",
]


class Health:
    """The fleet page's health rules (see ``dashboards.metrics.device_health``)."""

    def __init__(self, now: datetime, *, stale_after: timedelta = timedelta(days=2),
                 max_failure_rate: float = 0.2, max_hot_rate: float = 0.1) -> None:
        self.now, self.stale_after = now, stale_after
        self.max_failure_rate, self.max_hot_rate = max_failure_rate, max_hot_rate

    def __call__(self, device: DeviceHealth) -> tuple[str, str]:
        return device_health(device, self.now, stale_after=self.stale_after,
                             max_failure_rate=self.max_failure_rate,
                             max_hot_rate=self.max_hot_rate)


def device_path(serial: str) -> str:
    return f"devices/{slug(serial)}.html"


def model_path(name: str) -> str:
    return f"models/{slug(name)}.html"


def trend_path(name: str) -> str:
    return f"trends/{slug(name)}.html"


def run_path(run_id: str) -> str:
    return f"runs/{slug(run_id)}.html"


def _site(title: str, body: str, root: str) -> str:
    return page(f"{title} · tflite-farm", body, root=root, nav=True, inline_plotly=False)


def _card(value: object, label: str, css: str = "") -> str:
    return f"<div class='card {esc(css)}'><b>{esc(value)}</b><span>{esc(label)}</span></div>"


def _runs_table(runs: Sequence[RunSummary], root: str, linked: set[str]) -> str:
    return table(("run", "created (UTC)", "trigger", "status", "jobs", "done", "failed",
                  "skipped"), [
        [link(root + run_path(r.id), r.id) if r.id in linked else esc(r.id),
         esc(when(r.created_at)), esc(r.trigger), badge(r.status), str(r.jobs), str(r.done),
         str(r.failed), str(r.skipped)] for r in runs],
        numeric=(4, 5, 6, 7), table_id="runs", empty="no runs yet: try `farm submit`")


def render_fleet(devices: Sequence[DeviceHealth], models: int, runs: Sequence[RunSummary],
                 now: datetime, recent: timedelta, health: Health,
                 linked_runs: set[str]) -> str:
    """The fleet page: every device, the number of models, the newest ten of ``runs``."""
    verdicts = {d.serial: health(d) for d in devices}
    counts = {v: sum(1 for h, _ in verdicts.values() if h == v)
              for v in ("healthy", "idle", "hot", "failing", "stale", "offline")}
    rows = [
        [link(device_path(d.serial), d.serial), esc(d.description), esc(d.soc), esc(d.os),
         esc(d.kind), badge(d.state), esc(when(d.last_seen)),
         badge(verdicts[d.serial][0]) + f" <span class='note'>{esc(verdicts[d.serial][1])}"
                                        "</span>",
         str(d.jobs), str(d.failed), str(d.hot_sessions), num(d.max_temp_c, 1),
         esc(when(d.last_run_at))]
        for d in devices
    ]
    body = "".join([
        "<h1>Fleet</h1>",
        f"<div class='meta'>{len(devices)} devices &middot; {models} models "
        f"&middot; built {esc(when(now))} UTC &middot; recent = runs of the last "
        f"{recent.days} days</div>",
        "<div class='cards'>", *(_card(n, v, v) for v, n in counts.items() if n or v == "healthy"),
        "</div>",
        table(("device", "description", "SoC", "OS", "kind", "state", "last seen (UTC)",
               "health", "recent jobs", "failed", "hot sessions", "max °C", "last run"),
              rows, numeric=(8, 9, 10, 11), table_id="fleet",
              empty="no devices yet: `farm submit` registers this machine as `local`"),
        "<h2>Newest runs</h2>", _runs_table(runs[:10], "", linked_runs),
        f"<p>{link('runs.html', 'all runs')}</p>",
    ])
    return _site("Fleet", body, "")


def render_runs(runs: Sequence[RunSummary], linked_runs: set[str]) -> str:
    body = ("<h1>Runs</h1><div class='meta'>newest first; the newest runs have a report page"
            "</div>" + _runs_table(runs, "", linked_runs))
    return _site("Runs", body, "")


def render_run(report: RunReport, heat: HeatPolicy) -> str:
    return _site(f"Run {report.run.id}", run_report_body(report, heat=heat), "../")


def render_models(models: Sequence[ModelSummary]) -> str:
    rows = [[link(model_path(m.name), m.name), link(trend_path(m.name), "nightly trend"),
             esc(m.provenance), esc(m.catalog_name), num(m.size_mb),
             f"<span class='mono'>{esc(m.sha256)}</span>", str(m.devices), str(m.jobs),
             esc(when(m.last_run_at))] for m in models]
    body = "<h1>Models</h1>" + table(
        ("model", "trend", "provenance", "catalog entry", "size MB", "sha256", "devices",
         "jobs", "last run"), rows, numeric=(4, 6, 7), table_id="models",
        empty="no models registered yet")
    return _site("Models", body, "")


def _record(pairs: Sequence[tuple[str, object]]) -> str:
    return table(("field", "value"), [[esc(k), f"<span class='mono'>{esc(v)}</span>"]
                                      for k, v in pairs if v not in (None, "", {}, [])],
                 table_id="record")


def render_device(data: DevicePage, health: Health, heat: HeatPolicy,
                  markers: Sequence[TrendMarker] = ()) -> str:
    d, rows = data.device, data.rows
    verdict, reason = health(d)
    root = "../"
    models = sorted({r.model for r in rows})
    record = _record((("serial", d.serial), ("kind", d.kind), ("state", d.state),
                      ("manufacturer", d.manufacturer), ("model", d.model), ("SoC", d.soc),
                      ("ABI", d.abi), ("OS", d.os), ("build fingerprint", d.fingerprint),
                      ("RAM MB", d.ram_mb), ("GPU", d.gpu), ("host", d.host),
                      ("first seen (UTC)", when(d.first_seen)),
                      ("last seen (UTC)", when(d.last_seen))))
    body = "".join([
        f"<h1>{esc(d.description)} <span class='note'>{esc(d.serial)}</span></h1>",
        f"<div class='meta'>health {badge(verdict)} {esc(reason)} &middot; models: "
        + ", ".join(link(root + model_path(m), m) for m in models) + "</div>",
        "<h2>Record</h2>", record,
        "<h2>Latency by model and config (newest result of each)</h2>",
        chart(inference_time_figure(rows, d.serial), "dev-latency"),
        "<div class='grid2'>", chart(startup_figure(rows, d.serial), "dev-startup"),
        chart(memory_figure(rows, d.serial), "dev-memory"), "</div>",
        "<h2>Thread scaling</h2>",
        chart(thread_scaling_figure(rows, f"on {d.serial}"), "dev-threads"),
        "<h2>Delegate support</h2>",
        chart(coverage_figure(rows, data.unsupported, by_device=False), "dev-coverage"),
        chart(speedup_figure(delegate_speedups(rows)), "dev-speedup"),
        "<h2>Temperature history</h2>",
        chart(temperature_history_figure(data.temperatures, heat.hot_c), "dev-temps"),
        "<h2>Nightly history</h2>",
        chart(trend_figure(data.history, f"Nightly runs on {esc(d.serial)} (ms)",
                           lambda p: f"{p.model} · {p.config}", markers), "dev-history"),
        "<h2>Newest results</h2>", results_table(rows),
    ])
    return _site(d.serial, body, root)


def render_model(data: ModelPage, devices: set[str]) -> str:
    m, rows = data.model, data.rows
    root = "../"
    on = sorted({r.device for r in rows})
    body = "".join([
        f"<h1>{esc(m.name)}</h1>",
        f"<div class='meta'>{esc(m.provenance)} &middot; {num(m.size_mb)} MB &middot; sha256 "
        f"<span class='mono'>{esc(m.sha256)}</span> &middot; "
        + link(root + trend_path(m.name), "nightly trend") + "</div>",
        "<div class='meta'>devices: "
        + ", ".join(link(root + device_path(s), s) if s in devices else esc(s) for s in on)
        + "</div>",
        "<h2>Latency across devices (newest result of each)</h2>",
        chart(model_latency_figure(rows, m.name), "model-latency"),
        "<h2>Thread scaling</h2>",
        chart(thread_scaling_figure(rows, "across devices"), "model-threads"),
        "<h2>Delegates</h2>",
        chart(speedup_figure(delegate_speedups(rows)), "model-speedup"),
        chart(coverage_figure(rows, data.unsupported, by_device=True), "model-coverage"),
        "<h2>Newest results</h2>", results_table(rows),
    ])
    return _site(m.name, body, root)


def render_trends(models: Sequence[ModelSummary]) -> str:
    rows = [[link(trend_path(m.name), m.name), esc(m.provenance), str(m.devices), str(m.jobs),
             esc(when(m.last_run_at))] for m in models]
    body = ("<h1>Nightly trends</h1><div class='meta'>one page per model: every device and "
            "config over the nightly runs (long histories are folded into buckets of nights)"
            "</div>" + table(("model", "provenance", "devices", "jobs", "last run"), rows,
                             numeric=(2, 3), table_id="trends", empty="no models yet"))
    return _site("Trends", body, "")


def render_trend(data: TrendPage, devices: set[str],
                 markers: Sequence[TrendMarker] = ()) -> str:
    root = "../"
    by_device = sorted({p.device for p in data.history})
    nights = max((p.nights for p in data.history), default=1)
    charts = [
        f"<h2>{link(root + device_path(s), s) if s in devices else esc(s)}</h2>"
        + chart(trend_figure([p for p in data.history if p.device == s],
                             f"{esc(data.model.name)} on {esc(s)}: nightly median (ms)",
                             lambda p: p.config, markers), f"trend-{i}")
        for i, s in enumerate(by_device)
    ]
    body = "".join([
        f"<h1>Nightly trend: {esc(data.model.name)}</h1>",
        f"<div class='meta'>{link(root + model_path(data.model.name), 'model page')} &middot; "
        f"{len(data.history)} points"
        + (f", each up to {nights} nights" if nights > 1 else "") + "</div>",
        *charts,
        "" if charts else "<p class='note'>no nightly runs of this model yet</p>",
    ])
    return _site(f"Trend {data.model.name}", body, root)
