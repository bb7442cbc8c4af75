"""The OpenAPI document: well formed, in step with the request model, and true of the server.

Every documented (path, method, status) is produced against the live ingest function and its
body checked against the documented schema; a documented status no case produces fails the
test, and so does an undocumented one a case gets.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openapi_spec_validator
from pydantic import SecretStr

from infra.localstack.envs import child_env
from infra.settings import Settings
from infra.simulator.client import SimulatorClient
from shared.auth import KeyStore
from shared.model_lifecycle import today_utc
from shared.openapi import render_openapi
from shared.schemas import MAX_METADATA_ITEMS, TaskRequest, check_task_id
from shared.store import TaskStore
from tests.client.helpers import unique
from tests.client.schema_check import SUPPORTED, errors, keywords

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "shared" / "data" / "openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
METHODS = ("get", "post", "put", "patch", "delete")
DEFAULTS = Settings.model_construct()


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def documented() -> set[tuple[str, str, str]]:
    return {(p, m, status) for p, m, op in operations() for status in op["responses"]}


def test_the_document_is_well_formed() -> None:
    assert SPEC["openapi"].startswith("3.1.") and SPEC["info"]["title"] and SPEC["info"]["version"]
    assert (REPO / "docs" / "openapi.json").resolve() == SPEC_PATH.resolve()
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))
    for path, method, op in operations():
        assert op["responses"], (path, method)
        for status, response in op["responses"].items():
            assert status.isdigit() and response["description"], (path, method, status)
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(path.replace("}", "{").split("{")[1::2]), path
    unresolved = [ref for ref in _refs(SPEC) if not _resolves(ref)]
    assert not unresolved
    used = keywords({"oneOf": list(SPEC["components"]["schemas"].values())})
    assert used <= SUPPORTED, f"keywords the checker does not implement: {used - SUPPORTED}"


def test_the_document_validates_with_openapi_spec_validator() -> None:
    openapi_spec_validator.validate(SPEC)
    openapi_spec_validator.validate(render_openapi(Settings.model_construct(providers=["only"])))


def test_the_file_documents_the_defaults() -> None:
    """The served document is the file with the settings' values; the file has the defaults."""
    assert render_openapi(DEFAULTS) == SPEC, "the defaults changed: run `python -m shared.openapi`"
    custom = Settings.model_construct(providers=["vertex"], max_prompt_chars=1000, wait_max_s=5.5)
    served = render_openapi(custom)
    request = served["components"]["schemas"]["TaskRequest"]["properties"]
    assert request["providers"]["items"]["enum"] == ["vertex"]
    assert request["model"]["propertyNames"]["enum"] == ["vertex"]
    assert request["task_description"]["maxLength"] == 1000
    assert served["paths"]["/tasks"]["post"]["parameters"][0]["schema"]["maximum"] == 5.5
    content = served["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]
    for example in content["examples"].values():
        assert not errors(example["value"], schema=_request_schema(served), document=served)


def _request_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"]["TaskRequest"]
    return schema


def test_every_response_is_documented_as_json() -> None:
    """Every documented response body is application/json (the server answers nothing else)."""
    for path, method, op in operations():
        for status, response in op["responses"].items():
            assert set(response.get("content", {})) == {"application/json"}, (path, method, status)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolves(ref: str) -> bool:
    target: Any = SPEC
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(target, dict) or part not in target:
            return False
        target = target[part]
    return True


def test_the_request_schema_is_the_request_model() -> None:
    schema = SPEC["components"]["schemas"]["TaskRequest"]
    assert set(schema["properties"]) == set(TaskRequest.model_fields)
    required = {n for n, f in TaskRequest.model_fields.items() if f.is_required()}
    assert set(schema["required"]) == required and schema["additionalProperties"] is False
    assert schema["properties"]["task_description"]["maxLength"] == DEFAULTS.max_prompt_chars
    maximum = schema["properties"]["max_output_tokens"]["maximum"]
    assert maximum == DEFAULTS.max_output_tokens_limit
    assert schema["properties"]["metadata"]["maxProperties"] == MAX_METADATA_ITEMS
    wait = SPEC["paths"]["/tasks"]["post"]["parameters"][0]["schema"]
    assert wait["maximum"] == DEFAULTS.wait_max_s
    examples = SPEC["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]
    for example in examples["examples"].values():
        TaskRequest.model_validate_json(json.dumps(example["value"]))
        assert not errors(example["value"], schema, SPEC)


def _valid_id(candidate: str) -> bool:
    try:
        check_task_id(candidate)
    except ValueError:
        return False
    return True


TEXTS = ["x", "  x ", "", " ", "\t\n", "\u3000\u2028", "\x1c\x85", "a\x00b", "\x00", "é\u200b"]
IDS = ["a", "a.b", "a..b", "a.", "a...", ".a", "_a", "a_b:c-d", "a/b", "a" * 128, "a" * 129,
       "a\n", "a b", "é", "A9.:_-", "a.b.c", "1..", "x.y..z"]  # fmt: skip


def test_the_schema_refuses_exactly_what_the_model_refuses() -> None:
    """Patterns that JSON Schema cannot say with a flag (no NUL, not blank, no `..`, no
    reserved `__name__` keys) agree with the request model, case by case."""
    schema = SPEC["components"]["schemas"]["TaskRequest"]
    body: dict[str, Any]
    for task_id in IDS:
        body = {"task_description": "x", "task_id": task_id}
        assert (not errors(body, schema, SPEC)) == _valid_id(task_id), task_id
        path_schema = {"$ref": "#/components/schemas/TaskId"}
        assert (not errors(task_id, path_schema, SPEC)) == _valid_id(task_id), task_id
    for text in TEXTS:
        for body in ({"task_description": text}, {"task_description": "x", "system": text},
                     {"task_description": "x", "model": {"openai": text}},
                     {"task_description": "x", "metadata": {"k": text}},
                     {"task_description": "x", "metadata": {text: "v"}}):  # fmt: skip
            assert (not errors(body, schema, SPEC)) == _accepted(body), body
    for key in ["__x__", "____", "__a\nb__", "___", "__x", "x__", "_x_"]:
        body = {"task_description": "x", "metadata": {key: "v"}}
        assert (not errors(body, schema, SPEC)) == _accepted(body), body


def _accepted(body: dict[str, Any]) -> bool:
    from shared.request_guard import RequestProblemError, check_json

    raw = json.dumps(body).encode()
    try:
        check_json(raw, DEFAULTS)
        TaskRequest.model_validate_json(raw)
    except (RequestProblemError, ValueError):
        return False
    return True


# --- behaviour against the live ingest function ------------------------------------------

Case = Callable[[str], httpx.Response]


def _post(path: str, body: Any = None, **kwargs: Any) -> Case:
    if "content" in kwargs:
        return lambda base: httpx.post(base + path, timeout=90, **kwargs)
    return lambda base: httpx.post(base + path, json=body, timeout=90, **kwargs)


def _full_example(base: str) -> httpx.Response:
    content = SPEC["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]
    body = content["examples"]["full"]["value"] | {"task_id": unique("openapi-full")}
    return httpx.post(f"{base}/tasks", json=body, timeout=30)


def _conflict(path: str) -> Case:
    def run(base: str) -> httpx.Response:
        task_id = unique("openapi-conflict")
        httpx.post(f"{base}/tasks", json={"task_description": "a", "task_id": task_id}, timeout=30)
        return httpx.post(base + path, json={"task_description": "b", "task_id": task_id})

    return run


def _existing_task(base: str) -> httpx.Response:
    task_id = httpx.post(f"{base}/tasks?wait=30", json={"task_description": "x"}).json()["task_id"]
    return httpx.get(f"{base}/tasks/{task_id}", timeout=30)


HUGE = {"task_description": "x" * 300_000}
PLAIN_TEXT = {"Content-Type": "text/plain"}
GZIPPED = {"Content-Encoding": "gzip"}  # claimed, not done: refused before the body is read
CASES: list[tuple[str, str, str, Case]] = [
    ("/tasks", "post", "202", _post("/tasks", {"task_description": "Summarize CAP"})),
    ("/tasks", "post", "202", _full_example),
    ("/tasks", "post", "200", _post("/tasks?wait=30", {"task_description": "Quick one"})),
    ("/tasks", "post", "400", _post("/tasks", {"task_description": "x", "colour": "red"})),
    ("/tasks", "post", "400", _post("/tasks?wait=1000", {"task_description": "x"})),
    ("/tasks", "post", "409", _conflict("/tasks")),
    ("/tasks", "post", "413", _post("/tasks", HUGE)),
    ("/tasks/{task_id}", "get", "200", _existing_task),
    ("/tasks/{task_id}", "get", "404", lambda base: httpx.get(f"{base}/tasks/no-such-task")),
    ("/health", "get", "200", lambda base: httpx.get(f"{base}/health")),
    ("/openapi.json", "get", "200", lambda base: httpx.get(f"{base}/openapi.json")),
    ("/", "post", "200", _post("/", {"task_description": "Hello"})),
    ("/", "post", "400", _post("/", {"task": "Hello"})),
    ("/", "post", "409", _conflict("/")),
    ("/", "post", "413", _post("/", HUGE)),
    ("/tasks", "post", "415", _post("/tasks", content=b"x", headers=PLAIN_TEXT)),
    ("/", "post", "415", _post("/", {"task_description": "x"}, headers=GZIPPED)),
]  # fmt: skip

PEPPER = "openapi-test-pepper"
KeyedCase = Callable[[str, KeyStore], httpx.Response]


def _key(keys: KeyStore, **limits: Any) -> dict[str, str]:
    key, _record = keys.create(unique("openapi-client"), **limits)
    return {"Authorization": f"Bearer {key}"}


def _revoked(keys: KeyStore) -> dict[str, str]:
    key, _record = keys.create(unique("openapi-client"))
    keys.revoke(key=key)
    return {"Authorization": f"Bearer {key}"}


def _rate_limited(path: str) -> KeyedCase:
    def run(base: str, keys: KeyStore) -> httpx.Response:
        headers = _key(keys, rate="1/h", burst=1)
        httpx.post(base + path, json={"task_description": "first"}, headers=headers, timeout=30)
        return httpx.post(base + path, json={"task_description": "second"}, headers=headers)

    return run


def _keyed(method: str, path: str, headers: Callable[[KeyStore], dict[str, str]]) -> KeyedCase:
    body = {"task_description": "x", "max_output_tokens": 4096} if method == "POST" else None
    return lambda base, keys: httpx.request(
        method, base + path, json=body, headers=headers(keys), timeout=30
    )


def _no_key(_keys: KeyStore) -> dict[str, str]:
    return {}


def _unknown_key(_keys: KeyStore) -> dict[str, str]:
    return {"Authorization": "Bearer aiexec_" + "A" * 43}  # well formed, never issued


def _tiny_budget(keys: KeyStore) -> dict[str, str]:
    return _key(keys, monthly_budget_usd=0.000001)  # less than any task may cost


KEYED_CASES: list[tuple[str, str, str, KeyedCase]] = [
    ("/tasks", "post", "401", _keyed("POST", "/tasks", _no_key)),
    ("/tasks", "post", "403", _keyed("POST", "/tasks", _revoked)),
    ("/tasks", "post", "402", _keyed("POST", "/tasks", _tiny_budget)),
    ("/tasks", "post", "429", _rate_limited("/tasks")),
    ("/", "post", "401", _keyed("POST", "/", _no_key)),
    ("/", "post", "403", _keyed("POST", "/", _revoked)),
    ("/", "post", "402", _keyed("POST", "/", _tiny_budget)),
    ("/", "post", "429", _rate_limited("/")),
    ("/tasks/{task_id}", "get", "401", _keyed("GET", "/tasks/any-task", _no_key)),
    ("/tasks/{task_id}", "get", "403", _keyed("GET", "/tasks/any-task", _revoked)),
    ("/health", "get", "200", _keyed("GET", "/health", _no_key)),  # minimal: {status, version}
    ("/health", "get", "401", _keyed("GET", "/health", _unknown_key)),
    ("/health", "get", "403", _keyed("GET", "/health", _revoked)),
]  # fmt: skip


def _schema_for(path: str, method: str, status: str) -> dict[str, Any]:
    response = SPEC["paths"][path][method]["responses"][status]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def _check(path: str, method: str, status: str, response: httpx.Response) -> None:
    assert str(response.status_code) == status, (path, method, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    problems = errors(response.json(), _schema_for(path, method, status), SPEC)
    assert not problems, (path, method, status, problems)
    documented_headers = SPEC["paths"][path][method]["responses"][status].get("headers", {})
    missing = [name for name in documented_headers if name not in response.headers]
    assert not missing, (path, method, status, missing)


def test_every_documented_status_is_what_the_server_does(stack: Any, tmp_path: Path) -> None:
    covered: set[tuple[str, str, str]] = set()
    for path, method, status, case in CASES:
        _check(path, method, status, case(stack.ingest_url))
        covered.add((path, method, status))
    served = httpx.get(f"{stack.ingest_url}/openapi.json").json()
    assert served == render_openapi(stack.settings, today_utc())  # with the allowed models

    simulator = SimulatorClient(stack.simulator_url)  # every provider down: the V2 call fails
    for provider in stack.settings.providers:
        simulator.set_fault(provider, "down")
    _check("/", "post", "502", _post("/", {"task_description": "nobody answers"})(stack.ingest_url))
    covered.add(("/", "post", "502"))
    simulator.reset()

    impatient = {"AIEXEC_SYNC_WAIT_S": "0"}  # the V2 call answers "pending" at once
    with extra_ingest(stack, tmp_path, "impatient", impatient) as base:
        _check("/", "post", "202", _post("/", {"task_description": "no time"})(base))
        covered.add(("/", "post", "202"))

    keyed = {"AIEXEC_API_KEYS_REQUIRED": "true", "AIEXEC_API_KEY_PEPPER": PEPPER}
    keys = KeyStore(
        stack.settings.model_copy(update={"api_key_pepper": SecretStr(PEPPER)}),
        lambda: TaskStore(stack.settings).client,
    )
    with extra_ingest(stack, tmp_path, "keyed", keyed | {"AIEXEC_API_KEY_CACHE_S": "0"}) as base:
        for path, method, status, keyed_case in KEYED_CASES:
            _check(path, method, status, keyed_case(base, keys))
            covered.add((path, method, status))
    assert covered == documented(), f"documented, not tested: {documented() - covered}"


def test_wrong_methods_and_unknown_paths_answer_as_the_description_says(stack: Any) -> None:
    error_schema = {"$ref": "#/components/schemas/Error"}
    for method, path, status, allow in [
        ("GET", "/tasks", 405, "POST"), ("POST", "/health", 405, "GET, HEAD"),
        ("GET", "/", 405, "POST"), ("DELETE", "/openapi.json", 405, "GET, HEAD"),
        ("TRACE", "/tasks/some-id", 405, "GET, HEAD"), ("PUT", "/tasks/", 405, "POST"),
        ("GET", "/nowhere", 404, None), ("GET", "/tasks/a/b", 404, None),
        # routes functions-framework adds itself (its own 404 page was HTML)
        ("GET", "/robots.txt", 404, None), ("GET", "/favicon.ico", 404, None),
    ]:  # fmt: skip
        response = httpx.request(method, stack.ingest_url + path)
        assert response.status_code == status, (method, path)
        assert response.headers["content-type"] == "application/json", (method, path)
        assert not errors(response.json(), error_schema, SPEC)
        assert response.headers.get("allow") == allow, (method, path)
        expected = "method_not_allowed" if status == 405 else "not_found"
        assert response.json()["error"]["code"] == expected
    options = httpx.options(f"{stack.ingest_url}/tasks")
    assert (options.status_code, options.headers["allow"], options.content) == (204, "POST", b"")
    head = httpx.head(f"{stack.ingest_url}/health")
    assert (head.status_code, head.content) == (200, b"")


def test_a_body_the_server_cannot_read_is_a_json_400(stack: Any) -> None:
    """Errors below our routes (the HTTP server failing to parse a body) are JSON too."""
    for body in (b"zz\r\nabc", b'5\r\n{"tas\r\n'):  # a bad chunk size; a body cut short
        with socket.create_connection((stack.settings.host, stack.settings.ingest_port)) as conn:
            conn.sendall(
                b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
            )
            conn.shutdown(socket.SHUT_WR)
            raw = b""
            while chunk := conn.recv(65536):
                raw += chunk
        head, _, content = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), raw[:400]
        assert b"content-type: application/json" in head.lower(), raw[:400]
        assert json.loads(content)["error"]["code"] == "bad_request"


class extra_ingest:  # noqa: N801 - used as a context manager, like `open`
    """A second ingest server on the stack's emulators, with settings of its own (`env`)."""

    def __init__(self, stack: Any, tmp_path: Path, name: str, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind((stack.settings.host, 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://{stack.settings.host}:{self.port}"
        argv = list(stack.stack.components["ingest"].argv)
        argv[argv.index("--port") + 1] = str(self.port)
        env = child_env(stack.settings, REPO) | env
        self.log = (tmp_path / f"ingest-{name}.log").open("wb")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self.log, stderr=self.log)

    def __enter__(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the second ingest server exited"
            time.sleep(0.1)  # polling a starting process: there is nothing to listen to
        raise AssertionError("the second ingest server did not answer within 30 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
