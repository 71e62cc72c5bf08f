"""The ``farm`` command line: thin Typer commands over library functions.

Each submodule registers its commands with ``register(app)``. ``FarmError`` is caught in one place,
``main()``, and turned into a one-line message on stderr and the error's exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from orchestrator.cli._common import err_console
from orchestrator.errors import FarmError

app = typer.Typer(
    name="farm",
    help="Benchmark TensorFlow Lite / LiteRT models on farms of Android phones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



_registered = False


def get_app() -> typer.Typer:
    """The root app with every command registered (imported lazily: modules import this package)."""
    global _registered
    if not _registered:
        from orchestrator.cli import commands

        commands.register(app)
        _registered = True
    return app


def main(argv: list[str] | None = None) -> None:
    try:
        code = get_app()(args=argv, standalone_mode=False)
    except FarmError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {escape(exc.hint)}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (exit code 2) and friends
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            err_console.print(f"error: {escape(exc.format_message())}")
        sys.exit(exc.exit_code)
    # Without standalone mode, click returns the code of typer.Exit instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)
