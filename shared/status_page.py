"""The status page's HTML (`GET /status`): one static document, its chart an inline SVG drawn
here, no script at all. Every text that comes from data (provider, model, client and task ids,
error codes) goes through `html.escape`, and the Content-Security-Policy (`CSP`) allows nothing
but the page's own inline style (by its hash): no script, no frame, no form, no remote load.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from html import escape
from typing import Any
from urllib.parse import urlsplit

from shared.status_counts import FINISHED, IN_FLIGHT
from shared.status_data import StatusView

_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2733;background:#f7f8fa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}
.meta{color:#5b6670;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px}
th{color:#5b6670;font-weight:600;border-bottom:1px solid #dde1e6}
td.n{text-align:right;white-space:nowrap}.wide{grid-column:1/-1}
.big{font-size:22px;font-weight:600}.closed{color:#2f7d32}.open{color:#c62828}
.half_open{color:#b26a00}.note{color:#5b6670;font-size:12px}
"""
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
    "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a trace link does not tell where it was clicked
    "Cache-Control": "no-store",
}


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _usd(value: float) -> str:
    return f"${value:,.6f}"


def _table(headers: Iterable[str], rows: Iterable[str], empty: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td colspan="9" class="note">{_e(empty)}</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _count(view: StatusView, status: str) -> str:
    n = view.tasks.total(status)
    return f"≥ {n}" if status in IN_FLIGHT and n >= view.in_flight_cap else str(n)


def _tasks(view: StatusView) -> str:
    t = view.tasks
    cells = "".join(
        f'<td><div class="note">{_e(status)}</div>'
        f'<div class="big" id="tasks-{status}">{_count(view, status)}</div></td>'
        for status in (*FINISHED, *IN_FLIGHT)
    )
    providers = sorted({p for status in FINISHED for p in t.finished[status]})
    rows = (
        f"<tr><td>{_e(p)}</td>"
        + "".join(
            f'<td class="n" data-provider="{_e(p)}" data-status="{s}">{t.finished[s][p]}</td>'
            for s in FINISHED
        )
        + "</tr>"
        for p in providers
    )
    return (
        "<section><h2>Tasks of the last 24 h</h2>"
        f"<table><tr>{cells}</tr></table>"
        + _table(("finished by", *FINISHED), rows, "no task finished")
        + '<p class="note">Succeeded and failed: ended in the last 24 h (UTC hours); queued, '
        "batched and running: now.</p></section>"
    )


def _circuits(view: StatusView) -> str:
    rows = (
        f'<tr data-circuit="{_e(name)}"><td>{_e(name)}</td>'
        f'<td class="{_e(c.get("state"))}">{_e(c.get("state"))}</td>'
        f'<td class="n">{_e(c.get("failures") or 0)}</td>'
        f"<td>{_e(c.get('opened_at') or '')}</td></tr>"
        for name, c in view.circuits.items()
    )
    return (
        "<section><h2>Circuits</h2>"
        + _table(("provider", "state", "failures", "opened at"), rows, "no provider")
        + "</section>"
    )


def _backlog(view: StatusView) -> str:
    return (
        "<section><h2>Queue backlog</h2>"
        f'<div class="big" id="backlog">{view.tasks.backlog}</div>'
        '<p class="note">Tasks accepted and not finished (queued, batched, running), counted '
        "now; per subscription, Cloud Monitoring's num_undelivered_messages.</p></section>"
    )


def _chart(by_day: Mapping[date, Mapping[str, float]]) -> str:
    """Stacked bars of cost per day and provider, as inline SVG (no script, no image load)."""
    days = sorted(by_day)
    providers = sorted({p for day in days for p, usd in by_day[day].items() if usd > 0})
    top = max((sum(by_day[d].values()) for d in days), default=0.0) or 1.0
    width, height, left, bottom, bar = 560, 190, 70, 24, 56
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="cost per day" id="cost-chart">',
        f'<text x="0" y="12" font-size="11">{_e(_usd(top))}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#999"/>',
    ]
    scale = (height - bottom - 20) / top
    for index, day in enumerate(days):
        x, y = left + index * (bar + 14), float(height - bottom)
        for color, provider in zip(_COLORS * 3, providers, strict=False):
            value = by_day[day].get(provider, 0.0)
            if value <= 0:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{color}">'
                f"<title>{_e(day)} {_e(provider)} {_e(_usd(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height - 8}" font-size="11" text-anchor="middle">'
            f"{day:%a %d}</text>"
        )
    for index, (color, provider) in enumerate(zip(_COLORS * 3, providers, strict=False)):
        parts.append(
            f'<rect x="{left + index * 110}" y="4" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + index * 110 + 14}" y="13" font-size="11">{_e(provider)}</text>'
        )
    return "".join(parts) + "</svg>"


def _cost(view: StatusView) -> str:
    return (
        "<section><h2>Cost</h2><table><tr>"
        f'<td><div class="note">today ({_e(view.timezone)})</div>'
        f'<div class="big" id="cost-today">{_usd(view.cost_today)}</div></td>'
        f'<td><div class="note">last 7 days</div>'
        f'<div class="big" id="cost-week">{_usd(view.cost_week)}</div></td>'
        f"</tr></table>{_chart(view.cost_by_day)}</section>"
    )


def _safe_link(url: str) -> str | None:
    return url if urlsplit(url).scheme in ("http", "https") else None


def _task_cell(entry: Mapping[str, Any]) -> str:
    label = _e(entry.get("task_id"))
    link = _safe_link(str(entry.get("trace_url") or ""))
    if link is None:
        return f"<td>{label}</td>"
    return f'<td><a href="{_e(link)}" rel="noreferrer noopener">{label}</a></td>'


def _slowest(view: StatusView) -> str:
    rows = (
        f'<tr data-task-id="{_e(entry.get("task_id"))}">{_task_cell(entry)}'
        f"<td>{_e(entry.get('status'))}</td><td>{_e(entry.get('provider'))}</td>"
        f"<td>{_e(entry.get('model'))}</td>"
        f'<td class="n">{float(entry.get("ms") or 0) / 1000:.2f} s</td></tr>'
        for entry in view.tasks.slowest
    )
    return (
        '<section class="wide"><h2>Slowest recent tasks</h2>'
        + _table(("task (trace)", "status", "provider", "model", "took"), rows, "none yet")
        + "</section>"
    )


def render_status(view: StatusView) -> str:
    generated = view.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>AI Execution System - status</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>AI Execution System - status</h1>"
        f'<div class="meta">version {_e(view.version)} · generated {generated} · '
        f"{view.documents_read} documents read</div>"
        f'<div class="grid">{_tasks(view)}{_cost(view)}{_circuits(view)}{_backlog(view)}'
        f"{_slowest(view)}</div></body></html>"
    )
