"""Post-deploy smoke test: publish one task to `tasks`, wait for its document to succeed.

    python -m infra.deploy.smoke --project P [--timeout 300]

It goes the way a client's task goes — topic, ingest, a worker, Firestore — so it proves the
push subscriptions, their OIDC identity, the invoker bindings, the runtime roles and a provider
(the configured key, or Vertex AI through the worker's own identity). Exit 0 when the task
succeeded, 1 when it failed or timed out (with its error and attempts), 3 when Pub/Sub or
Firestore cannot be reached. Against the local stack it works as well (emulator variables).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc

from infra.settings import Settings
from shared.schemas import TERMINAL_STATUSES as TERMINAL

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 3
POLL_S = 2.0
PROMPT = "Deployment smoke test: answer with the single word OK."


def publish_task(settings: Settings, task_id: str) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

    publisher = pubsub_v1.PublisherClient()
    request = {
        "task_id": task_id,
        "task_description": PROMPT,
        "max_output_tokens": 16,
        "metadata": {"source": "smoke-test"},
    }
    topic = publisher.topic_path(settings.project_id, settings.topic_tasks)
    publisher.publish(topic, json.dumps(request).encode(), client_id="smoke-test").result(60)


def wait_for_task(settings: Settings, task_id: str, timeout_s: float) -> dict[str, Any] | None:
    """The task document once terminal, else its last state (None: never created)."""
    from google.cloud import firestore

    client = firestore.Client(project=settings.project_id)
    ref = client.collection(settings.collection_tasks).document(task_id)
    deadline = time.monotonic() + timeout_s
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        snapshot = ref.get()
        task = snapshot.to_dict() if snapshot.exists else None
        if task is not None and task.get("status") in TERMINAL:
            return task
        time.sleep(POLL_S)
    return task


def _summary(task: dict[str, Any]) -> str:
    attempts = [
        f"{a.get('provider')}: {a.get('outcome')}"
        + (f" ({(a.get('error') or {}).get('code')})" if a.get("error") else "")
        for a in task.get("attempts") or []
    ]
    return f"attempts: {', '.join(attempts) or 'none'}; error: {task.get('error')}"


def _say(text: str, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(f"smoke: {text}\n")


def run(settings: Settings, timeout_s: float) -> int:
    task_id = f"smoke-{uuid.uuid4().hex[:16]}"
    began = time.monotonic()
    try:
        publish_task(settings, task_id)
        task = wait_for_task(settings, task_id, timeout_s)
    except (gexc.GoogleAPICallError, gexc.RetryError, TimeoutError) as error:
        _say(f"cannot reach Pub/Sub or Firestore: {error}", error=True)
        return EXIT_UNREACHABLE
    took = time.monotonic() - began
    if task is None:
        _say(
            f"task {task_id} never appeared in Firestore within {timeout_s:.0f} s "
            "(is ingest-events deployed and its subscription authorised?)",
            error=True,
        )
        return EXIT_FAILED
    if task.get("status") != "succeeded":
        _say(f"task {task_id} is {task.get('status')} after {took:.0f} s; {_summary(task)}", True)
        return EXIT_FAILED
    result = task.get("result") or {}
    _say(
        f"task {task_id} succeeded in {took:.1f} s via {result.get('provider')}/"
        f"{result.get('model')}"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.smoke", description=__doc__)
    parser.add_argument("--project", help="project id (default: GOOGLE_CLOUD_PROJECT)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    args = parser.parse_args(argv)
    settings = Settings(project_id=args.project) if args.project else Settings()
    return run(settings, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
