"""``farm config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import typer

from farm.cli._output import console
from farm.cli._tables import Column, Format, FormatOption, JsonOption, Listing, WideOption, print_listing
from orchestrator.config import URL_SETTINGS, Settings, load_settings
from orchestrator.secrets import mask_url
from orchestrator.storage import database_url

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Show the effective configuration."""


def config_listing(current: Settings) -> Listing:
    rows = []
    for setting in current.values.values():
        value = setting.value
        if setting.name == "database_url":
            value = current.effective_database_url
            database_url(value)  # one that does not parse is refused here too, as by every command
        if setting.name in URL_SETTINGS and value:
            value = mask_url(str(value))
        rows.append({"name": setting.name, "value": value, "source": setting.source,
                     "description": setting.description})
    columns = (Column("setting", "name", name=True), Column("value", "value"),
               Column("source", "source"), Column("meaning", "description", drop=1))
    return Listing(f"farm configuration (file: {current.config_file or 'none'})", columns, rows)


@app.command("show")
def show(
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """Print every setting, its value and its source (default, farm.toml or environment)."""
    listing = config_listing(load_settings())
    print_listing(console, listing, Format.json if as_json else fmt, wide=wide)
