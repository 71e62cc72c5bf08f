"""``farm parse-log FILE [--json]``: what the benchmark output parser finds in a saved log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from farm.cli._output import console, fmt_ms
from farm.logs import read_log
from orchestrator.results import ParsedRun
from workers.tools.benchmark_output import parse_output

__all__ = ["app", "render_run"]

app = typer.Typer(add_completion=False)

_MS_FIELDS = (
    ("init", "init_ms"),
    ("first inference", "first_inference_ms"),
    ("warmup avg", "warmup_avg_ms"),
    ("inference avg", "inference_avg_ms"),
    ("inference std", "inference_std_ms"),
    ("inference min", "inference_min_ms"),
    ("inference max", "inference_max_ms"),
    ("inference median", "inference_median_ms"),
)
_MB_FIELDS = (
    ("model size", "model_size_mb"),
    ("memory init", "memory_init_mb"),
    ("memory overall", "memory_overall_mb"),
    ("memory peak", "memory_peak_mb"),
)


def _fmt(value: float | int | None, unit: str) -> str:
    return "-" if value is None else f"{value} {unit}"


def render_run(run: ParsedRun, title: str) -> Group:
    """One invocation as a field table, followed by its op profile when there is one."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    # Log text goes in as Text: op names like "[model/conv]:0" would otherwise be read as markup.
    table.add_row("status", run.status)
    for label, name in _MS_FIELDS:
        value = getattr(run, name)
        table.add_row(label, "-" if value is None else f"{fmt_ms(value)} ms")
    table.add_row("inference count", _fmt(run.inference_count, "runs"))
    table.add_row("threads", "-" if run.num_threads is None else str(run.num_threads))
    for label, name in _MB_FIELDS:
        table.add_row(label, _fmt(getattr(run, name), "MB"))
    delegate = run.delegate
    if delegate is None:
        table.add_row("delegate", "-")
    else:
        nodes = (
            f"{delegate.nodes_delegated}/{delegate.nodes_total} nodes"
            if delegate.nodes_delegated is not None and delegate.nodes_total is not None
            else None
        )
        parts = [
            delegate.name,
            f"coverage {delegate.coverage}" if delegate.coverage else None,
            nodes,
            f"{delegate.partitions} partitions" if delegate.partitions is not None else None,
            f"{delegate.kernels} kernels" if delegate.kernels is not None else None,
        ]
        table.add_row("delegate", Text(", ".join(p for p in parts if p)))
        if delegate.unsupported_ops:
            table.add_row("unsupported ops", Text(", ".join(delegate.unsupported_ops)))
    if run.error is not None:
        table.add_row("error", Text(f"{run.error.kind}: {run.error.message}"))
    if not run.ops:
        return Group(table)
    ops = Table(title="op profile (regular runs)", title_justify="left")
    ops.add_column("node type", no_wrap=True, min_width=max(len(op.node_type) for op in run.ops))
    ops.add_column("name", overflow="fold")
    for column in ("avg ms", "%", "times called"):
        ops.add_column(column, justify="right")
    for op in run.ops:
        ops.add_row(
            Text(op.node_type),
            Text(op.name),
            fmt_ms(op.avg_ms),
            "-" if op.percent is None else f"{op.percent:.3f}",
            "-" if op.times_called is None else str(op.times_called),
        )
    return Group(table, ops)


@app.command("parse-log")
def parse_log(
    file: Annotated[Path, typer.Argument(help="a saved benchmark_model output or logcat dump")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON list of parsed invocations")
    ] = False,
) -> None:
    """Show every benchmark invocation found in FILE: timings (ms), memory, delegate, errors."""
    runs = parse_output(read_log(file))
    if as_json:
        typer.echo(json.dumps([run.to_json() for run in runs], indent=2))
        return
    for index, run in enumerate(runs, start=1):
        console.print(render_run(run, f"{file.name}: invocation {index} of {len(runs)}"))
