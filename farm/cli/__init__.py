"""The ``farm`` command line: one module per command or command group, named after it, each command
one call into a use case (``farm.*``) plus formatting.

``COMMANDS`` maps every name to its module; a module is imported only when its command runs (or
for ``farm --help``), so a command pays only for what it uses. ``FarmError`` is caught in one
place, ``main()``, and turned into a one-line message on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

# typer vendors click; TyperGroup's methods take (and give) the vendored click's types
from typer._click import Command, Context
from typer.core import TyperGroup

from farm.cli._output import err_console
from orchestrator.config import load_settings
from orchestrator.errors import FarmError
from orchestrator.secrets import mask_text

__all__ = ["COMMANDS", "app", "main"]

#: command name -> its module in this package, in help order
COMMANDS = {
    "submit": "submit", "resume": "resume", "results": "results", "report": "report", "nightly": "nightly",
    "parse-log": "parse_log", "import-log": "import_log", "worker": "worker", "beat": "beat",
    "watch": "watch", "cancel": "cancel", "runs": "runs", "dashboard": "dashboard",
    "regressions": "regressions", "devices": "devices", "tools": "tools", "models": "models",
    "config": "config", "db": "db",
}


class _Commands(TyperGroup):
    """The root group: commands come from their modules, imported on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}")
        command = typer.main.get_command(module.app)
        command.name = cmd_name  # a group's app carries no name of its own
        return command


app = typer.Typer(
    name="farm",
    cls=_Commands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Benchmark TensorFlow Lite / LiteRT models on farms of Android phones."""


def _credentials() -> tuple[str, ...]:
    try:
        return load_settings().credentials
    except FarmError:  # a broken configuration: the URLs in a message are masked all the same
        return ()


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)
    except FarmError as exc:
        # the last guard: a driver's message quoting a URL or a password is masked here too
        credentials = _credentials()
        err_console.print(f"[bold red]error:[/] {escape(mask_text(exc.message, credentials))}")
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {escape(mask_text(exc.hint, credentials))}")
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
