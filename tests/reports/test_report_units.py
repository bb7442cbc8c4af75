"""Pure logic of the report (no emulator): periods, histograms, keys, model choice, prices."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from shared import fallback
from shared.catalog import catalog
from shared.pricing import cost_of
from shared.providers.base import Completion
from shared.providers.registry import known_providers
from shared.reports.period import (
    PeriodError,
    date_range,
    iso_week,
    last_days,
    parse_request,
    previous_week,
)
from shared.rollups import (
    INVALID_CLIENT,
    OTHER_MODEL,
    OTHER_PROVIDER,
    bucket_value,
    cell_key,
    cell_labels,
    latency_bucket,
    parse_cell_key,
    percentile,
    was_fallback,
)

# --- periods -------------------------------------------------------------------------------


def test_iso_weeks_cover_monday_to_sunday_including_week_53() -> None:
    week = iso_week("2026-W47", "UTC")
    assert (week.first_day, week.last_day) == (date(2026, 11, 16), date(2026, 11, 22))
    assert week.label == "2026-W47"
    assert iso_week("2026-W53", "UTC").first_day == date(2026, 12, 28)  # 2026 has 53 weeks
    assert iso_week("2027-W01", "UTC").previous().label == "2026-W53"
    with pytest.raises(PeriodError, match="does not exist"):
        iso_week("2025-W53", "UTC")
    with pytest.raises(PeriodError, match="ISO week"):
        iso_week("2026-47", "UTC")


def test_a_week_spans_local_midnights_across_a_dst_change() -> None:
    week = iso_week("2026-W13", "Europe/Paris")  # clocks go forward on Sunday 2026-03-29
    assert week.start == datetime(2026, 3, 22, 23, tzinfo=UTC)
    assert week.end == datetime(2026, 3, 29, 22, tzinfo=UTC)
    # Aware datetimes of one zone subtract as wall time in Python: compare as UTC instants.
    length = week.end.astimezone(UTC) - week.start.astimezone(UTC)
    assert length.total_seconds() == 7 * 24 * 3600 - 3600


def test_previous_week_is_taken_in_the_report_time_zone() -> None:
    # Monday 2026-11-23 00:30 in Paris is still Sunday (W47) in UTC.
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert previous_week(now, "Europe/Paris").label == "2026-W47"
    assert previous_week(now, "UTC").label == "2026-W46"


def test_ranges_are_whole_local_days_and_a_week_range_is_named_as_the_week() -> None:
    assert date_range("2026-11-16", "2026-11-23", "UTC").label == "2026-W47"
    span = date_range("2026-11-01T00:00:00+01:00", "2026-11-03T12:00:00+01:00", "Europe/Paris")
    assert span.label == "2026-11-01--2026-11-03"
    assert last_days(7, datetime(2026, 11, 20, 12, tzinfo=UTC), "UTC").label == (
        "2026-11-14--2026-11-20"
    )
    with pytest.raises(PeriodError, match="before it starts"):
        date_range("2026-11-05", "2026-11-01", "UTC")


@pytest.mark.parametrize(
    ("data", "label", "redeliver"),
    [
        (b"", "2026-W46", False),
        (b"{}", "2026-W46", False),
        (b'{"week": "2026-W40"}', "2026-W40", False),
        (b'{"start": "2026-11-02", "end": "2026-11-09", "redeliver": true}', "2026-W45", True),
        (b'{"days": 3}', "2026-11-18--2026-11-20", False),
    ],
)
def test_report_requests(data: bytes, label: str, redeliver: bool) -> None:
    request = parse_request(data, datetime(2026, 11, 20, 12, tzinfo=UTC), "UTC")
    assert (request.period.label, request.redeliver) == (label, redeliver)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"weeks": "2026-W40"}', "unknown field"),
        (b'{"week": 47}', "give `week`"),
        (b'{"week": "2026-W99"}', "does not exist"),
    ],
)
def test_bad_report_requests_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_request(data, datetime(2026, 11, 20, tzinfo=UTC), "UTC")


# --- rollup helpers ---------------------------------------------------------------------


def test_histogram_percentiles_are_within_a_bucket_of_the_truth() -> None:
    values = list(range(1, 1001))  # 1..1000 ms
    histogram: dict[str, int] = {}
    for value in values:
        key = str(latency_bucket(value))
        histogram[key] = histogram.get(key, 0) + 1
    for q, truth in ((0.5, 500), (0.95, 950)):
        estimate = percentile(histogram, q)
        assert estimate is not None
        assert abs(estimate - truth) / truth < 0.10
    assert percentile({}, 0.5) is None
    assert bucket_value(latency_bucket(0.2)) == 0


@pytest.mark.parametrize(
    "parts",
    [("openai", "gpt-4.1-mini", "team-a"), ("vertex", "", ""), ("x", "a|b/c.d", "ü `x` %20")],
)
def test_cell_keys_round_trip_any_text(parts: tuple[str, str, str]) -> None:
    assert parse_cell_key(cell_key(*parts)) == parts


LABEL_SETTINGS = Settings(
    openai_model="ft:gpt-6.1-terra:acme::abc123",  # configured, not in the catalog
    openai_fallback_model="x" * 300,  # configured, but too long for a field name
    allowed_models=["vertex:projects/p/locations/l/endpoints/42"],
)


@pytest.mark.parametrize(
    ("dimensions", "labels"),
    [
        (("openai", "gpt-6.1-terra", "team-a"), ("openai", "gpt-6.1-terra", "team-a")),
        # A dated snapshot counts under its catalog id: dates cannot multiply the cells.
        (("openai", "gpt-6.1-terra-2026-10-26", "c"), ("openai", "gpt-6.1-terra", "c")),
        (("vertex", "gemini-3.5-flash-001", "c"), ("vertex", "gemini-3.5-flash", "c")),
        (
            ("openai", "ft:gpt-6.1-terra:acme::abc123", "c"),
            ("openai", "ft:gpt-6.1-terra:acme::abc123", "c"),
        ),
        (
            ("vertex", "projects/p/locations/l/endpoints/42", "c"),
            ("vertex", "projects/p/locations/l/endpoints/42", "c"),
        ),
        (("openai", "x" * 300, "c"), ("openai", OTHER_MODEL, "c")),
        (("openai", "gpt-4o-minii", "c"), ("openai", OTHER_MODEL, "c")),  # a typo: unknown
        (("vertex", "gpt-6.1-terra", "c"), ("vertex", OTHER_MODEL, "c")),  # another provider's
        (("vertex", "nobody/x", "c"), ("vertex", OTHER_MODEL, "c")),
        (("openai", "\x1b[2J" + "ü" * 127, "c"), ("openai", OTHER_MODEL, "c")),
        (("openai", "gpt-6.1-terra", "evil\nclient"), ("openai", "gpt-6.1-terra", INVALID_CLIENT)),
        (("openai", "gpt-6.1-terra", "a" * 65), ("openai", "gpt-6.1-terra", INVALID_CLIENT)),
        (("openai", "gpt-6.1-terra", "a..b"), ("openai", "gpt-6.1-terra", INVALID_CLIENT)),
        (("mystery", "m", "c"), (OTHER_PROVIDER, OTHER_MODEL, "c")),
        (("", "", ""), ("", "", "")),  # a task that called no provider
    ],
)
def test_rollup_cells_are_keyed_by_bounded_labels(
    dimensions: tuple[str, str, str], labels: tuple[str, str, str]
) -> None:
    """Nothing a client sends becomes a rollup field name as it is (shared/rollups.py)."""
    assert cell_labels(LABEL_SETTINGS, *dimensions) == labels
    assert len(cell_key(*labels).encode()) <= 3 * 256 + 2


def test_fallback_means_a_provider_other_than_the_first_was_needed() -> None:
    chain = ["openai", "vertex"]
    ok_first = {"status": "succeeded", "chain": chain, "result": {"provider": "openai"}}
    ok_second = {"status": "succeeded", "chain": chain, "result": {"provider": "vertex"}}
    failed_both = {
        "status": "failed",
        "chain": chain,
        "attempts": [{"provider": "openai"}, {"provider": "vertex"}],
    }
    failed_one = {"status": "failed", "chain": chain, "attempts": [{"provider": "openai"}]}
    assert [was_fallback(t) for t in (ok_first, ok_second, failed_both, failed_one)] == [
        False,
        True,
        True,
        False,
    ]


# --- model selection by task type -------------------------------------------------------


def test_model_choice_request_then_task_type_then_default() -> None:
    settings = Settings(
        openai_models_by_type="analytical=gpt-4o,code=gpt-4.1",
        openai_model="gpt-4o-mini",
    )
    assert fallback.model_for(settings, "openai", {"openai": "o3"}, "analytical") == "o3"
    assert fallback.model_for(settings, "openai", {"vertex": "x"}, "analytical") == "gpt-4o"
    assert fallback.model_for(settings, "openai", None, "code") == "gpt-4.1"
    assert fallback.model_for(settings, "openai", None, "creative") == "gpt-4o-mini"
    assert fallback.model_for(settings, "openai", None, None) == "gpt-4o-mini"


def test_model_maps_read_json_and_refuse_unknown_task_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIEXEC_VERTEX_MODELS_BY_TYPE", '{"creative": "gemini-2.5-flash"}')
    assert Settings().vertex_models_by_type == {"creative": "gemini-2.5-flash"}
    # How the local stack hands a changed map to its children: the dict's str().
    monkeypatch.setenv("AIEXEC_VERTEX_MODELS_BY_TYPE", str({"code": "gemini-2.5-pro"}))
    assert Settings().vertex_models_by_type == {"code": "gemini-2.5-pro"}
    monkeypatch.setenv("AIEXEC_VERTEX_MODELS_BY_TYPE", "poetry=gemini-2.5-pro")
    with pytest.raises(ValidationError, match="unknown task type"):
        Settings()


def test_report_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIEXEC_REPORT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()
    monkeypatch.setenv("AIEXEC_REPORT_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("AIEXEC_REPORT_EMAIL_TO", "a@example.com, b@example.com")
    settings = Settings()
    assert settings.report_email_to == ["a@example.com", "b@example.com"]
    assert settings.report_timezone == "Europe/Paris"


# --- prices ----------------------------------------------------------------------------


def test_reasoning_and_cached_tokens_are_priced_in_their_own_categories() -> None:
    price = catalog().models["o3"].prices
    assert price is not None and price.reasoning is not None
    completion = Completion("t", "o3", "stop", 1_000, 500, 1_500, cached_tokens=200,
                            reasoning_tokens=300)  # fmt: skip
    expected = (
        800 * price.input + 200 * price.cached_input + 200 * price.output + 300 * price.reasoning
    ) / 1e6
    assert cost_of(completion, "o3").cost_usd == pytest.approx(expected)


def test_every_catalog_entry_names_its_provider_source_and_date() -> None:
    table = catalog()
    assert table.version and table.currency == "USD"
    for name, info in table.models.items():
        assert info.provider in known_providers(), name  # a registered provider
        assert info.source.startswith("https://"), name
        assert info.read_on <= date.fromisoformat(table.version), name


def test_unknown_model_is_null_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cost = cost_of(Completion("t", "mystery", "stop", 5, 5, 10), "mystery")
    assert cost.cost_usd is None and cost.price_version == catalog().version
    assert any("no price for model" in r.getMessage() for r in caplog.records)
