"""The per-run report: one self-contained HTML page (plotly.js inlined once, works offline).

``render_run_report`` builds the page as a string from query results; ``write_report`` is the only
function here that touches the file system. Every value shown is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.io as pio

from dashboards.figures import inference_time_figure, model_size_figure
from orchestrator.queries import ResultRow, RunSummary

__all__ = ["render_run_report", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}.meta{color:#666;margin-bottom:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}
th{background:#f5f5f5;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b00020}.skipped{color:#8a6d00}.done{color:#1b5e20}
.chart{margin:1.5rem 0}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _table(rows: Sequence[ResultRow]) -> str:
    head = ("device", "model", "provenance", "size MB", "config", "status", "median ms",
            "min ms", "max ms", "sessions", "init ms", "first ms", "peak MB", "coverage",
            "error")
    out = ["<table id='results'><thead><tr>", *(f"<th>{h}</th>" for h in head),
           "</tr></thead><tbody>"]
    for r in rows:
        error = f"{r.error_kind}: {r.error_message}" if r.error_kind else ""
        cells = [
            _e(r.device), _e(r.model), _e(r.provenance), _num(r.size_mb), _e(r.config),
            f"<span class='{_e(r.status)}'>{_e(r.status)}</span>", _num(r.value_ms),
            _num(r.min_ms), _num(r.max_ms), str(r.sessions), _num(r.init_ms),
            _num(r.first_inference_ms), _num(r.memory_peak_mb, 1), _e(r.delegate_coverage),
            _e(error),
        ]
        numeric = {3, 6, 7, 8, 9, 10, 11, 12}
        out.append("<tr>" + "".join(
            f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_run_report(run: RunSummary, rows: Sequence[ResultRow]) -> str:
    devices = sorted({r.device for r in rows})
    figures = [inference_time_figure(rows, device) for device in devices]
    if rows:
        figures.append(model_size_figure(rows))
    charts = []
    for i, fig in enumerate(figures):
        # plotly.js goes into the page once, with the first chart.
        charts.append("<div class='chart'>" + pio.to_html(
            fig, full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}",
            config={"displaylogo": False}) + "</div>")
    spec = run.spec
    meta = (f"run {_e(run.id)} &middot; {_e(run.status)} &middot; trigger {_e(run.trigger)} "
            f"&middot; created {_e(run.created_at.strftime('%Y-%m-%d %H:%M:%S'))} &middot; "
            f"{run.jobs} jobs: {run.done} done, {run.failed} failed, {run.skipped} skipped"
            f"<br>threads {_e(spec.get('threads'))} &middot; delegates "
            f"{_e(spec.get('delegates'))} &middot; {_e(spec.get('repeats'))} sessions per config")
    empty = "" if rows else "<p>This run has no jobs.</p>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tflite-farm run {_e(run.id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>tflite-farm run {_e(run.id)}</h1><div class='meta'>{meta}</div>{empty}"
        + "".join(charts)
        + "<h2>Results</h2>" + _table(rows)
        + "</body></html>"
    )


def write_report(page: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
