"""A trace's spans (as the local collector serves them: infra/trace_collector.py) as a tree with
timings: what `aiexec trace` prints and the collector's page shows.

    trace 4bf9…  6 spans, 1.234 s
       +0.0 ms    31.2 ms  ingest [ingest] task_id=t-1 chain=openai,vertex hop=0
      +40.1 ms   612.0 ms  └─ worker-openai [worker-openai] hop=0 result=handed_over
      ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PREFIX = "aiexec."
# Attributes every span of a task repeats, or that say nothing a reader needs in the tree.
_QUIET = {"aiexec.task_id", "aiexec.message_id", "aiexec.provider"}
TERMINAL_SPANS = ("task.completed", "finalizer")
ROOT_SPAN = "ingest"


def children_of(spans: list[dict[str, Any]]) -> dict[str | None, list[dict[str, Any]]]:
    """parent span id → its spans by start time; spans whose parent is not in the trace (the
    root, or a caller's remote span) under None."""
    ids = {span["span_id"] for span in spans}
    tree: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: (s["start_unix_nano"], s["end_unix_nano"])):
        parent = span.get("parent_span_id")
        tree.setdefault(parent if parent in ids else None, []).append(span)
    return tree


def walk(spans: list[dict[str, Any]]) -> Iterator[tuple[int, bool, dict[str, Any]]]:
    """(depth, last among its siblings, span), depth first in start order."""
    tree = children_of(spans)

    def visit(parent: str | None, depth: int) -> Iterator[tuple[int, bool, dict[str, Any]]]:
        kids = tree.get(parent, [])
        for index, span in enumerate(kids):
            yield depth, index == len(kids) - 1, span
            yield from visit(span["span_id"], depth + 1)

    yield from visit(None, 0)


def details(span: dict[str, Any]) -> str:
    """The span's own attributes (`aiexec.` ones, prefix dropped), its status when an error."""
    attributes = span.get("attributes") or {}
    parts = []
    if span["name"] == "provider.call" and "aiexec.provider" in attributes:
        parts.append(f"{attributes['aiexec.provider']}/{attributes.get('aiexec.model', '')}")
    for key, value in attributes.items():
        if key.startswith(PREFIX) and key not in _QUIET and key != "aiexec.model":
            shown = ",".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"{key.removeprefix(PREFIX)}={shown}")
    if span.get("status") == "error":
        parts.append(f"ERROR({span.get('status_message') or ''})")
    return " ".join(parts)


def render_tree(trace_id: str, spans: list[dict[str, Any]]) -> str:
    """The span tree with each span's start (from the trace's start) and duration."""
    if not spans:
        return f"trace {trace_id}: no spans"
    start = min(span["start_unix_nano"] for span in spans)
    end = max(span["end_unix_nano"] for span in spans)
    lines = [f"trace {trace_id}  {len(spans)} spans, {(end - start) / 1e9:.3f} s"]
    rails: list[bool] = []  # per depth: whether a sibling follows below (draw a rail)
    services = {span["span_id"]: span.get("service") for span in spans}
    for depth, last, span in walk(spans):
        del rails[depth:]
        indent = "".join("│  " if more else "   " for more in rails[1:])
        branch = ("└─ " if last else "├─ ") if depth else ""
        rails.append(not last)
        offset = (span["start_unix_nano"] - start) / 1e6
        # The function, where a hop enters it (not repeated on its own spans).
        own = span.get("service")
        shown = own and own != span["name"] and own != services.get(span.get("parent_span_id"))
        service = f" [{own}]" if shown else ""
        line = f"{offset:+10.1f} ms {span['duration_ms']:9.1f} ms  {indent}{branch}{span['name']}"
        lines.append(f"{line}{service} {details(span)}".rstrip())
    return "\n".join(lines)


def finished(spans: list[dict[str, Any]]) -> bool:
    """Whether a task's trace looks whole: it reached an end (`task.completed` or the
    finalizer) and hangs from one root, its ingest span (every other span's parent is there:
    none is still to be exported)."""
    names = {span["name"] for span in spans}
    if not names.intersection(TERMINAL_SPANS):
        return False
    roots = children_of(spans).get(None, [])
    return len(roots) == 1 and roots[0]["name"] == ROOT_SPAN
