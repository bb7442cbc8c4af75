"""Production-like push delivery for a few subscriptions, while a block runs.

The Pub/Sub emulator pushes each subscription's messages through exactly two loops, one HTTP
request at a time each (its `FakePubsubServer.SubscriptionData` starts two `PushLoop`s), so on
the local stack a push subscription never has more than two deliveries in flight, whatever the
function's concurrency; production push scales outstanding deliveries with the endpoint's
success. With a provider taking ~800 ms that cap (2 / 0.8 s = 2.5 tasks/s) is all one would
measure. So, for the provider-latency scenario only, the benchmark takes over delivery: it turns
the subscriptions into pull subscriptions, streams their messages and POSTs each one to the same
endpoint in the same push envelope, up to `concurrency` at once (ack on 2xx, nack otherwise),
and restores the push configuration afterwards.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler


def envelope(message: Any, subscription: str) -> dict[str, Any]:
    """The JSON body Pub/Sub push sends (what functions-framework turns into a CloudEvent)."""
    return {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "publishTime": message.publish_time.isoformat(),
        },
        "subscription": subscription,
    }


@contextmanager
def pushed_by_us(
    project: str, endpoints: Mapping[str, str], concurrency: Mapping[str, int]
) -> Iterator[None]:
    """While the block runs, deliver subscription name → endpoint ourselves."""
    subscriber = pubsub_v1.SubscriberClient()
    http = httpx.Client(
        timeout=600.0, limits=httpx.Limits(max_connections=sum(concurrency.values()))
    )
    saved: dict[str, Any] = {}
    streams = []
    try:
        for name, endpoint in endpoints.items():
            path = subscriber.subscription_path(project, name)
            saved[path] = subscriber.get_subscription(request={"subscription": path}).push_config
            subscriber.modify_push_config(
                request={"subscription": path, "push_config": pubsub_v1.types.PushConfig()}
            )
            streams.append(_forward(subscriber, http, path, endpoint, concurrency[name]))
        yield
    finally:
        for stream in streams:
            stream.cancel()
        for path, push_config in saved.items():
            subscriber.modify_push_config(
                request={"subscription": path, "push_config": push_config}
            )
        http.close()
        subscriber.close()


def _forward(
    subscriber: Any, http: httpx.Client, path: str, endpoint: str, concurrency: int
) -> Any:
    def deliver(message: Any) -> None:
        try:
            response = http.post(endpoint, json=envelope(message, path))
        except httpx.HTTPError:
            message.nack()
            return
        if 200 <= response.status_code < 300:
            message.ack()
        else:
            message.nack()

    scheduler = ThreadScheduler(ThreadPoolExecutor(max_workers=concurrency))
    flow = pubsub_v1.types.FlowControl(max_messages=concurrency)
    return subscriber.subscribe(path, deliver, flow_control=flow, scheduler=scheduler)
