"""The demo's completion callback: a receiver in this process (a free local port), a task with
`callback_url` pointing at it, and the delivery verified with the client's helper."""

from __future__ import annotations

import time

from aiexec.cli.tasks import submit_http
from aiexec.cli.webhook_receiver import Receiver
from aiexec.client.webhooks import WebhookVerificationError, verify
from infra.settings import get_settings


def run_callback_demo(timeout_s: float) -> bool:
    """Whether the callback arrived and verified."""
    print("\n== A completion callback: `aiexec submit ... --callback URL`")
    secret = get_settings().callback_secret
    receiver = Receiver(0).start()
    try:
        status, answer = submit_http(
            {"task_description": "Say hello to the webhook receiver", "callback_url": receiver.url}
        )
        if status != 202:
            print(f"  ingest answered {status}: {answer}")
            return False
        task_id = str(answer["task_id"])
        deadline = time.monotonic() + timeout_s
        while not receiver.for_task(task_id) and time.monotonic() < deadline:
            time.sleep(0.1)  # the receiver's thread appends; nothing else to wait on here
        posts = receiver.for_task(task_id)
        if not posts or secret is None:
            print(f"  no callback for {task_id} within {timeout_s:g} s")
            return False
        posted = posts[0]
        try:
            view = verify(secret.get_secret_value(), posted.headers, posted.body)
        except WebhookVerificationError as error:
            print(f"  callback for {task_id} did NOT verify: {error}")
            return False
        print(
            f"  received POST {posted.path} on port {receiver.port}: webhook-id "
            f"{posted.headers['webhook-id']}, signature verified; task {task_id} "
            f"{view['status']} by {(view.get('result') or {}).get('provider')}"
        )
        return True
    finally:
        receiver.stop()
