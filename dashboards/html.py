"""HTML building blocks shared by the report and the site: escaping, tables, charts, the page shell.

Pure string functions. Every value goes through ``esc`` (or ``link``, which escapes both its
target and its text) before it reaches markup; table cells are markup, so callers escape first.
Charts are embedded without plotly.js: the page shell loads it once, either inline (the offline
single-file report) or from a ``plotly.min.js`` beside the site's pages.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import plotly.io as pio
from plotly.offline import get_plotlyjs

__all__ = ["badge", "chart", "esc", "link", "num", "page", "plotly_js", "slug", "table", "when"]

CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--accent:#0969da;
--bad:#cf222e;--warn:#9a6700;--good:#1a7f37}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:var(--fg);
background:#fff;font-size:14px;line-height:1.45}
header.top{background:#24292f;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.5rem;
align-items:center;flex-wrap:wrap}
header.top a{color:#e6edf3;text-decoration:none;font-weight:500}
header.top a:hover{text-decoration:underline}
header.top .brand{font-weight:700;color:#fff;margin-right:.5rem}
main{max-width:1280px;margin:0 auto;padding:1.2rem 1.5rem 3rem}
h1{font-size:1.5rem;margin:.4rem 0 .2rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:2rem 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
.meta{color:var(--muted);margin-bottom:1rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid var(--line);border-radius:8px;padding:.6rem 1rem;min-width:130px;
background:var(--bg)}
.card b{display:block;font-size:1.35rem}.card span{color:var(--muted);font-size:.8rem}
.scroll{overflow-x:auto;max-height:640px;overflow-y:auto;border:1px solid var(--line);
border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.82rem}
th,td{border-bottom:1px solid var(--line);padding:.3rem .55rem;text-align:left;
vertical-align:top}
th{background:var(--bg);position:sticky;top:0;z-index:1;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.mono,span.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.78rem;
overflow-wrap:anywhere}
tr:hover td{background:#fafbfc}
.badge{display:inline-block;border-radius:10px;padding:0 .5rem;font-size:.78rem;
font-weight:600;background:#eaeef2}
.done,.healthy,.ok,.full,.faster{color:var(--good)}
.failed,.failing,.offline,.hot,.none,.slower{color:var(--bad)}
.skipped,.stale,.partial,.incomplete,.idle{color:var(--warn)}
.moved{color:var(--accent)}
.badge.done,.badge.healthy,.badge.ok{background:#dafbe1}
.badge.failed,.badge.failing,.badge.offline,.badge.hot{background:#ffebe9}
.badge.skipped,.badge.stale,.badge.idle,.badge.incomplete{background:#fff8c5}
.badge.moved{background:#ddf4ff}
.chart{margin:1rem 0;border:1px solid var(--line);border-radius:8px;padding:.4rem}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1rem}
.note{color:var(--muted);font-size:.85rem}
a{color:var(--accent)}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def slug(name: str) -> str:
    """A file name for a page about ``name``: readable, safe in any URL and file system, and
    unique (a hash of the exact name, since different names can clean up the same way)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:48] or "x"
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def link(href: str, text: object) -> str:
    return f"<a href='{esc(quote(href, safe='/#.-_~'))}'>{esc(text)}</a>"


def badge(status: object) -> str:
    value = esc(status)
    return f"<span class='badge {value}'>{value}</span>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (),
          table_id: str | None = None, empty: str = "nothing to show") -> str:
    """A table of already-escaped cells; columns in ``numeric`` are right-aligned."""
    right = set(numeric)
    body = ["<tr>" + "".join(f"<td class='num'>{c}</td>" if i in right else f"<td>{c}</td>"
                             for i, c in enumerate(cells)) + "</tr>" for cells in rows]
    if not body:
        return f"<p class='note'>{esc(empty)}</p>"
    ident = f" id='{esc(table_id)}'" if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (f"<div class='scroll'><table{ident}><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def chart(fig: dict[str, Any], div_id: str) -> str:
    """A figure's div and drawing script, without plotly.js (the page shell provides it).

    ``fig`` is a figure dict from ``dashboards.figures``, already in the shape plotly.js draws,
    so Plotly's validation (which would rebuild it as graph objects) is skipped."""
    return "<div class='chart'>" + pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=div_id, validate=False,
        config={"displaylogo": False, "responsive": True}) + "</div>"


def plotly_js() -> str:
    return get_plotlyjs()


def page(title: str, body: str, *, root: str, nav: bool, inline_plotly: bool) -> str:
    """A whole page. ``title`` is plain text; ``body`` is markup. ``root`` is the relative path
    to the site's top (``""`` or ``"../"``); ``nav`` adds the site's navigation bar."""
    script = (f"<script>{plotly_js()}</script>" if inline_plotly
              else f"<script src='{esc(root)}plotly.min.js'></script>")
    top = ""
    if nav:
        top = ("<header class='top'><span class='brand'>tflite-farm</span>"
               + "".join(link(root + href, text) for href, text in (
                   ("index.html", "Fleet"), ("runs.html", "Runs"), ("models.html", "Models"),
                   ("trends.html", "Trends")))
               + "</header>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # no favicon request: a served site would answer it with a 404 in every console
            "<link rel='icon' href='data:,'>"
            f"<title>{esc(title)}</title><style>{CSS}</style>{script}</head>"
            f"<body>{top}<main>{body}</main></body></html>")
