"""The status page as a person sees it: GET /status rendered by headless Debian chromium (driven
by Selenium through the system chromedriver), its numbers checked against Firestore, and a
screenshot kept (the test's tmp_path, and the latest at .aiexec/screenshots/status.png).

The session's stack is shared, so the figures are compared as changes: what the page says
after this test's tasks minus what it said before, against the same change read from the task
and usage documents themselves (the page reads only counters). The slowest-task rows are
checked one by one against their task documents.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from shared.rollups import provider_label, task_dimensions
from shared.status_counts import FINISHED, IN_FLIGHT, window_hours
from shared.status_data import trace_link
from shared.status_page import CSP
from tests.e2e.conftest import Pipeline, unique

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",
)
LATEST_SCREENSHOT = Path(__file__).resolve().parents[2] / ".aiexec" / "screenshots" / "status.png"
SETTLE_S = 30.0


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(
            f"the browser test needs Debian's chromium and chromedriver; missing: {missing}. "
            "Install them: apt-get install -y chromium chromium-driver (.ci/run does).",
            pytrace=False,
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    # An explicit driver: Selenium Manager never looks for (or downloads) another one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def page_figures(driver: Any, url: str) -> dict[str, Any]:
    driver.get(url)
    text = {
        name: driver.find_element(By.ID, name).text
        for name in (*(f"tasks-{status}" for status in (*FINISHED, *IN_FLIGHT)), "backlog")
    }
    finished: Counter[str] = Counter()
    for cell in driver.find_elements(By.CSS_SELECTOR, "td[data-provider][data-status]"):
        key = f"{cell.get_attribute('data-status')}/{cell.get_attribute('data-provider')}"
        finished[key] = int(cell.text)
    figures: dict[str, Any] = {k: int(v) for k, v in text.items()}
    cost = driver.find_element(By.ID, "cost-today").text
    figures["cost_today"] = float(cost.lstrip("$").replace(",", ""))
    figures["finished"] = finished
    return figures


def firestore_figures(pipeline: Pipeline, now: datetime) -> dict[str, Any]:
    """The same figures from the documents (a scan: fine for a test's few hundred tasks)."""
    since = datetime.fromisoformat(window_hours(now)[0] + ":00:00+00:00")
    store, settings = pipeline.store, pipeline.settings
    tasks = [
        snap.to_dict() or {} for snap in store.client.collection(settings.collection_tasks).stream()
    ]
    ended = [
        t for t in tasks if t.get("status") in FINISHED and t.get("completed_at", since) >= since
    ]
    finished: Counter[str] = Counter()
    for task in ended:
        label = provider_label(settings, task_dimensions(task)[0]) or "(none)"
        finished[f"{task['status']}/{label}"] += 1
    today = now.astimezone(_zone(settings)).date()
    cost = sum(
        float(u.get("cost_usd") or 0)
        for u in (
            d.to_dict() or {} for d in store.client.collection(settings.collection_usage).stream()
        )
        if u.get("created_at") and u["created_at"].astimezone(_zone(settings)).date() == today
    )
    figures: dict[str, Any] = {
        f"tasks-{status}": sum(1 for t in tasks if t.get("status") == status)
        for status in IN_FLIGHT
    }
    for status in FINISHED:
        figures[f"tasks-{status}"] = sum(1 for t in ended if t["status"] == status)
    figures["backlog"] = sum(figures[f"tasks-{status}"] for status in IN_FLIGHT)
    return figures | {"finished": finished, "cost_today": cost}


def _zone(settings: Any) -> ZoneInfo:
    return ZoneInfo(settings.report_timezone)


def change(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    for name, value in after.items():
        if isinstance(value, Counter):
            delta[name] = +(value - before[name]) + Counter()
        elif name == "cost_today":
            delta[name] = round(value - before[name], 6)
        else:
            delta[name] = value - before[name]
    return delta


def test_status_page_in_chromium_matches_firestore(
    pipeline: Pipeline, browser: Any, tmp_path: Path
) -> None:
    url = f"{pipeline.stack.ingest_url}/status"
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CSP
    assert "<script" not in answer.text

    page_before = page_figures(browser, url)
    store_before = firestore_figures(pipeline, datetime.now(UTC))
    ids = [unique("status-ok") for _ in range(3)]
    failing = unique("status-fail")
    for task_id in ids:
        pipeline.post("/tasks", {"task_description": "Status page check", "task_id": task_id})
    pipeline.post("/tasks", {"task_description": "[sim:invalid] no", "task_id": failing})
    assert [pipeline.wait(task_id)["status"] for task_id in ids] == ["succeeded"] * 3
    assert pipeline.wait(failing)["status"] == "failed"
    fallback = unique("status-fallback")  # OpenAI refuses our credentials: Vertex AI answers
    pipeline.fault("openai", "auth")
    pipeline.post("/tasks", {"task_description": "Status page fallback", "task_id": fallback})
    assert pipeline.wait(fallback)["result"]["provider"] == "vertex"
    pipeline.fault("openai", "ok")

    # Leftovers of earlier tests may still end meanwhile: both sides see them, so wait (bounded)
    # until the page's change equals the documents' change.
    deadline = datetime.now(UTC) + timedelta(seconds=SETTLE_S)
    while True:
        store_change = change(firestore_figures(pipeline, datetime.now(UTC)), store_before)
        page = page_figures(browser, url)
        page_change = change(page, page_before)
        if _same(page_change, store_change) or datetime.now(UTC) > deadline:
            break
    assert _same(page_change, store_change), (page_change, store_change)
    assert page_change["tasks-succeeded"] >= 3 and page_change["tasks-failed"] >= 1
    assert page_change["finished"]["succeeded/openai"] >= 3
    assert page_change["finished"]["succeeded/vertex"] >= 1
    assert page_change["finished"]["failed/openai"] >= 1
    assert page["backlog"] == sum(page[f"tasks-{status}"] for status in IN_FLIGHT)

    check_slowest_rows(pipeline, browser)
    closed = browser.find_element(By.CSS_SELECTOR, "tr[data-circuit='openai'] td:nth-child(2)")
    assert closed.text == "closed"

    shot = tmp_path / "status.png"
    assert browser.save_screenshot(str(shot)), "chromium took no screenshot"
    LATEST_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, LATEST_SCREENSHOT)
    print(f"status page screenshot: {shot} (latest: {LATEST_SCREENSHOT})")
    assert shot.read_bytes().startswith(b"\x89PNG")


def _same(page: dict[str, Any], store: dict[str, Any]) -> bool:
    money = abs(page["cost_today"] - store["cost_today"]) <= 2e-6
    rest = {k: v for k, v in page.items() if k != "cost_today"}
    return money and rest == {k: v for k, v in store.items() if k != "cost_today"}


def check_slowest_rows(pipeline: Pipeline, browser: Any) -> None:
    """Each slow-task row is its task document: status, provider, duration, trace link."""
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-task-id]")
    assert rows, "no slow task listed"
    took = []
    for row in rows:
        task = pipeline.store.get(str(row.get_attribute("data-task-id")))
        assert task is not None
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        took.append(float(cells[4].removesuffix(" s")))
        if task.get("replays"):  # the row is how it ended before an operator's replay: history
            continue
        seconds = (task["completed_at"] - task["created_at"]).total_seconds()
        assert cells[1] == task["status"]
        assert cells[2] == provider_label(pipeline.settings, task_dimensions(task)[0])
        assert abs(took[-1] - seconds) <= 0.006, (cells, seconds)
        links = row.find_elements(By.TAG_NAME, "a")
        if task.get("trace_id"):
            href = links[0].get_attribute("href")
            assert href == trace_link(pipeline.settings, task["trace_id"])
        else:
            assert not links
    assert took == sorted(took, reverse=True)
