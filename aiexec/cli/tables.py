"""The CLI's terminal tables, drawn by rich, safe for text that clients and providers wrote.

Every cell goes through `shared.terminal.printable` (control characters shown escaped, never
obeyed) and reaches rich as a `Text`, never as a string rich would parse; the console has
markup, emoji codes and highlighting off as well, so a model name such as `[blink]x[/]` or
`:fire:` prints exactly as stored. A table is as wide as its content — never wrapped or cut to
the terminal's width — so a pipe, a CI log or `grep` sees one line per row; trailing padding is
removed. On a terminal the header is bold; anywhere else the output is plain text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from rich.console import Console, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from shared.terminal import printable

UNBOUNDED_WIDTH = 10_000  # wider than any table: a row is never wrapped


def safe_console(stream: TextIO, *, width: int | None = UNBOUNDED_WIDTH) -> Console:
    """A rich console that interprets nothing in what it prints (no markup, emoji, highlight);
    `width=None`: the terminal's."""
    return Console(
        file=stream,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )


def cell(value: object, justify: JustifyMethod = "left") -> Text:
    """`value` as one line of inert text: control characters escaped, no markup parsed."""
    return Text(printable(value), justify=justify, no_wrap=True)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, right: Sequence[str] = ()
) -> Table:
    """Columns two spaces apart, no borders; the `right` columns aligned right (numbers)."""
    grid = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1), header_style="bold")
    # A Text cell keeps its own alignment, so each cell gets its column's.
    aligns: list[JustifyMethod] = ["right" if h in right else "left" for h in headers]
    for header, align in zip(headers, aligns, strict=True):
        grid.add_column(cell(header, align), no_wrap=True, justify=align)
    for row in rows:
        grid.add_row(*(cell(value, align) for value, align in zip(row, aligns, strict=True)))
    return grid


def render(renderable: RenderableType, stream: TextIO, *, indent: int = 0) -> str:
    """The text `renderable` prints as on `stream` (styled only if `stream` is a terminal),
    each line indented by `indent` spaces and without trailing blanks."""
    console = safe_console(stream)
    with console.capture() as captured:
        console.print(renderable)
    return "".join(" " * indent + line.rstrip() + "\n" for line in captured.get().splitlines())


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Sequence[str] = (),
    indent: int = 0,
    stream: TextIO | None = None,
) -> None:
    out = stream or sys.stdout
    out.write(render(table(headers, rows, right=right), out, indent=indent))
    out.flush()
