"""``farm dashboard build|serve``: the dashboard site, written to a folder or served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dashboards.serve import is_loopback
from farm.cli._output import console, err_console
from farm.reports import build_dashboard, dashboard_server
from orchestrator.config import load_settings
from orchestrator.errors import ConfigError

app = typer.Typer(help="The dashboard site: build it, or serve it.", no_args_is_help=True,
                  add_completion=False)


@app.command("build")
def build(
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="folder to write [default: FARM_HOME/dashboard]")] = None,
) -> None:
    """Render the whole site from the database into a folder (entry: DIR/index.html)."""
    index, stats = build_dashboard(load_settings(), output)
    console.print(f"dashboard: {index} ({stats.pages} pages, "
                  f"{stats.total_bytes / 1e6:.1f} MB, largest {escape(stats.largest_page)} "
                  f"{stats.largest_bytes / 1e6:.2f} MB, {stats.seconds:.1f} s)")


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port)")
                    ] = 8050,
    host: Annotated[str, typer.Option(help="address to bind; keep it on loopback unless the "
                                           "network in between is trusted")] = "127.0.0.1",
) -> None:
    """Serve the site, each page rendered from the database on request, until Ctrl-C."""
    try:
        server = dashboard_server(load_settings(), host, port)
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
