"""Per-client rate limits on real ingest servers: burst, 429 + Retry-After, refill, and one
client's limit shared by two server processes (the bound in shared/ratelimit.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.ratelimit import Limit, Plan
from tests.security.conftest import Security, bearer

TINY = {"task_description": "rate", "max_output_tokens": 5}
SHARED_RATE, SHARED_BURST = 10.0, 10
WINDOW_S = 4.0
THREADS_PER_SERVER = 4


def _post(http: httpx.Client, url: str, key: str) -> httpx.Response:
    return http.post(f"{url}/tasks", json=TINY, headers=bearer(key))


def test_burst_then_429_with_retry_after_then_refill(security: Security) -> None:
    key, client_id = security.key("burst", rate="2/s", burst=4)
    started = time.monotonic()
    accepted = 0
    with httpx.Client(timeout=30, trust_env=False) as http:
        while True:
            response = _post(http, security.a.url, key)
            if response.status_code != 202:
                break
            accepted += 1
            assert accepted <= 20, "the limit never refused"
        elapsed = time.monotonic() - started
        refused_at = time.monotonic()
        assert response.status_code == 429, response.text
        error = response.json()["error"]
        assert error["code"] == "rate_limited"
        assert client_id in error["message"]
        retry_after = int(response.headers["Retry-After"])
        # A whole token of the fullest shard: at least 1 s, at most 1/shard rate.
        assert retry_after >= 1
        assert retry_after <= 2
        # The burst, plus what refilled while sending, plus at most one lease.
        lease = Plan.of(Limit(2.0, 4), security.settings.rate_limit_lease_s).lease
        assert 4 <= accepted <= 4 + 2 * elapsed + lease

        # Refused again at once, without waiting for Firestore (the instance knows it's empty).
        assert _post(http, security.a.url, key).status_code == 429
        # After the computed refill time, a token is there again.
        deadline = refused_at + retry_after
        while time.monotonic() < deadline:
            time.sleep(0.05)
        assert _post(http, security.a.url, key).status_code == 202


def _hammer(
    url: str,
    key: str,
    until: float,
    counts: Counter[int],
    lock: threading.Lock,
    marks: dict[str, float],
) -> None:
    """Post until `until`; `marks` keeps the first answer's arrival and the last send."""
    with httpx.Client(timeout=30, trust_env=False) as http:
        while (sent := time.monotonic()) < until:
            status = _post(http, url, key).status_code
            answered = time.monotonic()
            with lock:
                counts[status] += 1
                marks["first_answer"] = min(marks.get("first_answer", answered), answered)
                marks["last_sent"] = max(marks.get("last_sent", sent), sent)


def test_two_instances_share_one_clients_limit(security: Security) -> None:
    key, _ = security.key("shared", rate=f"{SHARED_RATE:g}/s", burst=SHARED_BURST)
    counts: Counter[int] = Counter()
    lock = threading.Lock()
    marks: dict[str, float] = {}
    started = time.monotonic()
    until = started + WINDOW_S
    urls = [security.a.url, security.b.url] * THREADS_PER_SERVER
    with ThreadPoolExecutor(len(urls)) as pool:
        for future in [pool.submit(_hammer, u, key, until, counts, lock, marks) for u in urls]:
            future.result()
    window = time.monotonic() - started
    accepted = counts[202]
    assert set(counts) <= {202, 429}, counts
    ideal = SHARED_BURST + SHARED_RATE * window  # one token bucket, one instance
    bound = SHARED_BURST + SHARED_RATE * (window + security.settings.rate_limit_lease_s)
    print(
        f"\n2 instances, {SHARED_RATE:g}/s burst {SHARED_BURST}, {window:.2f} s: accepted "
        f"{accepted}, single-bucket ideal {ideal:.1f} ({accepted / ideal:.0%}), "
        f"bound {bound:.1f}; refused {counts[429]}"
    )
    assert counts[429] > 0, "the load did not exceed the limit"
    assert accepted <= bound
    # Below a single bucket by at most what is not yet granted: a fraction of a token in each
    # shard plus a lease per instance (shared/ratelimit.py), plus one token of measurement. The
    # bucket surely granted from the first lease (before the first answer arrived) until the
    # last request was served (after it was sent): the client's own start and end would count
    # the first request's way to the server, which a loaded machine makes long.
    saturated = marks["last_sent"] - marks["first_answer"]
    surely = SHARED_BURST + SHARED_RATE * saturated
    plan = Plan.of(Limit(SHARED_RATE, SHARED_BURST), security.settings.rate_limit_lease_s)
    assert accepted >= surely - plan.shards - 2 * plan.lease - 1
