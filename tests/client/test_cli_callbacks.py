"""The CLI's callback and deadline fields against the session stack: `aiexec submit --callback
URL --deadline S` (stored on the task; the signed POST reaches a local receiver), refusals
before anything is sent, the per-client signing secret `aiexec keys create` prints once, and
the batch examples with both fields (docs/examples/callbacks.jsonl and .csv)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiexec.cli.main import EXIT_OK, EXIT_USAGE
from aiexec.cli.webhook_receiver import Receiver
from aiexec.client import read_task_file
from aiexec.client.webhooks import verify
from infra.localstack.envs import LOCAL_CALLBACK_SECRET
from shared.auth import KEY_PREFIX, KeyStore
from shared.callbacks.signing import decode_secret
from shared.firestore.callbacks import CallbackRecords
from shared.firestore.client import LazyClient
from shared.store import TaskStore
from tests.client.helpers import Cli, unique

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PLACEHOLDER = "https://hooks.example.com/aiexec"  # the examples' callback_url
WAIT_S = 60.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(0).start()
    yield started
    started.stop()


def delivered(stack: Any, task_id: str) -> dict[str, Any]:
    """The task once its callback is delivered (polled, bounded)."""
    store = TaskStore(stack.settings)
    deadline = time.monotonic() + WAIT_S
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        task = store.get(task_id)
        if task and (task.get("callback") or {}).get("status") == "delivered":
            return task
        time.sleep(0.1)
    raise AssertionError(f"callback of {task_id} not delivered in {WAIT_S}s: {task}")


def test_submit_with_a_callback_and_a_deadline(cli: Cli, stack: Any, receiver: Receiver) -> None:
    task_id = unique("cli-callback")
    run = cli("submit", "Say hi", "--id", task_id, "--callback", receiver.url,
              "--deadline", "45", "--wait", "30", "--json")  # fmt: skip
    assert run.code == EXIT_OK, run
    task = delivered(stack, task_id)
    assert task["request"]["callback_url"] == receiver.url
    assert (task["deadline_at"] - task["created_at"]).total_seconds() == 45
    [posted] = receiver.for_task(task_id)
    assert verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)["status"] == "succeeded"
    shown = json.loads(cli("get", task_id, "--json").out)
    assert shown["request"]["callback_url"] == receiver.url


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--callback", "ftp://example.com/hook"), "callback_url"),
        (("--callback", "not a url"), "callback_url"),
        (("--deadline", "0"), "deadline_s"),
        (("--deadline", "-5"), "deadline_s"),
    ],
)
def test_bad_callbacks_and_deadlines_are_refused_before_sending(
    cli: Cli, stack: Any, args: tuple[str, ...], field: str
) -> None:
    task_id = unique("cli-refused")
    run = cli("submit", "x", "--id", task_id, *args)
    assert run.code == EXIT_USAGE, run
    assert field in run.err + run.out
    assert TaskStore(stack.settings).get(task_id) is None  # nothing was sent


def test_keys_create_prints_a_signing_secret_once(cli: Cli, stack: Any) -> None:
    client_id = unique("clikeys")
    run = cli("keys", "create", "--client", client_id)
    assert run.code == EXIT_OK, run
    key, secret = run.out.splitlines()[:2]
    assert key.startswith(KEY_PREFIX)
    assert secret.startswith("whsec_") and len(decode_secret(secret)) == 32
    assert run.out.splitlines() == [key, secret]  # stdout: the two values, nothing else
    assert "signs your tasks' callbacks" in run.err
    # stored with the key, so the callbacks function finds it by client
    settings = stack.settings
    records = CallbackRecords(settings, LazyClient(settings), settings.collection_api_keys)
    assert records.client_secret(client_id) == secret
    # --json shows it under its name; a second key gets a secret of its own, the newest wins
    again = json.loads(cli("keys", "create", "--client", client_id, "--json").out)
    assert again["callback_secret"].startswith("whsec_") and again["callback_secret"] != secret
    assert records.client_secret(client_id) == again["callback_secret"]
    stored = [d.to_dict() for d in KeyStore(settings, LazyClient(settings)).collection().stream()]
    assert not any(key in json.dumps(d, default=str) for d in stored)  # the key: never stored


@pytest.mark.parametrize("name", ["callbacks.jsonl", "callbacks.csv"])
def test_the_batch_examples_carry_a_callback_and_a_deadline(name: str) -> None:
    entries = list(read_task_file(EXAMPLES / name))
    assert entries
    for _line, request in entries:
        assert isinstance(request, dict), request
        assert request["callback_url"] == PLACEHOLDER
        assert isinstance(request["deadline_s"], int | float) and request["deadline_s"] > 0


@pytest.mark.parametrize("name", ["callbacks.jsonl", "callbacks.csv"])
def test_the_batch_examples_run_with_the_callback_pointed_at_a_receiver(
    cli: Cli, stack: Any, receiver: Receiver, tmp_path: Path, name: str
) -> None:
    """The example as a user runs it, its placeholder URL replaced by their receiver's: every
    task succeeds, keeps its deadline, and is posted once, signed."""
    path = tmp_path / name
    path.write_text((EXAMPLES / name).read_text().replace(PLACEHOLDER, receiver.url))
    prefix = unique("example-cb")
    run = cli("submit", "--file", str(path), "--id-prefix", prefix, "--wait", "60", "--quiet")
    assert run.code == EXIT_OK, run.out + run.err
    expected = [request for _, request in read_task_file(EXAMPLES / name)]
    for number, request in enumerate(expected, start=2 if name.endswith(".csv") else 1):
        assert isinstance(request, dict)
        task = delivered(stack, f"{prefix}-{number}")
        assert task["request"]["callback_url"] == receiver.url
        assert task["request"]["task_description"] == request["task_description"]
        seconds = (task["deadline_at"] - task["created_at"]).total_seconds()
        assert seconds == float(request["deadline_s"])
        [posted] = receiver.for_task(task["task_id"])
        assert verify(LOCAL_CALLBACK_SECRET, posted.headers, posted.body)["status"] == "succeeded"
