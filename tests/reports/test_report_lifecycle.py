"""The weekly report's "Model lifecycle" section: configured and used models that need attention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from infra.settings import Settings
from shared.catalog import catalog
from shared.reports.aggregate import Cell, Counters, Rollup, build_report
from shared.reports.period import iso_week
from shared.reports.render import to_markdown, to_text

GENERATED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 11 days before gpt-5 shuts down


def report_for(settings: Settings, used: list[tuple[str, str]]) -> dict[str, Any]:
    cells = [Cell("2026-11-24", p, m, "client-a", Counters()) for p, m in used]
    return build_report(
        iso_week("2026-W48", "UTC"),
        Rollup(cells, 1, set()),
        Rollup([], 0, set()),
        generated_at=GENERATED,
        price_version=catalog().version,
        settings=settings,
    )


def test_current_defaults_give_an_empty_section() -> None:
    report = report_for(Settings(), [("openai", "gpt-6.1-terra")])
    assert report["model_lifecycle"] == []
    assert "## Model lifecycle\n\n_every model is current_" in to_markdown(report)


def test_configured_model_near_shutdown_and_used_retired_model_are_listed() -> None:
    settings = Settings(openai_model="gpt-5", model_shutdown_warn_days=60)
    used = [("vertex", "gemini-2.0-flash-001"), ("openai", "gpt-4o-minii")]
    report = report_for(settings, used)
    rows = {(r["provider"], r["model"]): r for r in report["model_lifecycle"]}
    assert rows[("openai", "gpt-5")]["where"] == "default"
    assert rows[("openai", "gpt-5")]["days_left"] == 11
    assert rows[("openai", "gpt-5")]["replacement"] == "gpt-6.1-sol"
    assert rows[("vertex", "gemini-2.0-flash-001")]["status"] == "retired"
    assert rows[("openai", "gpt-4o-minii")]["status"] == "unknown"
    text = to_text(report)
    assert "Model lifecycle" in text and "gpt-5" in text and "2026-12-11" in text


def test_a_shutdown_beyond_the_warning_window_is_not_listed() -> None:
    settings = Settings(openai_model="gpt-5", model_shutdown_warn_days=5)
    assert report_for(settings, [])["model_lifecycle"] == []
