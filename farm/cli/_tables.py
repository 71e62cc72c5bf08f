"""Tables that read at 80 columns and in pipes, and the same rows as CSV or JSON.

A table is a ``Listing``: columns and rows of raw values. ``--format csv|json`` prints every
column's raw values; the table fits the console's width (80 when stdout is not a terminal):

- a *name* column (model, device, run id: what users type or grep) is never wrapped or cut;
- a column whose every row holds the same value moves into the title (``device: local``);
- optional columns are dropped, lowest ``drop`` first, until the rest fits; ``--wide`` keeps all;
- what still does not fit is cut with "…" in the non-name columns, one line per row; when the
  names alone are wider than the console, the table is printed wider rather than break one.

Cells are ``rich.text.Text``, never markup, so a name with brackets prints as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "Format", "FormatOption", "JsonOption", "Listing", "WideOption", "fit",
           "print_listing", "render_table"]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f",
                                              help="table, or every column as csv or json")]
WideOption = Annotated[bool, typer.Option("--wide", help="every column, however wide the table")]
#: the ``--json`` flag these commands had before ``--format``, kept for scripts that use it
JsonOption = Annotated[bool, typer.Option("--json", help="same as --format json")]

_MIN_CUT = 6  # a cut column keeps at least this many characters (or its header's)


@dataclass(frozen=True)
class Column:
    header: str
    key: str  # the row's field: its name in CSV and JSON
    name: bool = False  # a name or id: always shown whole
    drop: int = 0  # 0: always shown; else dropped when the table is too wide, 1 first
    hoist: bool = False  # one value in every row: shown in the title instead
    justify: Literal["left", "right"] = "left"
    show: Callable[[Any], str] = str  # the text of a value; never called with a missing one
    missing: str = "-"  # the text of a missing value (None or "")
    style: Callable[[Any], str] = lambda _value: ""

    def text(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        return self.missing if value is None or value == "" else self.show(value)


@dataclass(frozen=True)
class Listing:
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    empty: str = "nothing to show"  # printed instead of an empty table
    export: tuple[str, ...] = ()  # the fields of CSV and JSON; default: the columns' keys

    @property
    def fields(self) -> list[str]:
        return list(self.export) or [c.key for c in self.columns]


@dataclass(frozen=True)
class Fitted:
    title: str
    columns: list[Column]
    widths: list[int]

    @property
    def width(self) -> int:
        return _table_width(self.widths)


def _table_width(widths: Sequence[int]) -> int:
    # no vertical rules, no outer padding: two spaces between columns (``render_table``)
    return sum(widths) + 2 * max(len(widths) - 1, 0)


def _natural(column: Column, rows: Sequence[dict[str, Any]]) -> int:
    return max([len(column.header), *(len(column.text(row)) for row in rows)])


def fit(listing: Listing, width: int, *, wide: bool = False) -> Fitted:
    """Which columns to show, and how wide, for a console ``width`` characters wide."""
    title = listing.title
    columns = list(listing.columns)
    if wide:
        return Fitted(title, columns, [_natural(c, listing.rows) for c in columns])
    hoisted = []
    for column in listing.columns:
        values = {column.text(row) for row in listing.rows}
        if column.hoist and len(values) == 1 and len(listing.rows) > 1:
            hoisted.append(f"{column.header}: {values.pop()}")
            columns.remove(column)
    if hoisted:
        title = f"{title} ({', '.join(hoisted)})"
    widths = {c.key: _natural(c, listing.rows) for c in columns}
    for column in sorted((c for c in columns if c.drop), key=lambda c: c.drop):
        if _table_width(list(widths.values())) <= width:
            break
        columns.remove(column)
        del widths[column.key]
    # Still too wide: cut the widest non-name column, a character at a time.
    while _table_width(list(widths.values())) > width:
        cuttable = [c for c in columns if not c.name
                    and widths[c.key] > max(_MIN_CUT, len(c.header))]
        if not cuttable:
            break  # names alone are wider than the console: the table is printed wider
        widest = max(cuttable, key=lambda c: widths[c.key])
        widths[widest.key] -= 1
    return Fitted(title, columns, [widths[c.key] for c in columns])


def render_table(listing: Listing, width: int, *, wide: bool = False) -> tuple[Table, int]:
    """The rich table for a console ``width`` wide, and the width to print it at."""
    fitted = fit(listing, width, wide=wide)
    # A rule under the header and two spaces between columns: the kubectl look, which leaves the
    # most room for names and reads the same in a terminal and in a pipe.
    table = Table(title=fitted.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True, title_justify="left")
    for column, column_width in zip(fitted.columns, fitted.widths, strict=True):
        table.add_column(column.header, justify=column.justify, width=column_width, no_wrap=True,
                         overflow="ignore" if column.name else "ellipsis")
    for row in listing.rows:
        table.add_row(*(Text(c.text(row), style=c.style(row.get(c.key)))
                        for c in fitted.columns))
    return table, max(width, fitted.width)


def _csv(listing: Listing) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=listing.fields, extrasaction="ignore")
    writer.writeheader()
    for row in listing.rows:
        writer.writerow({key: row.get(key) for key in listing.fields})
    return buffer.getvalue()


def print_listing(console: Console, listing: Listing, fmt: Format = Format.table, *,
                  wide: bool = False) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps([{key: row.get(key) for key in listing.fields}
                               for row in listing.rows], indent=2, default=str))
    elif fmt is Format.csv:
        typer.echo(_csv(listing), nl=False)
    elif not listing.rows:
        console.print(Text(listing.empty))
    else:
        table, width = render_table(listing, console.width, wide=wide)
        if width > console.width:
            # names alone are wider than the console: a wider canvas rather than a broken name
            console = Console(file=console.file, width=width, highlight=False,
                              color_system=console.color_system,  # type: ignore[arg-type]
                              force_terminal=console.is_terminal)
        console.print(table)
