"""Plain-text (terminal) and Markdown renderings of a report; HTML is in `html.py`.

Table cells are made printable in `tables.py`; the notes and chat lines here go through the same
`shared.terminal.printable`, so no string from the rollups reaches a terminal unescaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.reports.tables import (
    RIGHT,
    Table,
    headline,
    period_line,
    report_tables,
    title,
)
from shared.terminal import printable

EMPTY = "no activity in this period"


def _footer(report: Mapping[str, Any]) -> str:
    generated = report["generated_at"]
    stamp = generated.strftime("%Y-%m-%d %H:%M %Z") if hasattr(generated, "strftime") else ""
    source = report.get("source") or {}
    return (
        f"generated {stamp}; prices {report['price_version']}; "
        f"{source.get('documents_read', 0)} rollup document(s) read"
    )


def _text_table(table: Table) -> list[str]:
    widths = [
        max(len(cell) for cell in column) for column in zip(table.headers, *table.rows, strict=True)
    ]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(width) if align == RIGHT else cell.ljust(width)
            for cell, width, align in zip(cells, widths, table.align, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    rule = "  " + "  ".join("-" * width for width in widths)
    return [table.title, line(table.headers), rule, *(line(row) for row in table.rows)]


def to_text(report: Mapping[str, Any]) -> str:
    """Readable fixed-width tables for a terminal (`aiexec report --format text`)."""
    lines = [title(report), period_line(report), "", headline(report), ""]
    for table in report_tables(report):
        if table.empty:
            lines += [table.title, f"  {table.when_empty or EMPTY}"]
        else:
            lines += _text_table(table)
        lines.append("")
    lines += [f"note: {printable(note)}" for note in report.get("notes") or []]
    lines.append(_footer(report))
    return "\n".join(lines) + "\n"


def _md_cell(cell: str) -> str:
    return cell.replace("|", "\\|") or " "


def _md_table(table: Table) -> list[str]:
    rule = ["---:" if align == RIGHT else "---" for align in table.align]
    return [
        f"## {table.title}",
        "",
        "| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
        "| " + " | ".join(rule) + " |",
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows),
    ]


def to_markdown(report: Mapping[str, Any]) -> str:
    """The Markdown stored on `reports/{id}.markdown` (and posted/attached where useful)."""
    lines = [f"# {title(report)}", "", f"{period_line(report)}", "", f"**{headline(report)}**", ""]
    for table in report_tables(report):
        if table.empty:
            lines += [
                f"## {table.title}",
                "",
                f"_{table.when_empty}_" if table.when_empty else EMPTY,
            ]
        else:
            lines += _md_table(table)
        lines.append("")
    if report.get("notes"):
        lines += ["## Notes", "", *(f"- {printable(note)}" for note in report["notes"]), ""]
    lines.append(f"_{_footer(report)}_")
    return "\n".join(lines) + "\n"


def chat_message(report: Mapping[str, Any]) -> str:
    """A short message for Slack / Google Chat (both render `*bold*` and ``` blocks)."""
    providers = ", ".join(
        f"{name} {row['tasks']} tasks / ${row['cost_usd']:.4f}"
        for name, row in report["by_provider"].items()
    )
    failures = ", ".join(f"{f['reason']} x{f['count']}" for f in report["top_failures"][:3])
    lines = [
        f"*{title(report)}* - {period_line(report)}",
        headline(report),
        f"Providers: {providers or 'none'}",
    ]
    if failures:
        lines.append(f"Top failures: {failures}")
    batch = (report.get("by_lane") or {}).get("batch") or {}
    if batch.get("tasks") or batch.get("calls"):
        lines.append(
            f"Batch lane: {batch['tasks']} tasks / ${batch['cost_usd']:.4f}, "
            f"saved ${batch['saved_usd']:.4f} vs online prices"
        )
    lines += [f"Note: {note}" for note in report.get("notes") or []]
    return "\n".join(printable(line) for line in lines)
