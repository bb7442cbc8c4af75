"""Request threads follow concurrency (issue 13, finding 4): functions-framework serves THREADS
requests at once (4 x CPUs when unset) while Cloud Run sends a function up to its concurrency;
Google's advice for Python is THREADS = concurrency. Deploy sets it on every function, ingest's
from AIEXEC_INGEST_CONCURRENCY, and the local stack starts ingest the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.deploy.plan.deployment import build_plan
from infra.deploy.plan.steps import Command
from infra.localstack.components import stack_components
from infra.localstack.envs import child_env
from infra.settings import Settings
from infra.topology import FUNCTION_INGEST
from shared.waits import instance_cap
from tests.deploy.conftest import production

pytestmark = pytest.mark.usefixtures("default_settings_env")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("concurrency", [40, 12])
def test_every_function_runs_as_many_threads_as_its_concurrency(concurrency: int) -> None:
    prod = production(ingest_concurrency=concurrency, worker_concurrency="openai=16")
    for function in prod.functions:
        assert dict(function.env)["THREADS"] == str(function.concurrency), function.name
    ingest = prod.function(FUNCTION_INGEST)
    assert ingest.concurrency == concurrency
    assert "AIEXEC_INGEST_CONCURRENCY" not in dict(ingest.env)  # a deploy knob, not runtime
    assert dict(prod.function("worker-openai").env)["THREADS"] == "16"
    deploys = [
        s.action.argv
        for s in build_plan(prod)
        if isinstance(s.action, Command) and FUNCTION_INGEST in s.action.argv
        and "deploy" in s.action.argv
    ]  # fmt: skip
    assert deploys, "the plan deploys ingest"
    flags = " ".join(deploys[0])
    assert f"--concurrency={concurrency}" in flags and f"THREADS={concurrency}" in flags
    # waits never take every thread: a quarter (at least 2) stays for /health and the rest
    assert 0 < instance_cap(concurrency) <= concurrency - 2


def test_the_local_stack_starts_ingest_with_threads(tmp_path: Path) -> None:
    settings = Settings(ingest_concurrency=24, worker_threads=6)
    components = {c.name: c for c in stack_components(settings, tmp_path, REPO)}
    ingest = components[FUNCTION_INGEST]
    env = child_env(settings, REPO, provider=ingest.provider, threads=ingest.threads, base={})
    assert env["THREADS"] == "24"
    worker = components["worker-openai"]
    assert child_env(settings, REPO, provider=worker.provider, base={})["THREADS"] == "6"
    assert components["ingest-events"].threads is None
