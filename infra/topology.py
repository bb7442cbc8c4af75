"""The Pub/Sub topology of the system, derived from `Settings` in one place.

```
tasks ──push──► ingest-events                     (dead letter: tasks-dead)
tasks-<p1> ──push──► worker-<p1>                  (dead letter: tasks-<p2>)
tasks-<p2> ──push──► worker-<p2>                  (dead letter: ... the last one: tasks-dead)
tasks-dead ──push──► finalizer                    (no dead letter: the end of the line)
sweep-requests ──push──► sweeper                  (Cloud Scheduler, every few minutes)
task-results ◄──pull── task-results-audit         (completion events kept for clients/tests)
usage-report-requests ──push──► report            (Cloud Scheduler, weekly)
```

The provider chain is configuration, so every worker subscription's dead-letter topic is derived
from it: a worker that crashes or times out five times in a row hands the task to the next
provider's queue, and the last provider's queue drains into `tasks-dead`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.settings import Settings

FUNCTION_INGEST = "ingest"
FUNCTION_INGEST_EVENTS = "ingest-events"
FUNCTION_FINALIZER = "finalizer"
FUNCTION_REPORT = "report"
FUNCTION_SWEEPER = "sweeper"

MAX_ACK_DEADLINE_S = 600  # Pub/Sub's upper bound
MIN_ACK_DEADLINE_S = 10  # Pub/Sub's lower bound
HANDLER_ACK_DEADLINE_S = 60  # ingest-events and finalizer: one Firestore transaction + publish
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5


def worker_function(provider: str) -> str:
    """Name of the worker function deployed for `provider`."""
    return f"worker-{provider}"


def push_functions(settings: Settings) -> list[str]:
    """Every function a push subscription of the topology delivers to, in chain order."""
    workers = [worker_function(p) for p in settings.providers]
    return [FUNCTION_INGEST_EVENTS, *workers, FUNCTION_FINALIZER, FUNCTION_SWEEPER, FUNCTION_REPORT]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(_Frozen):
    """Back-off between redeliveries of a nacked (or failed push) message."""

    min_backoff_s: int = Field(ge=0, le=600)
    max_backoff_s: int = Field(ge=0, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_backoff_s > self.max_backoff_s:
            raise ValueError("min_backoff_s must not exceed max_backoff_s")
        return self


LOCAL_RETRY = RetryPolicy(min_backoff_s=1, max_backoff_s=10)
PRODUCTION_RETRY = RetryPolicy(min_backoff_s=10, max_backoff_s=600)


class Topic(_Frozen):
    name: str


class Subscription(_Frozen):
    name: str
    topic: str
    push_endpoint: str | None = None  # None: a pull subscription
    push_service_account: str | None = None  # production: pushes carry its OIDC token
    ack_deadline_s: int = Field(HANDLER_ACK_DEADLINE_S, ge=MIN_ACK_DEADLINE_S, le=600)
    dead_letter_topic: str | None = None
    max_delivery_attempts: int | None = Field(None, ge=5, le=100)
    min_backoff_s: int | None = Field(None, ge=0, le=600)
    max_backoff_s: int | None = Field(None, ge=0, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.dead_letter_topic is None) != (self.max_delivery_attempts is None):
            raise ValueError(
                f"{self.name}: dead_letter_topic and max_delivery_attempts go together"
            )
        if (self.min_backoff_s is None) != (self.max_backoff_s is None):
            raise ValueError(f"{self.name}: min_backoff_s and max_backoff_s go together")
        if self.min_backoff_s is not None and self.max_backoff_s is not None:
            RetryPolicy(min_backoff_s=self.min_backoff_s, max_backoff_s=self.max_backoff_s)
        if self.dead_letter_topic == self.topic:
            raise ValueError(f"{self.name}: a topic cannot be its own dead-letter topic")
        return self

    @property
    def is_push(self) -> bool:
        return self.push_endpoint is not None


class Topology(_Frozen):
    topics: tuple[Topic, ...]
    subscriptions: tuple[Subscription, ...]

    @model_validator(mode="after")
    def _closed(self) -> Self:
        names = [t.name for t in self.topics]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate topic in {names}")
        sub_names = [s.name for s in self.subscriptions]
        if len(set(sub_names)) != len(sub_names):
            raise ValueError(f"duplicate subscription in {sub_names}")
        for sub in self.subscriptions:
            for ref in (sub.topic, sub.dead_letter_topic):
                if ref is not None and ref not in names:
                    raise ValueError(f"{sub.name} refers to undeclared topic {ref!r}")
        return self

    def topic(self, name: str) -> Topic:
        return next(t for t in self.topics if t.name == name)

    def subscription(self, name: str) -> Subscription:
        return next(s for s in self.subscriptions if s.name == name)


def worker_ack_deadline_s(settings: Settings, provider: str) -> int:
    """A worker's worst case (its lease), within Pub/Sub's 10..600 s bounds."""
    lease = math.ceil(settings.lease_seconds(provider))
    return max(MIN_ACK_DEADLINE_S, min(MAX_ACK_DEADLINE_S, lease))


def _endpoint(endpoints: Mapping[str, str], function: str) -> str:
    try:
        return endpoints[function]
    except KeyError:
        known = ", ".join(sorted(endpoints)) or "none"
        raise ValueError(f"no push endpoint for function {function!r} (given: {known})") from None


class _Route(NamedTuple):
    """One push subscription before its endpoint and delivery policy are filled in."""

    name: str
    topic: str
    function: str
    ack_deadline_s: int
    dead_letter_topic: str | None


def _routes(settings: Settings) -> list[_Route]:
    """The push subscriptions, in pipeline order: ingest, the provider chain, the finalizer."""
    queues = [settings.provider_topic(p) for p in settings.providers]
    tasks, dead = settings.topic_tasks, settings.topic_dead
    routes = [
        _Route(f"{tasks}-ingest", tasks, FUNCTION_INGEST_EVENTS, HANDLER_ACK_DEADLINE_S, dead)
    ]
    for index, provider in enumerate(settings.providers):
        next_topic = queues[index + 1] if index + 1 < len(queues) else dead
        ack = worker_ack_deadline_s(settings, provider)
        routes.append(
            _Route(
                f"{queues[index]}-worker", queues[index], worker_function(provider), ack, next_topic
            )
        )
    routes.append(
        _Route(f"{dead}-finalizer", dead, FUNCTION_FINALIZER, HANDLER_ACK_DEADLINE_S, None)
    )
    sweep = settings.topic_sweep_requests
    # A lost sweep trigger is harmless (the next one comes minutes later): no dead letter.
    routes.append(_Route(f"{sweep}-sweeper", sweep, FUNCTION_SWEEPER, MAX_ACK_DEADLINE_S, None))
    return routes


def build_topology(
    settings: Settings,
    endpoints: Mapping[str, str],
    *,
    retry: RetryPolicy = LOCAL_RETRY,
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS,
    push_service_account: str | None = None,
) -> Topology:
    """The topology for `settings`; `endpoints` maps function name → push endpoint URL.

    Needs an endpoint for every name in `push_functions(settings)`; an optional `report`
    endpoint adds the push subscription of the weekly report trigger. In production pass
    `retry=PRODUCTION_RETRY` and the service account whose OIDC token authenticates pushes.
    """
    routes = _routes(settings)
    topic = settings.topic_report_requests
    # A lost weekly trigger is re-sent by hand (`aiexec report`); no dead letter.
    routes.append(_Route(f"{topic}-report", topic, FUNCTION_REPORT, MAX_ACK_DEADLINE_S, None))
    subscriptions = [
        Subscription(
            name=route.name,
            topic=route.topic,
            push_endpoint=_endpoint(endpoints, route.function),
            push_service_account=push_service_account,
            ack_deadline_s=route.ack_deadline_s,
            dead_letter_topic=route.dead_letter_topic,
            max_delivery_attempts=max_delivery_attempts if route.dead_letter_topic else None,
            min_backoff_s=retry.min_backoff_s,
            max_backoff_s=retry.max_backoff_s,
        )
        for route in routes
    ]
    results = settings.topic_results
    subscriptions.append(Subscription(name=f"{results}-audit", topic=results))
    topics = [
        settings.topic_tasks,
        *(settings.provider_topic(p) for p in settings.providers),
        settings.topic_dead,
        results,
        settings.topic_report_requests,
        settings.topic_sweep_requests,
    ]
    return Topology(topics=tuple(Topic(name=n) for n in topics), subscriptions=tuple(subscriptions))
