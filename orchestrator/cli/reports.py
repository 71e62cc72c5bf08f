"""``farm report`` (one run, or two compared) and ``farm dashboard build|serve``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli._common import console, err_console, settings
from orchestrator.cli.submit import report_path
from orchestrator.errors import ConfigError, NotFound
from orchestrator.queries import list_runs
from orchestrator.storage import session_scope

__all__ = ["register"]

dashboard_app = typer.Typer(help="The dashboard site: build it, or serve it.",
                            no_args_is_help=True)


def report(
    run_id: Annotated[str | None, typer.Argument(
        help="run id (a unique prefix is enough) [default: the newest run]")] = None,
    compare: Annotated[tuple[str, str] | None, typer.Option(
        "--compare", metavar="RUN_A RUN_B",
        help="compare two runs: change of every series from A to B")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file to write")
                      ] = None,
) -> None:
    """Write a self-contained HTML report (works offline) of one run, or of two compared."""
    from dashboards.data import load_compare, load_run_report
    from dashboards.report import render_compare_report, render_run_report
    from dashboards.site import write_page

    current = settings()
    if compare is not None and run_id is not None:
        raise ConfigError("give either a RUN or --compare RUN_A RUN_B, not both",
                          hint="farm report --compare RUN_A RUN_B")
    with session_scope(current) as db:
        if compare is not None:
            data = load_compare(db, *compare)
            page = render_compare_report(data)
            default = current.home_path / "reports" / f"compare-{data.a.id}-{data.b.id}.html"
        else:
            if run_id is None:
                newest = list_runs(db, limit=1)
                if not newest:
                    raise NotFound("there are no runs yet", hint="run `farm submit` first")
                run_id = newest[0].id
            loaded = load_run_report(db, run_id)
            page = render_run_report(loaded)
            default = report_path(current, loaded.run.id)
    console.print(f"report: {write_page(page, output or default)}")


@dashboard_app.command("build")
def build(
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="folder to write [default: FARM_HOME/dashboard]")] = None,
) -> None:
    """Render the whole site from the database into a folder (entry: DIR/index.html)."""
    from dashboards.site import build_site

    current = settings()
    folder = output or current.home_path / "dashboard"
    with session_scope(current) as db:
        stats = build_site(db, folder, datetime.now(UTC))
    console.print(f"dashboard: {folder / 'index.html'} ({stats.pages} pages, "
                  f"{stats.total_bytes / 1e6:.1f} MB, largest {escape(stats.largest_page)} "
                  f"{stats.largest_bytes / 1e6:.2f} MB, {stats.seconds:.1f} s)")


@dashboard_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port)")
                    ] = 8050,
    host: Annotated[str, typer.Option(help="address to bind; keep it on loopback unless the "
                                           "network in between is trusted")] = "127.0.0.1",
) -> None:
    """Serve the site, each page rendered from the database on request, until Ctrl-C."""
    from dashboards.serve import is_loopback, make_server

    current = settings()
    try:
        server = make_server(lambda: session_scope(current), host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint="pick another --port, or free that one") from exc
    if not is_loopback(host):
        err_console.print(f"[yellow]warning:[/] serving on {escape(host)}: anyone who can reach "
                          "it sees every result, with no login")
    console.print(f"dashboard: http://{escape(host)}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.add_typer(dashboard_app, name="dashboard")
