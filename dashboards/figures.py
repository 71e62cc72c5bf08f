"""Pure Plotly figure builders: rows in, a figure dict out. No I/O, no database.

A figure is the plain ``{"data": [...], "layout": {...}}`` that plotly.js draws, built directly
instead of through ``plotly.graph_objects``: validating every property of every trace (and
deep-copying the template into each figure) cost most of a big site's build. The dicts hold what
``go.Figure(...).to_dict()`` produced (the template and named colour scales are taken from Plotly
once, subplot grids from ``make_subplots`` once per shape), so the pages draw the same charts.

Every string that came from a model file, a device or a user is HTML-escaped before it enters a
figure: Plotly renders a subset of HTML in titles, legends, axis labels and hover text, so a model
named ``<b>x</b>`` would otherwise be drawn bold (and anything that can be drawn can be abused).

Point budgets: the builders draw what they are given; the queries bound it (one row per series, or
history folded into buckets). Traces switch to WebGL (``scattergl``) only past ``GL_POINTS``.
"""

from __future__ import annotations

import copy
import html
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.metrics import Change, Speedup
from orchestrator.queries import HistoryPoint, ResultRow, RunPool, SessionRow, TemperaturePoint

__all__ = [
    "GL_POINTS",
    "Figure",
    "TrendMarker",
    "compare_figure",
    "coverage_figure",
    "inference_time_figure",
    "memory_figure",
    "model_latency_figure",
    "model_size_figure",
    "pool_share_figure",
    "session_temperature_figure",
    "speedup_figure",
    "startup_figure",
    "temperature_history_figure",
    "thread_scaling_figure",
    "trend_figure",
]

#: Above this many points in a figure, scatter traces are drawn with WebGL.
GL_POINTS = 1500

#: A plotly.js figure: ``{"data": [trace, ...], "layout": {...}}``.
Figure = dict[str, Any]

_FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
_LAYOUT: dict[str, Any] = {
    "font": {"family": _FONT, "size": 12},
    "margin": {"l": 64, "r": 24, "t": 56, "b": 48}, "height": 420,
    "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
    "hoverlabel": {"font": {"family": _FONT}},
}
# One hue per delegate, lighter for fewer threads: a config keeps its colour on every chart.
_HUES = {"cpu": 212, "xnnpack": 145, "gpu": 28, "nnapi": 280}
_COVERAGE = (("skipped", "#d9d9d9"), ("failed", "#d62728"), ("none", "#ff9896"),
             ("partial", "#ffbb78"), ("full", "#2ca02c"))


@dataclass(frozen=True)
class TrendMarker:
    """A vertical marker on a trend chart (an alert, a change point): ``direction`` is "up" when
    latency got worse, "down" when it got better, anything else is neutral."""

    night: Any  # datetime or date, on the chart's x axis
    label: str
    direction: str = "up"


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=False)


def _config_colour(delegate: str, threads: int) -> str:
    hue = _HUES.get(delegate, 0)
    light = max(30, 62 - 8 * int(math.log2(max(threads, 1))))
    return f"hsl({hue},{55 if delegate in _HUES else 0}%,{light}%)"


@cache
def _template() -> dict[str, Any]:
    """The "plotly_white" template as every figure carries it (shared: never modified)."""
    return go.Figure(layout={"template": "plotly_white"}).to_dict()["layout"]["template"]


@cache
def _colorscale(name: str) -> list[Any]:
    """A named colour scale as Plotly's validation spells it out."""
    return go.layout.Coloraxis(colorscale=name).to_plotly_json()["colorscale"]


@cache
def _grid_layout(cols: int, titles: tuple[str, ...], spacing: float,
                 shared_yaxes: bool) -> dict[str, Any]:
    layout = make_subplots(rows=1, cols=cols, shared_yaxes=shared_yaxes,
                           subplot_titles=list(titles), horizontal_spacing=spacing
                           ).to_dict()["layout"]
    layout.pop("template", None)
    return layout


def _figure(*traces: dict[str, Any]) -> Figure:
    return {"data": list(traces), "layout": {}}


def _subplots(cols: int, titles: Sequence[str], spacing: float,
              shared_yaxes: bool = False) -> Figure:
    """One row of ``cols`` subplots (what ``make_subplots`` lays out)."""
    return {"data": [], "layout": copy.deepcopy(
        _grid_layout(cols, tuple(titles), spacing, shared_yaxes))}


def _cell(trace: dict[str, Any], col: int) -> dict[str, Any]:
    """``trace`` placed in subplot ``col`` of a one-row grid."""
    suffix = "" if col == 1 else str(col)
    return trace | {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merged key by key, anything else replaced (Plotly's ``update``)."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return into


def _axes(fig: Figure, letter: str) -> list[dict[str, Any]]:
    """Every x (or y) axis of the figure, creating the first one if there is none yet."""
    layout = fig["layout"]
    names = [k for k in layout if k == f"{letter}axis" or (
        k.startswith(f"{letter}axis") and k[5:].isdigit())] or [f"{letter}axis"]
    return [layout.setdefault(name, {}) for name in names]


def _title(text: str) -> dict[str, Any]:
    return {"title": {"text": text}}


def _layout(fig: Figure, title: str, **extra: Any) -> Figure:
    _merge(fig["layout"], {"title": {"text": title, "x": 0, "xanchor": "left",
                                     "font": {"size": 15}}} | _LAYOUT | extra)
    fig["layout"]["template"] = _template()
    return fig


def _empty(fig: Figure, text: str) -> Figure:
    fig["layout"].setdefault("annotations", []).append(
        {"font": {"color": "#777", "size": 14}, "showarrow": False, "text": _e(text), "x": 0.5,
         "xref": "paper", "y": 0.5, "yref": "paper"})
    for letter in "xy":
        for axis in _axes(fig, letter):
            axis["visible"] = False
    return fig


def _hline(fig: Figure, y: float, line: dict[str, Any], text: str | None = None) -> None:
    """A horizontal line across the plot, optionally labelled at its top left."""
    layout = fig["layout"]
    layout.setdefault("shapes", []).append(
        {"line": line, "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y,
         "yref": "y"})
    if text is not None:
        layout.setdefault("annotations", []).append(
            {"showarrow": False, "text": text, "x": 0, "xanchor": "left", "xref": "x domain",
             "y": y, "yanchor": "bottom", "yref": "y"})


def _configs(rows: Sequence[ResultRow]) -> list[tuple[str, int]]:
    return sorted({(r.delegate, r.threads) for r in rows},
                  key=lambda c: (list(_HUES).index(c[0]) if c[0] in _HUES else 9, c[0], c[1]))


def _latency_bars(rows: Sequence[ResultRow], category: Callable[[ResultRow], str],
                  title: str) -> Figure:
    measured = [r for r in rows if r.value_ms is not None]
    fig = _figure()
    for delegate, threads in _configs(measured):
        items = [r for r in measured if (r.delegate, r.threads) == (delegate, threads)]
        config = _e(f"{delegate} x{threads}")
        fig["data"].append({
            "type": "bar", "name": config, "x": [_e(category(r)) for r in items],
            "y": [r.value_ms for r in items],
            "marker": {"color": _config_colour(delegate, threads)},
            "error_y": {"type": "data", "symmetric": False, "thickness": 1.2, "width": 3,
                        "color": "#444",
                        "array": [(r.max_ms or r.value_ms) - r.value_ms  # type: ignore[operator]
                                  for r in items],
                        "arrayminus": [r.value_ms - (r.min_ms or r.value_ms)  # type: ignore[operator]
                                       for r in items]},
            "customdata": [[r.sessions, r.min_ms, r.max_ms] for r in items],
            "hovertemplate": "%{x}<br><b>%{y:.3f} ms</b> median of %{customdata[0]} sessions"
                             "<br>range %{customdata[1]:.3f} to %{customdata[2]:.3f} ms"
                             "<extra>" + config + "</extra>",
        })
    _layout(fig, title, barmode="group", yaxis=_title("ms (median of sessions)"),
            bargap=0.25, bargroupgap=0.05)
    return fig if measured else _empty(fig, "no successful measurement")


def inference_time_figure(rows: Sequence[ResultRow], device: str) -> Figure:
    """Median inference time per model on one device, one bar per config, whiskers at the
    sessions' min / max (the reference project's latency chart)."""
    return _latency_bars([r for r in rows if r.device == device], lambda r: r.model,
                         f"Inference time on {_e(device)} (ms, median; whiskers: min-max of "
                         "sessions)")


def model_latency_figure(rows: Sequence[ResultRow], model: str) -> Figure:
    """One model across devices: median inference time per device, one bar per config."""
    return _latency_bars([r for r in rows if r.model == model], lambda r: r.device,
                         f"Inference time of {_e(model)} by device (ms, median; whiskers: "
                         "min-max of sessions)")


def model_size_figure(rows: Sequence[ResultRow]) -> Figure:
    sizes = {r.model: r.size_mb for r in rows}
    names = sorted(sizes)
    fig = _figure({"type": "bar", "x": [_e(n) for n in names], "y": [sizes[n] for n in names],
                   "text": [f"{sizes[n]:.3g}" for n in names], "textposition": "outside",
                   "hovertemplate": "%{x}<br>%{y:.3f} MB<extra></extra>",
                   "marker": {"color": "#4c78a8"}})
    return _layout(fig, "Model size (MB)", yaxis=_title("MB"), showlegend=False)


def pool_share_figure(pool: RunPool) -> Figure:
    """Busy seconds per phone of a pool, each bar labelled with its share of the pool's work."""
    shares = [pool.share_pct(p) for p in pool.phones]
    fig = _figure({
        "type": "bar", "x": [_e(p.serial) for p in pool.phones],
        "y": [p.busy_s for p in pool.phones],
        "text": ["" if s is None else f"{s:.1f}%" for s in shares], "textposition": "outside",
        "customdata": [[p.jobs, p.sessions] for p in pool.phones],
        "hovertemplate": "%{x}<br><b>%{y:.1f} s</b> busy (%{text} of the pool's work)"
                         "<br>%{customdata[0]} jobs, %{customdata[1]} sessions<extra></extra>",
        "marker": {"color": "#4c78a8"}})
    _layout(fig, f"Busy seconds per phone of pool {_e(pool.selector)}", yaxis=_title("s"),
            showlegend=False, height=340)
    return fig if pool.busy_s > 0 else _empty(fig, "no session of this pool has run yet")


def thread_scaling_figure(rows: Sequence[ResultRow], title_scope: str) -> Figure:
    """Latency against thread count, one line per model x delegate x device (configs that ran
    with at least two thread counts)."""
    lines: dict[tuple[str, str, str], list[ResultRow]] = defaultdict(list)
    for r in rows:
        if r.value_ms is not None:
            lines[(r.model, r.delegate, r.device)].append(r)
    devices = {key[2] for key in lines}
    fig = _figure()
    for (model, delegate, device), items in sorted(lines.items()):
        items = sorted(items, key=lambda r: r.threads)
        if len({r.threads for r in items}) < 2:
            continue
        name = f"{model} · {delegate}" + (f" · {device}" if len(devices) > 1 else "")
        fig["data"].append({
            "type": "scatter", "name": _e(name), "x": [r.threads for r in items],
            "y": [r.value_ms for r in items], "mode": "lines+markers", "line": {"width": 2},
            "error_y": {"type": "data", "symmetric": False, "thickness": 1, "width": 3,
                        "array": [(r.max_ms or r.value_ms) - r.value_ms  # type: ignore[operator]
                                  for r in items],
                        "arrayminus": [r.value_ms - (r.min_ms or r.value_ms)  # type: ignore[operator]
                                       for r in items]},
            "hovertemplate": _e(name) + "<br>%{x} threads: <b>%{y:.3f} ms</b><extra></extra>",
        })
    _layout(fig, f"Thread scaling {_e(title_scope)} (ms, median; lower is better)",
            xaxis={"title": {"text": "threads"}, "type": "log", "dtick": math.log10(2)},
            yaxis=_title("ms"))
    return fig if fig["data"] else _empty(fig, "no config ran with more than one thread count")


def speedup_figure(speedups: Sequence[Speedup]) -> Figure:
    """Delegate speedup over CPU: a model x device heatmap per delegate, log2 colour centred on
    1x (blue: faster than CPU, red: slower), failed / skipped cells labelled."""
    delegates = sorted({s.delegate for s in speedups}, key=lambda d: list(_HUES).index(d)
                       if d in _HUES else 9)
    if not delegates:
        return _layout(_empty(_figure(), "no delegate configs in this data"),
                       "Delegate speedup over CPU", height=260)
    models = sorted({s.model for s in speedups})
    devices = sorted({s.device for s in speedups})
    fig = _subplots(len(delegates), [_e(d) for d in delegates], 0.04, shared_yaxes=True)
    cells = {(s.model, s.device, s.delegate): s for s in speedups}
    for col, delegate in enumerate(delegates, start=1):
        z, text, hover = [], [], []
        for model in models:
            zr, tr, hr = [], [], []
            for device in devices:
                s = cells.get((model, device, delegate))
                value = s.speedup if s else None
                zr.append(math.log2(value) if value else None)
                tr.append(f"{value:.2f}x" if value else (_e(s.note) if s else ""))
                hr.append("" if s is None else
                          f"{_e(model)} on {_e(device)}<br>{_e(delegate)}: "
                          + (f"<b>{value:.2f}x</b> ({s.cpu_ms:.3f} ms cpu / "
                             f"{s.delegate_ms:.3f} ms)<br>{_e(s.note)}" if value and s.cpu_ms
                             and s.delegate_ms else _e(s.note)))
            z.append(zr)
            text.append(tr)
            hover.append(hr)
        x, y = [_e(d) for d in devices], [_e(m) for m in models]
        fig["data"].append(_cell({
            "type": "heatmap", "z": z, "x": x, "y": y, "text": text, "texttemplate": "%{text}",
            "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>",
            "coloraxis": "coloraxis", "xgap": 2, "ygap": 2}, col))
        # Cells where the delegate did not run: grey, labelled, outside the speedup colour scale.
        grey = [[0 if zc is None and tc else None for zc, tc in zip(zr, tr, strict=True)]
                for zr, tr in zip(z, text, strict=True)]
        fig["data"].append(_cell({
            "type": "heatmap", "z": grey, "x": x, "y": y, "text": text,
            "texttemplate": "%{text}", "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>", "showscale": False,
            "colorscale": [[0, "#e1e4e8"], [1, "#e1e4e8"]], "xgap": 2, "ygap": 2}, col))
    height = max(300, 120 + 36 * len(models))
    _layout(fig, "Delegate speedup over CPU (fastest cpu config / fastest delegate config)",
            height=height, coloraxis={
                "colorscale": _colorscale("RdBu"), "cmid": 0, "cmin": -3, "cmax": 3,
                "colorbar": {"title": {"text": "speedup"},
                             "tickvals": [-3, -2, -1, 0, 1, 2, 3],
                             "ticktext": ["1/8x", "1/4x", "1/2x", "1x", "2x", "4x", "8x"]}})
    for axis in _axes(fig, "y"):
        axis["autorange"] = "reversed"
    return fig


def coverage_figure(rows: Sequence[ResultRow], unsupported: dict[str, tuple[str, ...]],
                    *, by_device: bool) -> Figure:
    """Delegate coverage (full / partial / none, failed, skipped) as a model x config matrix;
    the hover text lists the ops the delegate refused."""
    items = [r for r in rows if r.delegate != "cpu"]
    if not items:
        return _layout(_empty(_figure(), "no delegate configs in this data"),
                       "Delegate coverage", height=260)
    codes = {name: i for i, (name, _) in enumerate(_COVERAGE)}

    def column(r: ResultRow) -> str:
        return f"{r.device} · {r.delegate}" if by_device else r.delegate

    def verdict(r: ResultRow) -> str:
        if r.status in ("failed", "skipped"):
            return r.status
        return r.delegate_coverage or "none"

    models = sorted({r.model for r in items})
    columns = sorted({column(r) for r in items})
    cells: dict[tuple[str, str], ResultRow] = {}
    for r in items:
        key = (r.model, column(r))
        # several thread counts of one delegate: show the worst verdict
        if key not in cells or codes[verdict(r)] < codes[verdict(cells[key])]:
            cells[key] = r
    z: list[list[int | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for model in models:
        zr: list[int | None] = []
        tr: list[str] = []
        hr: list[str] = []
        for col in columns:
            cell = cells.get((model, col))
            if cell is None:
                zr.append(None)
                tr.append("")
                hr.append("")
                continue
            v = verdict(cell)
            ops = unsupported.get(cell.job_id, ())
            zr.append(codes[v])
            tr.append(v + (f" ({len(ops)} ops)" if ops else ""))
            detail = (f"<br>unsupported: {_e(', '.join(ops))}" if ops else "") + (
                f"<br>{_e(cell.error_kind)}: {_e((cell.error_message or '')[:160])}"
                if cell.error_kind else "")
            hr.append(f"{_e(model)} · {_e(col)}<br><b>{v}</b>{detail}")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    n = len(_COVERAGE)
    scale = []
    for i, (_, colour) in enumerate(_COVERAGE):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = _figure({
        "type": "heatmap", "z": z, "x": [_e(c) for c in columns], "y": [_e(m) for m in models],
        "text": text, "texttemplate": "%{text}", "hovertext": hover,
        "hovertemplate": "%{hovertext}<extra></extra>", "zmin": -0.5, "zmax": n - 0.5,
        "colorscale": scale, "xgap": 2, "ygap": 2,
        "colorbar": {"tickvals": list(range(n)), "ticktext": [name for name, _ in _COVERAGE],
                     "title": {"text": "coverage"}}})
    _layout(fig, "Delegate coverage (hover for the unsupported ops)",
            height=max(280, 120 + 36 * len(models)))
    for axis in _axes(fig, "y"):
        axis["autorange"] = "reversed"
    return fig


def _metric_subplots(rows: Sequence[ResultRow], metrics: Sequence[tuple[str, str]],
                     title: str, unit: str) -> Figure:
    measured = [r for r in rows if any(getattr(r, m) is not None for m, _ in metrics)]
    fig = _subplots(len(metrics), [t for _, t in metrics], 0.08)
    for delegate, threads in _configs(measured):
        items = [r for r in measured if (r.delegate, r.threads) == (delegate, threads)]
        config = _e(f"{delegate} x{threads}")
        for col, (metric, _) in enumerate(metrics, start=1):
            fig["data"].append(_cell({
                "type": "bar", "name": config, "legendgroup": config, "showlegend": col == 1,
                "x": [_e(r.model) for r in items], "y": [getattr(r, metric) for r in items],
                "marker": {"color": _config_colour(delegate, threads)},
                "hovertemplate": "%{x}<br><b>%{y:.3f} " + unit + "</b><extra>" + config
                                 + "</extra>"}, col))
    _layout(fig, title, barmode="group")
    fig["layout"]["yaxis"]["title"] = {"text": unit}
    return fig if measured else _empty(fig, "no successful measurement")


def startup_figure(rows: Sequence[ResultRow], device: str) -> Figure:
    return _metric_subplots([r for r in rows if r.device == device],
                            (("init_ms", "init"), ("first_inference_ms", "first inference")),
                            f"Start-up on {_e(device)} (ms, mean of sessions)", "ms")


def memory_figure(rows: Sequence[ResultRow], device: str) -> Figure:
    return _metric_subplots([r for r in rows if r.device == device],
                            (("memory_peak_mb", "peak memory"),),
                            f"Memory on {_e(device)} (MB, highest of sessions)", "MB")


def session_temperature_figure(sessions: Sequence[SessionRow], hot: Sequence[bool],
                               hot_c: float) -> Figure:
    """Each session's temperature before and after, in run order; hot sessions in red."""
    n = len(sessions)
    scatter = "scattergl" if 2 * n > GL_POINTS else "scatter"
    labels = [f"{_e(s.device)} · {_e(s.model)} · {_e(s.config)} #{s.repeat_index}"
              for s in sessions]
    order = list(range(1, n + 1))
    fig = _figure(
        {"type": scatter, "name": "before", "x": order, "y": [s.temp_before_c for s in sessions],
         "mode": "markers", "marker": {"color": "#4c78a8", "size": 7}, "text": labels,
         "hovertemplate": "%{text}<br>before %{y:.1f} °C<extra></extra>"},
        {"type": scatter, "name": "after", "x": order, "y": [s.temp_after_c for s in sessions],
         "mode": "markers",
         "marker": {"color": ["#d62728" if h else "#f58518" for h in hot], "size": 9,
                    "symbol": "diamond"},
         "text": [lbl + (" <b>(hot)</b>" if h else "")
                  for lbl, h in zip(labels, hot, strict=True)],
         "hovertemplate": "%{text}<br>after %{y:.1f} °C<extra></extra>"})
    _hline(fig, hot_c, {"color": "#d62728", "dash": "dot"}, f"hot ({hot_c:g} °C)")
    return _layout(fig, "Temperature per session (before / after; red: ran hot)",
                   xaxis=_title("session (run order)"), yaxis=_title("°C"), height=360)


def temperature_history_figure(points: Sequence[TemperaturePoint], hot_c: float) -> Figure:
    fig = _figure()
    days = [p.day for p in points]
    scatter = "scattergl" if 3 * len(points) > GL_POINTS else "scatter"
    customdata = [[p.sessions, p.hot] for p in points]
    for name, values, colour in (
            ("before (mean)", [p.before_c for p in points], "#4c78a8"),
            ("after (mean)", [p.after_c for p in points], "#f58518"),
            ("after (max)", [p.after_max_c for p in points], "#d62728")):
        fig["data"].append({
            "type": scatter, "name": name, "x": days, "y": values, "mode": "lines+markers",
            "line": {"width": 1.5}, "marker": {"size": 4, "color": colour},
            "customdata": customdata,
            "hovertemplate": "%{x|%Y-%m-%d}: %{y:.1f} °C<br>%{customdata[0]} "
                             "sessions, %{customdata[1]} hot<extra>" + name + "</extra>"})
    _hline(fig, hot_c, {"color": "#d62728", "dash": "dot"})
    _layout(fig, "Temperature history (°C)", yaxis=_title("°C"), height=340)
    return fig if points else _empty(fig, "no sessions yet")


def trend_figure(points: Sequence[HistoryPoint], title: str,
                 label: Callable[[HistoryPoint], str],
                 markers: Sequence[TrendMarker] = ()) -> Figure:
    """Nightly values, one line per series (``label`` names it), with optional markers drawn
    as vertical lines. Bucketed points show the range of their nights in the hover text."""
    series: dict[str, list[HistoryPoint]] = defaultdict(list)
    for p in points:
        series[label(p)].append(p)
    scatter = "scattergl" if len(points) > GL_POINTS else "scatter"
    fig = _figure()
    for name, items in sorted(series.items()):
        fig["data"].append({
            "type": scatter, "name": _e(name), "x": [p.night for p in items],
            "y": [p.value_ms for p in items],
            "mode": "lines+markers" if len(items) < 200 else "lines",
            "marker": {"size": 4}, "line": {"width": 1.5},
            "customdata": [[p.low_ms, p.high_ms, p.nights] for p in items],
            "hovertemplate": _e(name) + "<br>%{x|%Y-%m-%d}: <b>%{y:.3f} ms</b><br>"
                             "range %{customdata[0]:.3f} to %{customdata[1]:.3f} ms over "
                             "%{customdata[2]} nights<extra></extra>"})
    layout = fig["layout"]
    for m in markers:
        colour = {"up": "#d62728", "down": "#2ca02c"}.get(m.direction, "#777")
        layout.setdefault("shapes", []).append(
            {"line": {"color": colour, "dash": "dash", "width": 1}, "type": "line",
             "x0": m.night, "x1": m.night, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain"})
        layout.setdefault("annotations", []).append(
            {"font": {"color": colour, "size": 11}, "showarrow": False, "text": _e(m.label),
             "x": m.night, "xanchor": "left", "y": 1, "yanchor": "top", "yref": "paper"})
    _layout(fig, title, yaxis=_title("ms (nightly median)"), height=460,
            legend={"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 11}},
            margin={"l": 64, "r": 24, "t": 56, "b": 48})
    return fig if points else _empty(fig, "no nightly runs yet")


def compare_figure(changes: Sequence[Change], limit: int = 40) -> Figure:
    """Change of the median per series in percent (largest first), whiskers at the range the
    two runs' session spreads allow. Red: slower, green: faster."""
    shown = list(changes[:limit])[::-1]  # largest at the top
    names = [_e(f"{c.device} · {c.model} · {c.config}") for c in shown]
    fig = _figure({
        "type": "bar", "orientation": "h", "y": names, "x": [c.change_pct for c in shown],
        "marker": {"color": ["#d62728" if c.change_pct > 0 else "#2ca02c" for c in shown]},
        "error_x": {"type": "data", "symmetric": False, "color": "#444", "thickness": 1,
                    "array": [c.high_pct - c.change_pct for c in shown],
                    "arrayminus": [c.change_pct - c.low_pct for c in shown]},
        "customdata": [[c.before_ms, c.after_ms] for c in shown],
        "hovertemplate": "%{y}<br><b>%{x:+.1f}%</b> (%{customdata[0]:.3f} -> "
                         "%{customdata[1]:.3f} ms)<extra></extra>"})
    more = f" (largest {limit} of {len(changes)})" if len(changes) > limit else ""
    _layout(fig, f"Change of the median, B vs A (%){more}; whiskers: session spreads",
            xaxis={"title": {"text": "% (positive: slower)"}, "zeroline": True,
                   "zerolinewidth": 2},
            height=max(300, 110 + 26 * len(shown)), showlegend=False,
            margin={"l": 280, "r": 24, "t": 56, "b": 48})
    return fig if shown else _empty(fig, "no series was measured in both runs")
