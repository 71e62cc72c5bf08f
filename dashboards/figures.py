"""Pure Plotly figure builders: rows in, ``go.Figure`` out. No I/O, no database.

Every string that came from a model file, a device or a user is HTML-escaped before it enters a
figure: Plotly renders a subset of HTML in labels, so a model named ``<b>x</b>`` would otherwise be
drawn bold (and anything that can be drawn can be abused).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence

import plotly.graph_objects as go

from orchestrator.queries import ResultRow

__all__ = ["inference_time_figure", "model_size_figure"]

_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 80},
           "legend": {"orientation": "h", "y": -0.2}}


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=False)


def inference_time_figure(rows: Sequence[ResultRow], device: str) -> go.Figure:
    """Median inference time per model, one bar per config, whiskers at the sessions' min / max."""
    by_config: dict[str, list[ResultRow]] = defaultdict(list)
    for row in rows:
        if row.device == device and row.value_ms is not None:
            by_config[row.config].append(row)
    fig = go.Figure()
    for config, items in by_config.items():
        fig.add_bar(
            name=_e(config),
            x=[_e(r.model) for r in items],
            y=[r.value_ms for r in items],
            error_y={"type": "data", "symmetric": False,
                     "array": [(r.max_ms or r.value_ms) - r.value_ms for r in items],  # type: ignore[operator]
                     "arrayminus": [r.value_ms - (r.min_ms or r.value_ms) for r in items]},  # type: ignore[operator]
            customdata=[[r.sessions] for r in items],
            hovertemplate="%{x}<br>%{y:.3f} ms (median of %{customdata[0]} sessions)"
                          "<extra>" + _e(config) + "</extra>",
        )
    fig.update_layout(title=f"Inference time on {_e(device)} (ms, median; whiskers: min-max "
                            "of sessions)", barmode="group", yaxis_title="ms", **_LAYOUT)
    return fig


def model_size_figure(rows: Sequence[ResultRow]) -> go.Figure:
    sizes = {r.model: r.size_mb for r in rows}
    names = sorted(sizes)
    fig = go.Figure(go.Bar(x=[_e(n) for n in names], y=[sizes[n] for n in names],
                           hovertemplate="%{x}<br>%{y:.3f} MB<extra></extra>",
                           marker_color="#4c78a8"))
    fig.update_layout(title="Model size (MB)", yaxis_title="MB", **_LAYOUT)
    return fig
