"""The HTML rendering: a self-contained page (inline CSS, the chart embedded).

For the stored file and the browser the chart is a `data:` URI; e-mail clients often block
those, so the mailer passes a `cid:` reference to an inline attachment instead.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from typing import Any

from shared.reports.render import EMPTY
from shared.reports.tables import RIGHT, Table, headline, period_line, report_tables, title
from shared.terminal import printable

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222;margin:24px;}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.period{color:#666;margin-bottom:12px}.headline{font-weight:600;margin:12px 0}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #ddd}
th{background:#f4f4f4;text-align:left}td.r,th.r{text-align:right}
.note{color:#8a5a00}.footer{color:#888;font-size:12px;margin-top:24px}
"""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(table: Table) -> str:
    def cls(align: str) -> str:
        return ' class="r"' if align == RIGHT else ""

    head = "".join(
        f"<th{cls(a)}>{escape(h)}</th>" for h, a in zip(table.headers, table.align, strict=True)
    )
    rows = "".join(
        "<tr>"
        + "".join(f"<td{cls(a)}>{escape(c)}</td>" for c, a in zip(row, table.align, strict=True))
        + "</tr>"
        for row in table.rows
    )
    return f"<h2>{escape(table.title)}</h2><table><tr>{head}</tr>{rows}</table>"


def to_html(report: Mapping[str, Any], chart_src: str) -> str:
    """The page; `chart_src` is a data URI (file, browser) or `cid:…` (e-mail)."""
    sections = []
    for table in report_tables(report):
        if table.empty:
            none = table.when_empty or EMPTY
            sections.append(f"<h2>{escape(table.title)}</h2><p>{none}</p>")
        else:
            sections.append(_table(table))
    notes = "".join(
        f'<p class="note">{escape(printable(n))}</p>' for n in report.get("notes") or []
    )
    source = report.get("source") or {}
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title(report))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title(report))}</h1>"
        f'<div class="period">{escape(period_line(report))}</div>'
        f'<div class="headline">{escape(headline(report))}</div>'
        f'<img alt="Cost and tasks per day by provider" src="{escape(chart_src)}" width="800">'
        + "".join(sections)
        + notes
        + f'<div class="footer">prices {escape(str(report["price_version"]))}; '
        f"{escape(str(source.get('documents_read', 0)))} rollup document(s) read</div>"
        "</body></html>\n"
    )
