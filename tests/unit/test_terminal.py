"""Issue 13, item 9: control characters in stored strings are shown escaped on the operator's
terminal, never obeyed (shared/terminal.py, used by the task printers and report renderers);
nor is rich markup in them interpreted by the CLI's tables and progress bar (issue 14)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime

import pytest

from aiexec.cli.progress import Progress
from aiexec.cli.tables import print_table
from aiexec.cli.tasks_render import print_json, task_summary, task_table
from aiexec.client import Task
from infra.settings import Settings
from shared.catalog import catalog
from shared.reports.aggregate import Cell, Counters, Rollup, build_report
from shared.reports.html_report import to_html
from shared.reports.period import iso_week
from shared.reports.render import chat_message, to_markdown, to_text
from shared.terminal import json_printable, printable

# What a hostile client or provider could put in a model name, client id, prompt or error text:
# clear screen, cursor home, a window title (OSC), a carriage return that overwrites the line, a
# NUL, an 8-bit CSI, a right-to-left override, a line separator.
HOSTILE = "m\x1b[2J\x1b[H\x1b]0;pwned\x07x\rover\x00\x9b31m\u202eevil\u2028end"
# Anything a terminal would act on: C0 except newline, DEL, C1, separators, bidi controls.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb\x00c\x7f", "a\\rb\\x00c\\x7f"),
        ("csi\x9bJ", "csi\\x9bJ"),
        ("\u202eabc\u2066", "\\u202eabc\\u2066"),
        ("two\nlines\tand tab", "two\\nlines\\tand tab"),
        ("emoji 👨‍👩‍👧, ü, 中文, café", "emoji 👨‍👩‍👧, ü, 中文, café"),  # nothing to escape
    ],
)
def test_printable_escapes_control_characters_like_repr(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert not RAW.search(printable(text)) and "\n" not in printable(text)


def test_printable_can_keep_the_lines_of_an_answer() -> None:
    assert printable("line 1\n\tline 2\x1b[2J\r", lines=True) == "line 1\n\tline 2\\x1b[2J\\r"


def test_json_printable_is_the_same_json_without_raw_controls() -> None:
    value = {"model": HOSTILE, "n": 1, "nested": [HOSTILE]}
    dumped = json.dumps(value, indent=2, ensure_ascii=False)
    safe = json_printable(dumped)
    assert json.loads(safe) == value
    assert not RAW.search(safe)


def hostile_task() -> Task:
    return Task.of(
        {
            "task_id": "t-1",
            "status": "succeeded",
            "request": {"task_description": f"summarise {HOSTILE}"},
            "result": {
                "text": f"Answer line 1\nline 2 {HOSTILE}",
                "provider": "openai",
                "model": HOSTILE,
                "finish_reason": "stop",
            },
            "attempts": [
                {"provider": "openai", "outcome": "provider_fatal", "error": {"code": HOSTILE}},
                {"provider": "vertex", "outcome": "ok", "calls": 1},
            ],
            "usage": {"total_tokens": 3, "cost_usd": 0.001},
            "error": {"code": "x", "message": HOSTILE},
            "created_at": datetime(2026, 11, 29, tzinfo=UTC),
            "completed_at": None,
        }
    )


def test_task_printers_escape_what_clients_and_providers_wrote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = task_summary(hostile_task())
    listing = task_table([hostile_task(), hostile_task()], io.StringIO())
    print_json(hostile_task().document)
    for shown in (summary, listing, capsys.readouterr().out):
        assert not RAW.search(shown), shown
    assert "\\x1b[2J" in summary and "\\u202eevil" in listing
    assert "Answer line 1\nline 2" in summary  # the answer keeps its own lines
    assert len(listing.splitlines()) == 3  # a header, then one line per task


# Rich markup, an emoji code and a link: shown as written, never styled or replaced.
MARKUP = "[bold red]x[/bold red] :fire: [link=https://evil.example]click[/link]"


class Terminal(io.StringIO):
    """A stream that says it is a terminal: rich then writes styles and redraws."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO(), Terminal()], ids=["pipe", "terminal"])
def test_tables_show_markup_and_controls_as_text(stream: io.StringIO) -> None:
    print_table(("model", "client"), [(MARKUP, HOSTILE)], stream=stream)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())  # bold header on a terminal
    assert MARKUP in shown and "\\x1b[2J" in shown
    assert not RAW.search(shown) and "\x1b]8" not in stream.getvalue()  # no hyperlink


def test_a_progress_label_is_shown_as_text() -> None:
    stream, label = Terminal(), "[bold]sub[/bold] :fire:"
    with Progress(2, label, stream=stream) as progress:
        progress.advance(2)
    assert label in stream.getvalue() and "2/2" in stream.getvalue()


def test_report_renderings_escape_names_from_the_rollups() -> None:
    counters = Counters()
    counters.add_cell({"calls": 2, "tasks": 1, "failed": 1, "task_errors": {HOSTILE: 1}})
    cells = [Cell("2026-11-24", "openai", HOSTILE, f"client{HOSTILE}", counters)]
    report = build_report(
        iso_week("2026-W48", "UTC"),
        Rollup(cells, 1, set()),
        Rollup([], 0, set()),
        generated_at=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        price_version=catalog().version,
        settings=Settings(),
    )
    report["notes"].append(f"a note naming {HOSTILE}")
    html = to_html(report, "data:image/png;base64,")
    for rendering in (to_text(report), to_markdown(report), chat_message(report), html):
        assert not RAW.search(rendering), rendering
        assert "\\x1b[2J" in rendering
    assert "\\x1b[2J" in to_text(report).split("By model")[1].split("By client")[0]
