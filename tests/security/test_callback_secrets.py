"""A client's own callback signing secret, end to end: `aiexec keys create` makes it (printed
once, stored with the key), a task submitted with that key to ingest in keys-required mode
carries a `callback_url` to a local receiver, and the session stack's callbacks function (the
same Firestore and project as these ingest servers: their tasks run on the session's workers
and end on its `task-results`) signs the delivery with that client's secret, not the
deployment's."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from aiexec.cli.webhook_receiver import Receiver
from aiexec.client.webhooks import WebhookVerificationError, verify
from infra.localstack.envs import LOCAL_CALLBACK_SECRET
from shared.callbacks.signing import decode_secret
from tests.security.conftest import AIEXEC, Security, cli_env, post_task

WAIT_S = 60.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(0).start()
    yield started
    started.stop()


def wait_delivered(security: Security, client_id: str, task_id: str) -> dict[str, Any]:
    """The task once its callback is recorded (polled, bounded)."""
    deadline = time.monotonic() + WAIT_S
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        task = security.task(client_id, task_id)
        if task and (task.get("callback") or {}).get("status") in ("delivered", "failed"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"no callback recorded for {task_id} in {WAIT_S}s: {task}")


def test_a_clients_own_secret_signs_its_callbacks(security: Security, receiver: Receiver) -> None:
    client_id = f"hooks-{uuid.uuid4().hex[:8]}"
    created = subprocess.run(
        [*AIEXEC, "keys", "create", "--client", client_id, "--json"],
        env=cli_env(security), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    made = json.loads(created.stdout)
    key, secret = made["key"], made["callback_secret"]
    assert secret.startswith("whsec_") and len(decode_secret(secret)) == 32
    assert secret != LOCAL_CALLBACK_SECRET

    task_id = f"own-secret-{uuid.uuid4().hex[:8]}"
    body = {"task_id": task_id, "task_description": "hello", "callback_url": receiver.url}
    answer = post_task(security.a.url, key, body)
    assert answer.status_code == 202, answer.text

    task = wait_delivered(security, client_id, task_id)
    assert task["callback"]["status"] == "delivered", task["callback"]
    [posted] = receiver.for_task(task_id)
    view = verify(secret, posted.headers, posted.body)
    assert (view["task_id"], view["status"]) == (task_id, task["status"])
    assert posted.headers["webhook-id"] == task["callback"]["webhook_id"]
    # the deployment's own secret does not verify it: this client's secret signed it
    with pytest.raises(WebhookVerificationError):
        verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)
