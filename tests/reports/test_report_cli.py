"""`aiexec report` on the emulator; and rollups under concurrent finishes (sharded, none lost)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiexec.cli.main import EXIT_OK, EXIT_USAGE, main
from infra.settings import Settings, get_settings
from shared.providers.base import Completion
from shared.reports.period import date_range
from shared.reports.service import ReportService
from shared.schemas import TaskStatus
from shared.store import TaskStore
from shared.task_leases import BeginKind, Outcome
from shared.usage import CallRecord
from tests.reports.workload import Workload, ok, transient


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The CLI reads settings from the environment: point it at this test's collections."""
    monkeypatch.setenv("AIEXEC_COLLECTION_ROLLUPS", settings.collection_rollups)
    monkeypatch.setenv("AIEXEC_REPORT_TIMEZONE", settings.report_timezone)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def test_report_week_as_json_text_markdown_and_html(
    cli_env: Settings,
    workload: Workload,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monday = datetime(2021, 11, 15, 9, tzinfo=UTC)
    workload.task(monday, "team-a", [("openai", [ok("gpt-6.1-terra")])])
    workload.task(
        monday + timedelta(days=1),
        "team-b",
        [("openai", [transient("gpt-6.2-sol")] * 3), ("vertex", [ok("gemini-3.8-flash")])],
        fallback=True,
    )
    assert main(["report", "--week", "2021-W46", "--format", "json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert (report["id"], report["totals"]["tasks"], report["totals"]["calls"]) == (
        "2021-W46",
        2,
        5,
    )
    assert report["totals"]["fallbacks"] == 1

    assert main(["report", "--week", "2021-W46"]) == EXIT_OK  # text by default
    text = capsys.readouterr().out
    assert "AI usage report 2021-W46" in text and "By provider" in text
    assert "gemini-3.8-flash" in text and "team-b" in text
    provider_lines = [line for line in text.splitlines() if line.startswith("  openai ")]
    assert provider_lines, text

    out = tmp_path / "report.md"
    assert main(["report", "--week", "2021-W46", "--format", "markdown", "--out", str(out)]) == 0
    assert out.read_text().startswith("# AI usage report 2021-W46")
    assert main(["report", "--week", "2021-W46", "--format", "html"]) == EXIT_OK
    assert "data:image/png;base64," in capsys.readouterr().out


def test_report_last_days_is_the_seed_usage(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TaskStore(cli_env)  # real clock: tasks of today
    finish_task(store, "recent-1", "cli")
    assert main(["report", "--days", "7", "--format", "json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["tasks"] == 1 and len(report["by_day"]) == 7
    assert main(["report", "--week", "2021-W99"]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err


def finish_task(store: TaskStore, task_id: str, client: str) -> None:
    store.commit_creation(store.creation(task_id, client, {"task_description": "x"}, ["openai"]))
    assert store.begin(task_id, 0, "openai", task_id).kind is BeginKind.START
    now = datetime.now(UTC)
    completion = Completion("t", "gpt-6.1-terra", "stop", 100, 50, 150)
    call = CallRecord.success("openai", "gpt-6.1-terra", now, now, completion)
    result = {"text": "t", "provider": "openai", "model": "gpt-6.1-terra"}
    assert store.finish(task_id, task_id, [call], Outcome(TaskStatus.SUCCEEDED, result))


def test_concurrent_finishes_are_all_counted(settings: Settings) -> None:
    """Many workers finishing at once: sharded blind increments, no lost update."""
    store = TaskStore(settings)
    count = 40
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: finish_task(store, f"conc-{n}", f"c{n % 3}"), range(count)))
    today = datetime.now(UTC)
    period = date_range(
        (today - timedelta(days=1)).date().isoformat(),
        (today + timedelta(days=2)).date().isoformat(),
        settings.report_timezone,
    )
    report = ReportService(settings).build(period).report
    assert (report["totals"]["tasks"], report["totals"]["calls"]) == (count, count)
    assert report["totals"]["tokens"] == 150 * count
    assert sum(row["tasks"] for row in report["by_client"].values()) == count
    shards = {doc.id for doc in store.client.collection(settings.collection_rollups).stream()}
    assert len(shards) > 1  # spread over shards
    assert len(shards) <= settings.rollup_shards * 2  # (and ≤ 2 days)
