"""The per-run report and the two-run comparison, as HTML strings.

``render_run_report`` and ``render_compare_report`` build a page from loaded data
(``dashboards.data``); the same body serves the single-file ``farm report`` (plotly.js inlined
once: works offline) and a run's page in the dashboard site (plotly.js from the site's one file).
Writing files is ``dashboards.site``'s job. Every value shown is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dashboards.data import CompareReport, RunReport
from dashboards.figures import (
    Figure,
    compare_figure,
    coverage_figure,
    inference_time_figure,
    memory_figure,
    model_size_figure,
    pool_share_figure,
    session_temperature_figure,
    speedup_figure,
    startup_figure,
    thread_scaling_figure,
)
from dashboards.html import badge, chart, esc, num, page, table, when
from dashboards.metrics import HeatPolicy, compare_runs, delegate_speedups
from orchestrator.queries import NO_PHONE, ResultRow, RunPool, RunSummary, SessionRow

__all__ = ["render_compare_report", "render_run_report"]

#: Sessions drawn and listed in the environment section (a big run's are sampled down to it).
MAX_SESSIONS_SHOWN = 400

_THERMAL = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency",
            6: "shutdown"}


class _Charts:
    """Numbers the charts of one page, so that every div id is unique."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.count = prefix, 0

    def __call__(self, fig: Figure) -> str:
        self.count += 1
        return chart(fig, f"{self.prefix}-{self.count}")


def _card(value: object, label: str) -> str:
    return f"<div class='card'><b>{esc(value)}</b><span>{esc(label)}</span></div>"


def _run_meta(run: RunSummary, pools: Sequence[RunPool] = ()) -> str:
    spec = run.spec
    parts = [f"status {badge(run.status)}", f"trigger {esc(run.trigger)}",
             f"created {esc(when(run.created_at))} UTC"]
    if run.finished_at:
        parts.append(f"finished {esc(when(run.finished_at))} UTC")
    for key, label in (("threads", "threads"), ("delegates", "delegates"),
                       ("repeats", "sessions per config")):
        if spec.get(key) is not None:
            value = spec[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
            parts.append(f"{label} {esc(shown)}")
    for pool in pools:
        parts.append(f"pool <b>{esc(pool.selector)}</b> of {len(pool.members)} phones "
                     f"({esc(', '.join(pool.members))})")
    return "<div class='meta'>" + " &middot; ".join(parts) + "</div>"


def results_table(rows: Sequence[ResultRow], table_id: str = "results") -> str:
    """Every job; a "pool" column after the device when some job was a pool's (the device is
    then the phone that claimed it)."""
    pooled = any(r.pool is not None for r in rows)
    head = ("device", *(("pool",) if pooled else ()), "model", "provenance", "size MB", "config",
            "status", "median ms", "min ms", "max ms", "sessions", "init ms", "first ms",
            "peak MB", "coverage", "error")
    cells = [
        [esc(r.device), *([esc(r.pool)] if pooled else []), esc(r.model), esc(r.provenance),
         num(r.size_mb), esc(r.config), badge(r.status), num(r.value_ms), num(r.min_ms),
         num(r.max_ms), str(r.sessions), num(r.init_ms), num(r.first_inference_ms),
         num(r.memory_peak_mb, 1),
         f"<span class='{esc(r.delegate_coverage)}'>{esc(r.delegate_coverage)}</span>",
         esc(f"{r.error_kind}: {r.error_message}" if r.error_kind else "")]
        for r in rows
    ]
    shift = int(pooled)
    return table(head, cells, numeric=[i + shift for i in (3, 6, 7, 8, 9, 10, 11, 12)],
                 table_id=table_id, empty="no jobs")


def _coverage_table(rows: Sequence[ResultRow], unsupported: dict[str, tuple[str, ...]]) -> str:
    items = [r for r in rows if r.delegate_coverage in ("partial", "none")]
    return table(("device", "model", "config", "coverage", "unsupported ops"), [
        [esc(r.device), esc(r.model), esc(r.config),
         f"<span class='{esc(r.delegate_coverage)}'>{esc(r.delegate_coverage)}</span>",
         f"<span class='mono'>{esc(', '.join(unsupported.get(r.job_id, ())) or '-')}</span>"]
        for r in items], table_id="coverage", empty="every delegate that ran took the whole graph")


def _failures(report: RunReport) -> str:
    failed_sessions: dict[str, int] = {}
    for s in report.sessions:
        if s.status != "ok":
            failed_sessions[s.job_id] = failed_sessions.get(s.job_id, 0) + 1
    items = [r for r in report.rows if r.status in ("failed", "skipped")]
    return table(("device", "model", "config", "status", "kind", "reason", "failed sessions"), [
        [esc(r.device), esc(r.model), esc(r.config), badge(r.status), esc(r.error_kind),
         f"<span class='mono'>{esc(r.error_message)}</span>",
         str(failed_sessions.get(r.job_id, 0))] for r in items],
        numeric=(6,), table_id="failures", empty="no failures and no skips")


def _pool_share(report: RunReport, charts: _Charts) -> str:
    """Per pool: what each phone did of its work (jobs, sessions, busy time and its share), then
    the jobs that moved on when their phone was lost."""
    out = []
    for i, pool in enumerate(report.pools):
        waiting = (f" {pool.waiting} of its jobs wait for a phone." if pool.waiting else "")
        out += [f"<h3>Pool {esc(pool.selector)}</h3>" if len(report.pools) > 1 else "",
                f"<p class='note'>Each job of pool {esc(pool.selector)} ran once, on whichever "
                f"of its {len(pool.members)} phones was free. Busy: the sum of the wall times "
                f"of a phone's sessions; share: its part of the pool's "
                f"{pool.busy_s:.1f} busy seconds.{esc(waiting)}</p>",
                charts(pool_share_figure(pool)),
                table(("phone", "jobs run", "moved away", "sessions", "busy s", "share"), [
                    [esc(p.serial), str(p.jobs), str(p.moved), str(p.sessions),
                     num(p.busy_s, 1),
                     "-" if (pct := pool.share_pct(p)) is None else f"{pct:.1f}%"]
                    for p in pool.phones], numeric=(1, 2, 3, 4, 5),
                    table_id="pool-share" if i == 0 else f"pool-share-{i + 1}",
                    empty="the pool has no phones")]
    moved = [r for r in report.rows if r.status == "moved"]
    out += ["<h3>Moved jobs</h3>", table(
        ("phone", "model", "config", "sessions kept", "median ms", "reason"), [
            [esc(r.device), esc(r.model), esc(r.config), str(r.sessions), num(r.value_ms),
             f"<span class='mono'>{esc(r.error_message)}</span>"] for r in moved],
        numeric=(3, 4), table_id="moved", empty="no job moved: no phone of the pool was lost")]
    return "".join(out)


def _bounded(sessions: Sequence[SessionRow], hot: Sequence[bool],
             limit: int) -> tuple[list[SessionRow], list[bool]]:
    """At most ``limit`` sessions, hot ones first, the rest evenly spaced in run order."""
    if len(sessions) <= limit:
        return list(sessions), list(hot)
    flagged = [i for i, h in enumerate(hot) if h][:limit]
    rest = [i for i, h in enumerate(hot) if not h]
    room = limit - len(flagged)
    step = max(1, math.ceil(len(rest) / room)) if room else 0
    keep = sorted(flagged + (rest[::step][:room] if room else []))
    return [sessions[i] for i in keep], [hot[i] for i in keep]


def _environment(report: RunReport, heat: HeatPolicy, charts: _Charts,
                 limit: int = MAX_SESSIONS_SHOWN) -> str:
    every = report.sessions
    every_hot = [heat.is_hot(s.temp_before_c, s.temp_after_c, s.thermal_status) for s in every]
    sessions, hot = _bounded(every, every_hot, limit)
    rows = [
        [esc(s.device), esc(s.model), esc(s.config), str(s.repeat_index), badge(s.status),
         num(s.temp_before_c, 1), num(s.temp_after_c, 1),
         num(None if s.temp_before_c is None or s.temp_after_c is None
             else s.temp_after_c - s.temp_before_c, 1),
         esc(_THERMAL.get(s.thermal_status, s.thermal_status) if s.thermal_status is not None
             else ""),
         "<span class='badge hot'>hot</span>" if h else ""]
        for s, h in zip(sessions, hot, strict=True)
    ]
    # Hot sessions first: they are what this section is for.
    rows = [r for r, h in zip(rows, hot, strict=True) if h] + \
           [r for r, h in zip(rows, hot, strict=True) if not h]
    shown = "" if len(sessions) == len(every) else (
        f" Shown: {len(sessions)} of them, every hot one first and an even sample of the rest.")
    note = (f"<p class='note'>{sum(every_hot)} of {len(every)} sessions ran hot (started above "
            f"{heat.gate_c:g} °C, ended at or above {heat.hot_c:g} °C, or thermal status "
            f"{_THERMAL[heat.hot_status]} or worse).{shown}</p>")
    measured = any(s.temp_before_c is not None or s.temp_after_c is not None for s in sessions)
    figure = charts(session_temperature_figure(sessions, hot, heat.hot_c)) if measured else (
        "<p class='note'>The device reported no temperatures.</p>")
    return note + figure + table(
        ("device", "model", "config", "session", "status", "before °C", "after °C", "rise °C",
         "thermal status", "flag"), rows, numeric=(3, 5, 6, 7), table_id="environment",
        empty="no sessions")


def _provenance(report: RunReport) -> str:
    p = report.provenance
    models = table(("model", "provenance", "catalog entry", "size MB", "sha256", "sessions"), [
        [esc(m.name), esc(m.provenance), esc(m.catalog_name), num(m.size_mb),
         f"<span class='mono'>{esc(m.sha256)}</span>", str(m.sessions)] for m in p.models],
        numeric=(3, 5), table_id="prov-models", empty="no models")
    tools = table(("tool", "version", "sha256", "sessions"), [
        [esc(t.name), esc(t.version), f"<span class='mono'>{esc(t.sha256)}</span>",
         str(t.sessions)] for t in p.tools], numeric=(3,), table_id="prov-tools",
        empty="no tool ran")
    devices = table(("device", "description", "build fingerprint", "sessions"), [
        [esc(d.serial), esc(d.description), f"<span class='mono'>{esc(d.fingerprint)}</span>",
         str(d.sessions)] for d in p.devices], numeric=(3,), table_id="prov-devices",
        empty="no devices")
    return f"<h3>Models</h3>{models}<h3>Tools</h3>{tools}<h3>Devices</h3>{devices}"


def run_report_body(report: RunReport, *, heat: HeatPolicy, chart_prefix: str = "chart") -> str:
    run, rows = report.run, report.rows
    charts = _Charts(chart_prefix)
    devices = sorted({r.device for r in rows} - {NO_PHONE})
    hot = sum(heat.is_hot(s.temp_before_c, s.temp_after_c, s.thermal_status)
              for s in report.sessions)
    out = [f"<h1>Run {esc(run.id)}</h1>", _run_meta(run, report.pools), "<div class='cards'>",
           _card(run.jobs, "jobs"), _card(run.done, "done"), _card(run.failed, "failed"),
           _card(run.skipped, "skipped"), _card(len(report.sessions), "sessions"),
           _card(len(devices), "devices"), _card(len({r.model for r in rows}), "models"),
           _card(hot, "hot sessions")]
    if report.pools:
        out.append(_card(sum(r.status == "moved" for r in rows), "moved"))
    out.append("</div>")
    if report.pools:
        out += ["<h2>Pool share</h2>", _pool_share(report, charts)]
    if not rows:
        out.append("<p class='note'>This run has no jobs.</p>")
    for device in devices:
        out += [f"<h2>Latency on {esc(device)}</h2>",
                charts(inference_time_figure(rows, device)),
                "<div class='grid2'>", charts(startup_figure(rows, device)),
                charts(memory_figure(rows, device)), "</div>"]
    if rows:
        out += ["<h2>Model size</h2>", charts(model_size_figure(rows)),
                "<h2>Thread scaling</h2>",
                charts(thread_scaling_figure(rows, "in this run")),
                "<h2>Delegates</h2>", charts(speedup_figure(delegate_speedups(rows))),
                charts(coverage_figure(rows, report.unsupported, by_device=True)),
                _coverage_table(rows, report.unsupported)]
    out += ["<h2>Failures and skips</h2>", _failures(report),
            "<h2>Environment</h2>", _environment(report, heat, charts),
            "<h2>Provenance</h2>", _provenance(report),
            "<h2>All results</h2>", results_table(rows)]
    return "".join(out)


def render_run_report(report: RunReport, *, heat: HeatPolicy | None = None) -> str:
    """The single-file report: works offline (plotly.js inlined once)."""
    body = run_report_body(report, heat=heat or HeatPolicy())
    return page(f"tflite-farm run {report.run.id}", body, root="", nav=False,
                inline_plotly=True)


def render_compare_report(report: CompareReport, *, limit: int = 40) -> str:
    """Run B against run A: per series the change of the median in percent with both runs'
    session spreads, largest change first; series in only one run are listed apart."""
    a, b = report.a, report.b
    changes = compare_runs(report.a_rows, report.b_rows)
    keys = {(c.device, c.model, c.config) for c in changes}
    only = [(label, r) for label, rows in (("A", report.a_rows), ("B", report.b_rows))
            for r in rows if (r.device, r.model, r.config) not in keys]
    slower = sum(c.change_pct > 0 for c in changes)
    rows = [
        [esc(c.device), esc(c.model), esc(c.config), num(c.before_ms),
         f"{num(c.before_spread[0])}-{num(c.before_spread[1])} ({c.before_sessions})",
         num(c.after_ms),
         f"{num(c.after_spread[0])}-{num(c.after_spread[1])} ({c.after_sessions})",
         f"<b class='{'slower' if c.change_pct > 0 else 'faster'}'>{c.change_pct:+.1f}%</b>",
         f"{c.low_pct:+.1f}% to {c.high_pct:+.1f}%"]
        for c in changes
    ]
    body = "".join([
        f"<h1>Run {esc(b.id)} vs run {esc(a.id)}</h1>",
        f"<div class='meta'>A: {esc(a.id)} ({esc(a.trigger)}, {esc(when(a.created_at))}) "
        f"&middot; B: {esc(b.id)} ({esc(b.trigger)}, {esc(when(b.created_at))}) &middot; "
        "change = median B / median A - 1</div>",
        "<div class='cards'>", _card(len(changes), "series in both"),
        _card(slower, "slower in B"), _card(len(changes) - slower, "faster or equal in B"),
        _card(len(only), "series in one run only"), "</div>",
        chart(compare_figure(changes, limit), "compare-1"),
        "<h2>Every series, largest change first</h2>",
        table(("device", "model", "config", "A median ms", "A spread (sessions)",
               "B median ms", "B spread (sessions)", "change", "change range"), rows,
              numeric=(3, 4, 5, 6, 7, 8), table_id="changes",
              empty="no series was measured in both runs"),
        "<h2>Series measured in one run only</h2>",
        table(("run", "device", "model", "config", "status", "median ms"), [
            [label, esc(r.device), esc(r.model), esc(r.config), badge(r.status),
             num(r.value_ms)] for label, r in only], numeric=(5,), table_id="only",
            empty="none"),
    ])
    return page(f"tflite-farm: run {b.id} vs {a.id}", body, root="", nav=False,
                inline_plotly=True)
