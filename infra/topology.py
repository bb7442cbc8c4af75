"""The Pub/Sub topology of the system, derived from `Settings` in one place.

```
tasks ──push──► ingest-events                     (dead letter: tasks-dead)
<client's topic> ──push──► ingest-events          (path /projects/P/topics/<topic>; dead letter:
                                                   tasks-dead; AIEXEC_PUBSUB_CLIENT_TOPICS)
tasks-<p1> ──push──► worker-<p1>                  (dead letter: tasks-<p2>)
tasks-<p2> ──push──► worker-<p2>                  (dead letter: ... the last one: tasks-dead)
tasks-dead ──push──► finalizer                    (no dead letter: the end of the line)
sweep-requests ──push──► sweeper                  (Cloud Scheduler, every few minutes)
task-results ──push──► callbacks                  (a task's callback_url: signed POST, retried
                                                   with back-off by nack; no dead letter)
task-results ◄──pull── task-results-audit         (completion events kept for clients/tests)
usage-report-requests ──push──► report            (Cloud Scheduler, weekly)
batch-requests ──push──► batcher                  (Cloud Scheduler, every few minutes; `aiexec
batch-requests ──push──► poller                    batch flush`): submits / finishes batch jobs
```

The provider chain is configuration, so every worker subscription's dead-letter topic is derived
from it: a worker that crashes or times out five times in a row hands the task to the next
provider's queue, and the last provider's queue drains into `tasks-dead`.

Two Pub/Sub defaults do not suit this system, so every subscription states its own:

* **Expiration.** Without an expiration policy Pub/Sub deletes a subscription after 31 days
  without activity, and what is published to its topic afterwards is lost; the fallback and
  dead-letter queues are idle for weeks. Every subscription here never expires (an expiration
  policy without a TTL; `gcloud ... --expiration-period=never`).
* **Ack deadline = push request timeout.** For a push subscription the ack deadline is also the
  timeout of the HTTP request to the endpoint (10-600 s). If it is shorter than the time the
  function may legitimately run, Pub/Sub gives up on a delivery that is still being processed
  and redelivers it. So each push-fed function has ONE time budget, `push_timeout_s`, which is
  both the function's `--timeout` and, plus a start-up margin (a cold start or waiting for an
  instance counts on Pub/Sub's clock, not on the function's), its subscription's ack deadline.

Sources (read 2026-11-29): Pub/Sub REST reference, `projects.subscriptions` (ackDeadlineSeconds:
"For push delivery, this value is also used to set the request timeout for the call to the push
endpoint", 10-600 s; expirationPolicy: unset means a 31-day TTL, a policy with an empty `ttl`
never expires), https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions ;
`gcloud pubsub subscriptions create --help` (`--expiration-period=never`); Cloud Run, "Triggering
from Pub/Sub push" (its subscription example sets `--ack-deadline=600`),
https://cloud.google.com/run/docs/triggering/pubsub-push .
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.settings import Settings
from shared.events import CALLBACK_FILTER

FUNCTION_INGEST = "ingest"
FUNCTION_INGEST_EVENTS = "ingest-events"
FUNCTION_FINALIZER = "finalizer"
FUNCTION_REPORT = "report"
FUNCTION_SWEEPER = "sweeper"
FUNCTION_CALLBACKS = "callbacks"
FUNCTION_BATCHER = "batcher"  # the batch lane (issue 16): gathers queued batch tasks into jobs
FUNCTION_POLLER = "poller"  # reads open batch jobs, finishes their tasks
BATCH_FUNCTIONS = (FUNCTION_BATCHER, FUNCTION_POLLER)

MAX_ACK_DEADLINE_S = 600  # Pub/Sub's upper bound
MIN_ACK_DEADLINE_S = 10  # Pub/Sub's lower bound
# A push request waits for an instance (a cold start: seconds) before the function's own clock
# starts; Pub/Sub's clock (the ack deadline) already runs. The ack deadline covers both.
PUSH_START_MARGIN_S = 30
MAX_PUSH_TIMEOUT_S = MAX_ACK_DEADLINE_S - PUSH_START_MARGIN_S  # the longest a push-fed fn runs
HANDLER_TIMEOUT_S = 60  # ingest-events and finalizer: a few Firestore writes + one publish
TRIGGER_TIMEOUT_S = MAX_PUSH_TIMEOUT_S  # sweeper and report: one sweep / one weekly report
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
# What Pub/Sub applies to a subscription created without an expiration policy.
DEFAULT_EXPIRATION_TTL_DAYS = 31


def ack_deadline_for(timeout_s: int) -> int:
    """The ack deadline of a push subscription whose function may run `timeout_s` seconds."""
    return max(MIN_ACK_DEADLINE_S, min(MAX_ACK_DEADLINE_S, timeout_s + PUSH_START_MARGIN_S))


HANDLER_ACK_DEADLINE_S = ack_deadline_for(HANDLER_TIMEOUT_S)  # 90 s


def worker_function(provider: str) -> str:
    """Name of the worker function deployed for `provider`."""
    return f"worker-{provider}"


def push_functions(settings: Settings) -> list[str]:
    """Every function a push subscription of the topology delivers to, in chain order."""
    workers = [worker_function(p) for p in settings.providers]
    return [
        FUNCTION_INGEST_EVENTS,
        *workers,
        FUNCTION_FINALIZER,
        FUNCTION_SWEEPER,
        FUNCTION_REPORT,
        FUNCTION_CALLBACKS,
        *BATCH_FUNCTIONS,
    ]


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
    # None: never expires (what every subscription of the topology uses); else the days of
    # inactivity after which Pub/Sub deletes the subscription (1..365).
    expiration_ttl_days: int | None = Field(None, ge=1, le=365)
    dead_letter_topic: str | None = None
    max_delivery_attempts: int | None = Field(None, ge=5, le=100)
    min_backoff_s: int | None = Field(None, ge=0, le=600)
    max_backoff_s: int | None = Field(None, ge=0, le=600)
    # Pub/Sub's subscription filter (immutable: a change recreates the subscription).
    filter: str | None = None

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


def push_timeout_s(settings: Settings, function: str) -> int:
    """The time budget of a push-fed function: its `--timeout`, and (plus the start-up margin)
    its subscription's ack deadline. The one number both are derived from.

    A worker may run as long as its lease (provider timeout x attempts + margin), capped so the
    ack deadline stays within Pub/Sub's 600 s.
    """
    if function.startswith("worker-"):
        lease = math.ceil(settings.lease_seconds(function.removeprefix("worker-")))
        return max(MIN_ACK_DEADLINE_S, min(MAX_PUSH_TIMEOUT_S, lease))
    if function in (FUNCTION_INGEST_EVENTS, FUNCTION_FINALIZER):
        return HANDLER_TIMEOUT_S
    if function in (FUNCTION_SWEEPER, FUNCTION_REPORT, *BATCH_FUNCTIONS):
        return TRIGGER_TIMEOUT_S
    if function == FUNCTION_CALLBACKS:  # one POST (its timeout) and a few Firestore writes
        return max(HANDLER_TIMEOUT_S, math.ceil(settings.callback_timeout_s) + 30)
    raise ValueError(f"{function!r} is not fed by a push subscription")


def worker_ack_deadline_s(settings: Settings, provider: str) -> int:
    """A worker subscription's ack deadline: its lease plus the start-up margin, <= 600 s."""
    return ack_deadline_for(push_timeout_s(settings, worker_function(provider)))


def _endpoint(endpoints: Mapping[str, str], function: str) -> str:
    try:
        return endpoints[function]
    except KeyError:
        known = ", ".join(sorted(endpoints)) or "none"
        raise ValueError(f"no push endpoint for function {function!r} (given: {known})") from None


def _join(endpoint: str, path: str) -> str:
    return f"{endpoint.rstrip('/')}/{path}" if path else endpoint


class _Route(NamedTuple):
    """One push subscription before its endpoint and delivery policy are filled in."""

    name: str
    topic: str
    function: str
    dead_letter_topic: str | None
    path: str = ""  # appended to the function's endpoint


def topic_path(settings: Settings, topic: str) -> str:
    """The push URL path that tells ingest-events which topic a delivery came from:
    functions-framework puts `projects/P/topics/T` of the path into the CloudEvent's source.
    Set by the deployer on the subscription, so a publisher cannot choose it."""
    return f"projects/{settings.project_id}/topics/{topic}"


def _routes(settings: Settings) -> list[_Route]:
    """The push subscriptions, in pipeline order: ingest, the provider chain, the finalizer."""
    queues = [settings.provider_topic(p) for p in settings.providers]
    tasks, dead = settings.topic_tasks, settings.topic_dead
    routes = [_Route(f"{tasks}-ingest", tasks, FUNCTION_INGEST_EVENTS, dead)]
    # A client's own `tasks` topic: its messages are that client's (shared/ingest.py).
    for topic in sorted(set(settings.pubsub_client_topics.values())):
        path = topic_path(settings, topic)
        routes.append(_Route(f"{topic}-ingest", topic, FUNCTION_INGEST_EVENTS, dead, path))
    for index, provider in enumerate(settings.providers):
        next_topic = queues[index + 1] if index + 1 < len(queues) else dead
        routes.append(
            _Route(f"{queues[index]}-worker", queues[index], worker_function(provider), next_topic)
        )
    routes.append(_Route(f"{dead}-finalizer", dead, FUNCTION_FINALIZER, None))
    sweep = settings.topic_sweep_requests
    # A lost sweep trigger is harmless (the next one comes minutes later): no dead letter.
    routes.append(_Route(f"{sweep}-sweeper", sweep, FUNCTION_SWEEPER, None))
    return routes


def _batch_routes(settings: Settings, endpoints: Mapping[str, str]) -> list[_Route]:
    """The batch lane's two subscriptions on one trigger topic, where its functions run (a
    deployment always; a local stack once it starts them). A lost trigger is harmless (the
    next one comes minutes later): no dead letter."""
    topic = settings.topic_batch_requests
    return [
        _Route(f"{topic}-{function}", topic, function, None)
        for function in BATCH_FUNCTIONS
        if function in endpoints
    ]


def build_topology(
    settings: Settings,
    endpoints: Mapping[str, str],
    *,
    retry: RetryPolicy = LOCAL_RETRY,
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS,
    push_service_account: str | None = None,
) -> Topology:
    """The topology for `settings`; `endpoints` maps function name → push endpoint URL.

    Needs an endpoint for every name in `push_functions(settings)` but the batch lane's
    (`batcher`, `poller`): each of those given adds its subscription on `batch-requests`
    (the topic is there either way, so `aiexec batch flush` can publish). In production pass
    `retry=PRODUCTION_RETRY` and the service account whose OIDC token authenticates pushes.
    """
    routes = _routes(settings)
    topic = settings.topic_report_requests
    # A lost weekly trigger is re-sent by hand (`aiexec report`); no dead letter.
    routes.append(_Route(f"{topic}-report", topic, FUNCTION_REPORT, None))
    results = settings.topic_results
    # Completion callbacks: a receiver that is down is retried by nacks, so this subscription's
    # back-off is the callback retry schedule (in production the callback settings'; locally
    # the given, short one). No dead letter: the attempts are counted on the task, which
    # records the callback `failed` after the last one and acks.
    callbacks_retry = retry
    if retry == PRODUCTION_RETRY:
        callbacks_retry = RetryPolicy(
            min_backoff_s=settings.callback_min_backoff_s,
            max_backoff_s=settings.callback_max_backoff_s,
        )
    retries = {f"{results}-callbacks": callbacks_retry}
    # Only the events of tasks with a callback reach the callbacks function.
    filters = {f"{results}-callbacks": CALLBACK_FILTER}
    routes.append(_Route(f"{results}-callbacks", results, FUNCTION_CALLBACKS, None))
    routes += _batch_routes(settings, endpoints)
    subscriptions = [
        Subscription(
            name=route.name,
            topic=route.topic,
            push_endpoint=_join(_endpoint(endpoints, route.function), route.path),
            push_service_account=push_service_account,
            ack_deadline_s=ack_deadline_for(push_timeout_s(settings, route.function)),
            dead_letter_topic=route.dead_letter_topic,
            max_delivery_attempts=max_delivery_attempts if route.dead_letter_topic else None,
            min_backoff_s=retries.get(route.name, retry).min_backoff_s,
            max_backoff_s=retries.get(route.name, retry).max_backoff_s,
            filter=filters.get(route.name),
        )
        for route in routes
    ]
    # Pull: read by clients and tests at their own pace; the default ack deadline suits it.
    subscriptions.append(Subscription(name=f"{results}-audit", topic=results))
    topics = [
        settings.topic_tasks,
        *sorted(set(settings.pubsub_client_topics.values())),
        *(settings.provider_topic(p) for p in settings.providers),
        settings.topic_dead,
        results,
        settings.topic_report_requests,
        settings.topic_sweep_requests,
        settings.topic_batch_requests,
    ]
    return Topology(topics=tuple(Topic(name=n) for n in topics), subscriptions=tuple(subscriptions))
