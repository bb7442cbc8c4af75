"""The simulator's HTTP server: routing, fault application, counters and one log line per request.

Stdlib only (`ThreadingHTTPServer`), so the local stack needs nothing beyond the project's own
dependencies. HTTP/1.1 keep-alive is on because both SDKs pool connections.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.settings import Settings
from infra.simulator import openai_batches, openai_files, vertex_batches
from infra.simulator.batch_engine import BatchContext, BatchEngine, BatchRequest, FileStore, Route
from infra.simulator.dialects import Dialect, dialects
from infra.simulator.faults import (
    ANSWERING_MODES,
    PROVIDERS,
    FaultSpecError,
    Outcome,
    SimState,
    parse_fault,
)
from infra.simulator.models import ModelRegistry
from infra.simulator.structured import invalid_output
from infra.simulator.textgen import PromptCache
from infra.simulator.wire import Reply, json_body
from shared.errors import AIExecError

logger = logging.getLogger("aiexec.simulator")

MAX_BODY_BYTES = 32 * 1024 * 1024
_FAULT_PATH = re.compile(r"^/_sim/faults/(?P<provider>[^/]+)$")
_MODEL_PATH = re.compile(r"^/_sim/models/(?P<provider>[^/]+)/(?P<model>[^/]+)$")
# The batch APIs (files, jobs) of the providers that sell one.
BATCH_ROUTES: tuple[Route, ...] = (
    openai_files.ROUTES + openai_batches.ROUTES + vertex_batches.ROUTES
)


class SimulatorStartError(AIExecError):
    """The server could not bind its address (most often: the port is taken)."""


def _plain_error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message}})


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # a request stuck in a "slow" fault must not block shutdown
    request_queue_size = 128

    def __init__(self, host: str, port: int, batch_delay_s: float) -> None:
        self.state = SimState()
        self.cache = PromptCache()
        self.models = ModelRegistry()
        self.batches = BatchEngine(batch_delay_s)
        self.files = FileStore()  # OpenAI Files (batch input and output)
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        self.state.reset()
        self.cache.clear()
        self.models.reset()
        self.batches.reset()
        self.files.clear()

    def stop(self) -> None:
        """Stop a server started by `start_in_thread` (wakes requests sleeping in a fault)."""
        self.state.shutdown()
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("simulator request handler failed", extra={"fields": {}})


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "aiexec-simulator/0.1"
    timeout = 120  # idle keep-alive connections of pooled SDK clients must not pin threads forever
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's
    # delayed ACK: every "instant" answer took 44 ms instead of 1 ms (measured by aiexec bench).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # Replaced by the structured line in `_dispatch`; the default goes to stderr.
        return

    def _dispatch(self) -> None:
        started = time.monotonic()
        fields: dict[str, Any] = {"method": self.command, "path": urlsplit(self.path).path}
        reply = self._route(fields)
        if reply is None:
            self.close_connection = True  # the "reset" fault: hang up without answering
            fields["status"] = None
        else:
            self._send(reply)
            fields["status"] = reply.status
        fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        logger.info("simulator request", extra={"fields": fields})

    def _route(self, fields: dict[str, Any]) -> Reply | None:
        path = fields["path"]
        raw = self._read_body()
        if isinstance(raw, Reply):
            return raw
        if path.startswith("/_sim/"):
            return self._control(path, raw)
        batch = [(route, m) for route in BATCH_ROUTES if (m := route.pattern.match(path))]
        if batch:
            return self._batch_call(batch, raw, fields)
        return self._dialect_route(path, raw, fields)

    def _dialect_route(self, path: str, raw: bytes, fields: dict[str, Any]) -> Reply | None:
        for dialect in dialects():
            lookup = dialect.MODELS_PATH.match(path)
            if lookup is not None:
                return self._model_lookup(dialect, lookup, fields)
            call = dialect.CALL_PATH.match(path)
            if call is not None:
                if self.command != "POST":
                    return _plain_error(405, f"{self.command} is not allowed on {path}")
                return self._generate(dialect, call, fields, json_body(raw))
        return _plain_error(404, f"no such endpoint: {self.command} {path}")

    def _generate(
        self, dialect: Dialect, call: re.Match[str], fields: dict[str, Any], body: Any
    ) -> Reply | None:
        """One model call in `dialect`, subject to that provider's fault."""
        model = dialect.called_model(body, call)
        fields.update(provider=dialect.PROVIDER, model=model)
        cache, models = self.server.cache, self.server.models
        headers = {name.lower(): value for name, value in self.headers.items()}
        return self._model_call(
            fields,
            lambda: dialect.answer(body, call, headers, cache, models),
            lambda outcome: dialect.fault(outcome, call, model),
        )

    def _batch_call(
        self, found: list[tuple[Route, re.Match[str]]], raw: bytes, fields: dict[str, Any]
    ) -> Reply | None:
        """A batch API request (not a model call: not counted), subject to an API outage."""
        chosen = [(route, match) for route, match in found if route.method == self.command]
        if not chosen:
            allowed = ", ".join(sorted({route.method for route, _ in found}))
            reply = _plain_error(405, f"{self.command} is not allowed on {fields['path']}")
            return Reply(reply.status, reply.body, {"Allow": allowed})
        route, match = chosen[0]
        fields.update(provider=route.provider, batch=True)
        outcome = self.server.state.batch_api_outcome(route.provider)
        fields["fault"] = outcome.mode
        if outcome.mode == "reset":
            return None
        if outcome.mode != "ok":
            return route.fault(outcome)
        server = self.server
        context = BatchContext(server.batches, server.files, server.cache, server.models,
                               server.state)  # fmt: skip
        query = dict(parse_qsl(urlsplit(self.path).query))
        request = BatchRequest(raw, query, self.headers.get("Content-Type", ""))
        return route.handler(context, match, request)

    def _model_lookup(
        self, dialect: Dialect, match: re.Match[str], fields: dict[str, Any]
    ) -> Reply:
        """A model list or one model's entry: not a model call (no faults, not counted)."""
        if self.command != "GET":
            return _plain_error(405, f"{self.command} is not allowed on {fields['path']}")
        model = unquote(match.groupdict().get("model") or "")
        fields.update(provider=dialect.PROVIDER)
        if model:
            fields["model"] = model
        return dialect.lookup(self.server.models, model)

    def _model_call(
        self,
        fields: dict[str, Any],
        answer: Callable[[], Reply],
        fault: Callable[[Outcome], Reply],
    ) -> Reply | None:
        provider: str = fields["provider"]
        state = self.server.state
        outcome = state.begin_call(provider)
        fields["fault"] = outcome.mode if outcome.delay_s == 0 else "slow"
        status = 0
        try:
            state.sleep(outcome)
            if outcome.mode == "reset":
                return None
            if outcome.mode in ANSWERING_MODES:
                with invalid_output(outcome.mode == "invalid-json"):
                    reply = answer()
            else:
                reply = fault(outcome)
            status = reply.status
            return reply
        finally:
            state.end_call(outcome, provider, status)

    def _control(self, path: str, raw: bytes) -> Reply:
        server = self.server
        simple: dict[tuple[str, str], Callable[[], Reply]] = {
            ("GET", "/_sim/health"): lambda: Reply(200, {"status": "ok"}),
            ("GET", "/_sim/faults"): lambda: Reply(200, server.state.faults()),
            ("GET", "/_sim/stats"): lambda: Reply(200, server.state.stats()),
            ("GET", "/_sim/models"): lambda: Reply(
                200, {"overrides": server.models.overrides(), "served": self._served()}
            ),
            ("POST", "/_sim/reset"): self._reset,
            ("GET", "/_sim/batch"): lambda: Reply(200, server.batches.summary()),
            ("POST", "/_sim/batch"): lambda: self._set_batch(raw),
        }
        handler = simple.get((self.command, path))
        if handler is not None:
            return handler()
        post = self.command == "POST"
        match = _FAULT_PATH.match(path)
        if post and match:
            return self._set_fault(match["provider"], raw)
        match = _MODEL_PATH.match(path)
        if self.command in ("GET", "POST") and match:
            model = unquote(match["model"])
            return self._model(match["provider"], model, raw if post else None)
        return _plain_error(404, f"no such control endpoint: {self.command} {path}")

    def _reset(self) -> Reply:
        self.server.reset()
        return Reply(200, {"status": "ok", "faults": self.server.state.faults()})

    def _set_batch(self, raw: bytes) -> Reply:
        """`{"delay_s": S}`: the delay of batch jobs created from now on."""
        spec = json_body(raw)
        delay = spec.get("delay_s") if isinstance(spec, dict) else None
        if set(spec or {}) != {"delay_s"} or isinstance(delay, bool) or \
                not isinstance(delay, int | float) or delay < 0:  # fmt: skip
            return _plain_error(400, 'the body must be {"delay_s": S} with S >= 0')
        self.server.batches.set_delay(float(delay))
        return Reply(200, self.server.batches.summary())

    def _served(self) -> dict[str, list[str]]:
        models = self.server.models
        return {name: [v.model for v in models.listing(name)] for name in PROVIDERS}

    def _model(self, provider: str, model: str, raw: bytes | None) -> Reply:
        """GET: how one model stands; POST: change it (shutdown_date, retired or reset)."""
        try:
            if raw is None:
                return Reply(200, self.server.models.view(provider, model).as_dict())
            spec = json_body(raw)
            if not isinstance(spec, dict):
                return _plain_error(400, 'the body must be a JSON object like {"retired": true}')
            return Reply(200, self.server.models.change(provider, model, spec).as_dict())
        except FaultSpecError as exc:
            return _plain_error(400, str(exc))

    def _set_fault(self, provider: str, raw: bytes) -> Reply:
        spec = json_body(raw)
        if not isinstance(spec, dict):
            return _plain_error(400, 'the body must be a JSON object like {"mode": "down"}')
        try:
            fault = parse_fault(spec)
            self.server.state.set_fault(provider, fault)
        except FaultSpecError as exc:
            return _plain_error(400, str(exc))
        return Reply(200, {"provider": provider, "fault": self.server.state.faults()[provider]})

    def _read_body(self) -> bytes | Reply:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # cannot find the end of a chunked body: give up
                return _plain_error(411, "a Content-Length header is required")
            return b""
        size = int(length) if length.isdigit() else -1
        if not 0 <= size <= MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            return _plain_error(413, f"the body must be 0 to {MAX_BODY_BYTES} bytes")
        return self.rfile.read(size)

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode() if reply.raw is None else reply.raw
        raw = reply.raw is not None
        kind = "application/octet-stream" if raw else "application/json; charset=utf-8"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (typically its timeout during a "slow" fault).
            self.close_connection = True


def make_server(
    host: str = "127.0.0.1", port: int = 0, *, batch_delay_s: float | None = None
) -> SimulatorServer:
    """Bind the simulator (port 0 = any free port) without serving yet; batch jobs take
    `batch_delay_s` to finish (None: AIEXEC_SIM_BATCH_DELAY_S)."""
    delay = Settings().sim_batch_delay_s if batch_delay_s is None else batch_delay_s
    try:
        return SimulatorServer(host, port, delay)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SimulatorStartError(
                f"port {port} on {host} is already in use; stop whatever listens there or pick "
                "another port (--port, AIEXEC_SIMULATOR_PORT)"
            ) from exc
        raise SimulatorStartError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, batch_delay_s: float | None = None
) -> tuple[SimulatorServer, str]:
    """Serve in a daemon thread; returns the server (call `.stop()`) and its base URL."""
    server = make_server(host, port, batch_delay_s=batch_delay_s)
    thread = threading.Thread(
        target=server.serve_forever, name=f"simulator-{server.url}", daemon=True
    )
    thread.start()
    return server, server.url
