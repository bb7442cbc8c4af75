"""`AIExecClient`: submit tasks (HTTP or Pub/Sub), read, wait for and list them (Firestore).

Writes go through the public doors (ingest over HTTP, or the `tasks` topic); reads come from
Firestore, the system of record, so `wait` is one snapshot listener rather than polling.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from aiexec.client.attachments import AttachmentLike
from aiexec.client.attachments import attachments as to_attachments
from aiexec.client.errors import (
    ClientError,
    RequestRefusedError,
    ServiceUnreachableError,
    TaskValidationError,
)
from aiexec.client.models import (
    ALL_STATUSES,
    TERMINAL_STATUSES,
    BatchItem,
    BatchSummary,
    Submitted,
    Task,
    Via,
)
from aiexec.client.queries import firestore_errors, iter_documents
from aiexec.client.responses import MAX_RETRY_WAIT_S, answer_of, retry_after
from infra.settings import Settings, get_settings
from shared.bus import Bus
from shared.ingest import Ingest
from shared.schemas import FieldProblem, TaskMode, TaskRequest
from shared.store import TaskStore
from shared.task_ids import resolve

API_KEY_ENV = "AIEXEC_API_KEY"
CLIENT_ENV = "AIEXEC_CLIENT_ID"
# Statuses worth retrying a submission on: the task id makes the retry idempotent.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

RequestLike = TaskRequest | Mapping[str, Any]


class AIExecClient:
    """A client of the AI Execution System.

    `api_key` (default: `$AIEXEC_API_KEY`) is sent as `Authorization: Bearer <key>` when set.
    Pub/Sub and Firestore use Google credentials (or the emulators named in the settings).

    `client_id` (default: `$AIEXEC_CLIENT_ID`, else `sdk`) is the `client_id` attribute of Pub/Sub
    submissions and, where API keys are required (`namespaced`, default: the settings'
    `api_keys_required`), the client whose task ids Firestore reads resolve: `get("x")` reads
    `tasks/{client_id}~x` (shared/task_ids.py). Set it to your key's client. A whole document id
    (`acme~x`) is read as it is.
    Thread-safe: one client may serve many threads (the batch submission does).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        ingest_url: str | None = None,
        api_key: str | None = None,
        via: Via = "http",
        client_id: str | None = None,
        namespaced: bool | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        max_connections: int = 32,
    ) -> None:
        self.settings = settings or get_settings()
        self.ingest_url = (ingest_url or self.settings.ingest_url).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self.via: Via = via
        self.client_id = client_id or os.environ.get(CLIENT_ENV) or "sdk"
        self.namespaced = self.settings.api_keys_required if namespaced is None else namespaced
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_connections = max_connections
        self.store = TaskStore(self.settings)
        self.bus = Bus(self.settings)
        self._ingest = Ingest(self.settings, self.store, self.bus)  # for its `parse` only
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._answering: set[str] = set()  # emulator hosts seen answering (checked once)

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                limits = httpx.Limits(max_connections=self.max_connections)
                self._http = httpx.Client(
                    base_url=self.ingest_url, headers=headers, limits=limits, trust_env=False
                )
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- submitting ---------------------------------------------------------------------
    def validate(self, request: RequestLike) -> TaskRequest:
        """The request as ingest will read it, or `TaskValidationError` naming the field.

        It runs ingest's own parser on the JSON that would be sent, so the rules (and the
        messages) are the server's: strict types, unknown fields, size limits.
        """
        if isinstance(request, TaskRequest):
            return request
        try:
            # Compact UTF-8, as it goes on the wire, so size limits count the same bytes.
            text = json.dumps(dict(request), ensure_ascii=False, separators=(",", ":"))
            body = text.encode()
        except (TypeError, ValueError) as error:
            message = f"not JSON-serialisable: {error}"
            raise TaskValidationError(FieldProblem(code="invalid_json", message=message)) from error
        try:
            return self._ingest.parse(body)
        except ValueError as error:  # ingest's refusal: a FieldProblem and an HTTP status
            refused = getattr(error, "problem", None)
            if not isinstance(refused, FieldProblem):
                raise
            raise TaskValidationError(refused, int(getattr(error, "status", 400))) from error

    def submit(
        self,
        request: RequestLike,
        *,
        via: Via | None = None,
        wait_s: float = 0.0,
        callback_url: str | None = None,
        deadline_s: float | None = None,
        response_schema: dict[str, Any] | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
        mode: TaskMode | None = None,
    ) -> Submitted:
        """Validate and hand over one task; with `wait_s`, wait up to that long for its result.

        `mode="batch"` puts it in the batch lane (the provider's batch API at batch prices; it
        stays `queued`, then `batched`, for up to its deadline: at least 3600 s, default 24 h);
        a wait treats `batched` like `queued` and `running`.

        `callback_url` and `deadline_s` set those request fields (see docs/contract.md: a signed
        POST when the task ends, verified with `aiexec.client.webhooks.verify`; the task's own
        deadline). `response_schema` asks for an answer that follows this JSON Schema (the
        parsed answer is `Task.result_json`). `attachments` are files for the prompt: URIs
        (`gs://…`, `https://…`; typed by their name, or `TYPE@URI`) or `{uri, mime_type}`.
        A `task_id` is chosen here when the request has none, so a retried send is the same
        task. A conversation is the request's `messages`.
        """
        extra = {
            "callback_url": callback_url,
            "deadline_s": deadline_s,
            "response_schema": response_schema,
            "attachments": None if attachments is None else to_attachments(attachments),
            "mode": mode,
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        if extra:
            base = (
                request.model_dump(exclude_none=True)
                if isinstance(request, TaskRequest)
                else request
            )
            request = dict(base) | extra
        valid = self.validate(request)
        if valid.task_id is None:
            valid = valid.model_copy(update={"task_id": uuid.uuid4().hex})
        body = valid.model_dump_json(exclude_none=True).encode()
        task_id = str(valid.task_id)
        if (via or self.via) == "pubsub":
            self._publish(body)
            if wait_s <= 0:
                return Submitted(task_id, "published", "pubsub")
            task = self.wait(task_id, wait_s)
            return Submitted(task_id, task.status if task else "published", "pubsub", task)
        return self._post_task(task_id, body, wait_s)

    def submit_many(
        self,
        requests: Iterable[RequestLike],
        *,
        via: Via | None = None,
        concurrency: int = 16,
        on_item: Callable[[BatchItem], None] | None = None,
    ) -> BatchSummary:
        """Submit many tasks, at most `concurrency` at a time; one refusal never stops the rest.

        `on_item` is called (from worker threads) as each task is answered, e.g. for progress.
        """
        from aiexec.client.batch import submit_batch

        items = enumerate(requests)
        return submit_batch(self, items, via=via, concurrency=concurrency, on_item=on_item)

    def _publish(self, body: bytes) -> None:
        self._check_emulator(self.settings.pubsub_emulator_host, "Pub/Sub")
        try:
            self.bus.publish(self.settings.topic_tasks, body, client_id=self.client_id)
        except Exception as error:  # any publish failure means the task was not handed over
            raise ServiceUnreachableError(f"could not publish to `tasks`: {error}") from error

    def _post_task(self, task_id: str, body: bytes, wait_s: float) -> Submitted:
        server_wait = min(wait_s, self.settings.wait_max_s)
        params = {"wait": f"{server_wait:g}"} if server_wait > 0 else None
        data = self._call("POST", "/tasks", content=body, params=params, timeout_s=server_wait)
        status = str(data.get("status", "queued"))
        task = self._document(Task.from_json(data)) if status in TERMINAL_STATUSES else None
        remaining = wait_s - server_wait
        if task is None and remaining > 0:  # longer than ingest may hold a request: listen
            task = self.wait(task_id, remaining)
            status = task.status if task else status
        return Submitted(task_id, status, "http", task, data.get("status_url"))

    def _document(self, answer: Task) -> Task:
        """The whole task document (attempts, timestamps) for a finished task's short answer."""
        try:
            return self.get(answer.task_id, via="http") or answer
        except ClientError:  # the answer already holds the result; the rest is a nicety
            return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        timeout_s: float = 0.0,
    ) -> dict[str, Any]:
        """One ingest call, retried on transport errors and 429/502/503/504."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(
                    method, path, content=content, params=params, headers=headers,
                    timeout=self.timeout_s + timeout_s,
                )  # fmt: skip
            except httpx.HTTPError as error:
                if attempt >= self.retries:
                    raise ServiceUnreachableError(
                        f"cannot reach ingest at {self.ingest_url}: {error}"
                    ) from error
                time.sleep(min(2.0**attempt * 0.2, MAX_RETRY_WAIT_S))  # back-off, not a poll
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(retry_after(response) or min(2.0**attempt * 0.2, MAX_RETRY_WAIT_S))
                continue
            return answer_of(response)
        raise AssertionError("unreachable: the loop returns or raises")

    # --- reading ------------------------------------------------------------------------
    def get(self, task_id: str, *, via: Literal["firestore", "http"] = "firestore") -> Task | None:
        """The task document, or None if there is no such task."""
        if via == "http":
            try:
                return Task.from_json(self._call("GET", f"/tasks/{task_id}"))
            except RequestRefusedError as error:
                if error.status == 404:
                    return None
                raise
        self._check_emulator(self.settings.firestore_emulator_host, "Firestore")
        with firestore_errors():
            document = self.store.get(self.doc_id(task_id))
        return Task.of(document) if document else None

    def wait(self, task_id: str, timeout_s: float = 60.0) -> Task | None:
        """The task once terminal (or as it is after `timeout_s`); None if it never appeared."""
        self._check_emulator(self.settings.firestore_emulator_host, "Firestore")
        with firestore_errors():
            document = self.store.wait_for_terminal(self.doc_id(task_id), timeout_s)
        return Task.of(document) if document else None

    def doc_id(self, task_id: str) -> str:
        """The Firestore document this client's `task_id` is (`tasks/{doc_id}`)."""
        return resolve(task_id, self.client_id, namespaced=self.namespaced)

    def wait_many(
        self,
        task_ids: Sequence[str],
        timeout_s: float,
        *,
        concurrency: int = 32,
        on_done: Callable[[Task | None], None] | None = None,
    ) -> dict[str, Task | None]:
        """Wait for many tasks under one deadline (a listener each, `concurrency` at a time)."""
        deadline = time.monotonic() + timeout_s

        def one(task_id: str) -> Task | None:
            task = self.wait(task_id, max(0.0, deadline - time.monotonic()))
            if on_done is not None:
                on_done(task)
            return task

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return dict(zip(task_ids, pool.map(one, task_ids), strict=True))

    def iter_tasks(
        self,
        *,
        status: str | Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        field: str = "created_at",
        newest_first: bool = True,
        limit: int | None = None,
    ) -> Iterator[Task]:
        """Tasks in `status` (any, by default) whose `field` is in [since, until), paged;
        at most `limit` of them (None or 0: all)."""
        statuses = [status] if isinstance(status, str) else list(status or [])
        unknown = sorted(set(statuses) - set(ALL_STATUSES))
        if unknown:
            raise ValueError(f"unknown status {', '.join(unknown)}; use {', '.join(ALL_STATUSES)}")
        self._check_emulator(self.settings.firestore_emulator_host, "Firestore")
        with firestore_errors():  # creating the client is where missing credentials show
            collection = self.store.client.collection(self.settings.collection_tasks)
        documents = iter_documents(
            collection,
            statuses=statuses, since=since, until=until, field=field,
            newest_first=newest_first, limit=limit if limit and limit > 0 else None,
        )  # fmt: skip
        for document in documents:
            yield Task.of(document)

    def list_tasks(self, **query: Any) -> list[Task]:
        """`iter_tasks` as a list (newest first; 50 at most unless `limit` says otherwise)."""
        query.setdefault("limit", 50)
        return list(self.iter_tasks(**query))

    def iter_results(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        status: Sequence[str] = TERMINAL_STATUSES,
    ) -> Iterator[Task]:
        """Finished tasks by completion time, oldest first (what an export wants)."""
        return self.iter_tasks(
            status=status, since=since, until=until, field="completed_at", newest_first=False
        )

    def counts(self) -> dict[str, int]:
        """Tasks per status (aggregation queries: one read per 1000 tasks counted)."""
        self._check_emulator(self.settings.firestore_emulator_host, "Firestore")
        with firestore_errors():
            return {status: self.store.count(status) for status in ALL_STATUSES}

    def _check_emulator(self, host: str | None, name: str) -> None:
        """Fail fast when an emulator is configured but down (the libraries retry for minutes)."""
        if not host or host in self._answering:
            return
        try:
            httpx.get(f"http://{host}/", timeout=2.0, trust_env=False)
        except httpx.HTTPError as error:
            raise ServiceUnreachableError(
                f"the {name} emulator at {host} does not answer ({error}); "
                "is the local stack up (`aiexec up --detach`)?"
            ) from error
        with self._lock:
            self._answering.add(host)
