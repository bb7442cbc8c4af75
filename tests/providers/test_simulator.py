"""The provider simulator on the wire: response shapes, determinism, faults, counters, control."""

from __future__ import annotations

import json
import logging
import math
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.simulator import SimulatorClient, SimulatorStartError, make_server
from tests.providers.sim_cli import run_cli

REPO = Path(__file__).resolve().parents[2]
GEMINI_PATH = "/v1beta1/projects/demo/locations/us-central1/publishers/google/models/{model}"


def chat(url: str, prompt: str, model: str = "gpt-6.1-terra", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)


def gemini(
    url: str, prompt: str, model: str = "gemini-3.8-flash", version: str = "v1beta1", **cfg: Any
) -> httpx.Response:
    path = GEMINI_PATH.format(model=model).replace("/v1beta1/", f"/{version}/")
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if cfg:
        body["generationConfig"] = cfg
    return httpx.post(f"{url}{path}:generateContent", json=body, timeout=10)


# --- OpenAI dialect ---------------------------------------------------------------------------


def test_openai_chat_completion_shape_and_usage(sim: SimulatorClient) -> None:
    body = {
        "model": "gpt-6.1-terra",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain   event sourcing in two sentences"},
        ],
    }
    response = httpx.post(f"{sim.url}/v1/chat/completions", json=body)

    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-6.1-terra"
    [choice] = data["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    text = choice["message"]["content"]
    assert text.startswith("[sim:openai/gpt-6.1-terra] ")
    assert "Explain event sourcing in two sentences" in text
    usage = data["usage"]
    assert usage["prompt_tokens"] == math.ceil(len("Be brief.") / 4) + math.ceil(
        len("Explain   event sourcing in two sentences") / 4
    )
    assert usage["completion_tokens"] == math.ceil(len(text) / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_openai_output_is_deterministic_per_prompt_and_model(sim: SimulatorClient) -> None:
    first = chat(sim.url, "What is Pub/Sub?").json()
    again = chat(sim.url, "What is Pub/Sub?").json()
    other = chat(sim.url, "What is Firestore?").json()
    other_model = chat(sim.url, "What is Pub/Sub?", model="gpt-6-luna").json()

    assert first["choices"] == again["choices"]
    assert first["usage"] == again["usage"]
    assert first["id"] == again["id"]
    text = first["choices"][0]["message"]["content"]
    assert other["choices"][0]["message"]["content"] != text
    assert other_model["choices"][0]["message"]["content"].startswith("[sim:openai/gpt-6-luna] ")


def test_openai_max_completion_tokens_truncates(sim: SimulatorClient) -> None:
    data = chat(sim.url, "Tell me a long story", max_completion_tokens=5).json()

    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 5
    assert len(data["choices"][0]["message"]["content"]) <= 20
    legacy = chat(sim.url, "Tell me a long story", max_tokens=5).json()
    assert legacy["choices"][0]["finish_reason"] == "length"


def test_openai_reasoning_model_reports_reasoning_tokens(sim: SimulatorClient) -> None:
    usage = chat(sim.url, "Prove it", model="gpt-6.2-sol").json()["usage"]

    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0
    assert usage["completion_tokens"] > reasoning  # output includes the reasoning tokens


def test_long_prompt_seen_before_reports_cached_tokens(sim: SimulatorClient) -> None:
    prompt = "lorem ipsum " * 500  # 6000 chars = 1500 tokens, above the 1024-token minimum
    first = chat(sim.url, prompt).json()["usage"]
    second = chat(sim.url, prompt).json()["usage"]

    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == 1408  # 1024 + 3 x 128
    assert second["prompt_tokens"] == first["prompt_tokens"] == 1500


def test_openai_magic_markers_and_unknown_model(sim: SimulatorClient) -> None:
    too_long = chat(sim.url, "summarise [sim:context-too-long] this")
    invalid = chat(sim.url, "[sim:invalid] please")
    unknown = chat(sim.url, "hi", model="unknown-model-9")

    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"
    assert too_long.json()["error"]["type"] == "invalid_request_error"
    assert invalid.status_code == 400
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert invalid.json()["error"]["code"] is None
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_openai_malformed_requests_get_openai_errors(sim: SimulatorClient) -> None:
    no_messages = httpx.post(f"{sim.url}/v1/chat/completions", json={"model": "gpt-6.1-terra"})
    not_json = httpx.post(f"{sim.url}/v1/chat/completions", content=b"{nope")

    for response in (no_messages, not_json):
        assert response.status_code == 400
        assert set(response.json()["error"]) == {"message", "type", "code", "param"}


# --- Gemini dialect ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1beta1", "v1"])
def test_gemini_generate_content_shape(sim: SimulatorClient, version: str) -> None:
    response = gemini(sim.url, "Describe Cloud Functions", version=version)

    assert response.status_code == 200
    data = response.json()
    [candidate] = data["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["role"] == "model"
    text = candidate["content"]["parts"][0]["text"]
    assert text.startswith("[sim:vertex/gemini-3.8-flash] ")
    assert "Describe Cloud Functions" in text
    usage = data["usageMetadata"]
    assert usage["promptTokenCount"] == math.ceil(len("Describe Cloud Functions") / 4)
    assert usage["candidatesTokenCount"] == math.ceil(len(text) / 4)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert data["modelVersion"] == "gemini-3.8-flash"
    assert (
        gemini(sim.url, "Describe Cloud Functions", version=version).json()["candidates"]
        == (data["candidates"])
    )


def test_gemini_max_output_tokens_and_thoughts(sim: SimulatorClient) -> None:
    truncated = gemini(sim.url, "A long answer please", maxOutputTokens=4).json()
    thinking = gemini(sim.url, "Think hard", model="gemini-4-argon").json()["usageMetadata"]

    assert truncated["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert truncated["usageMetadata"]["candidatesTokenCount"] == 4
    assert thinking["thoughtsTokenCount"] > 0
    assert thinking["totalTokenCount"] == (
        thinking["promptTokenCount"]
        + thinking["candidatesTokenCount"]
        + thinking["thoughtsTokenCount"]
    )


def test_gemini_magic_markers_and_unknown_model(sim: SimulatorClient) -> None:
    too_long = gemini(sim.url, "[sim:context-too-long]")
    invalid = gemini(sim.url, "[sim:invalid]")
    unknown = gemini(sim.url, "hi", model="unknown-gemini")
    empty = httpx.post(
        f"{sim.url}{GEMINI_PATH.format(model='gemini-3.8-flash')}:generateContent", json={}
    )

    assert too_long.status_code == 400
    assert too_long.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "exceeds the maximum number of tokens" in too_long.json()["error"]["message"]
    for response in (invalid, empty):
        assert response.status_code == 400
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": 404,
        "message": unknown.json()["error"]["message"],
        "status": "NOT_FOUND",
    }


# --- faults -----------------------------------------------------------------------------------


def test_down_gives_503_for_the_faulted_provider_only(sim: SimulatorClient) -> None:
    sim.set_fault("openai", "down")

    assert chat(sim.url, "hi").status_code == 503
    assert chat(sim.url, "hi").json()["error"]["type"] == "server_error"
    assert gemini(sim.url, "hi").status_code == 200
    sim.set_fault("vertex", "down", status=500)
    assert gemini(sim.url, "hi").json()["error"] == {
        "code": 500,
        "message": "The service is currently unavailable. (simulated outage)",
        "status": "INTERNAL",
    }


def test_rate_limit_sends_retry_after(sim: SimulatorClient) -> None:
    sim.set_fault("openai", "rate-limit", retry_after_s=2.5)
    sim.set_fault("vertex", "rate-limit", retry_after_s=2)

    openai_reply = chat(sim.url, "hi")
    gemini_reply = gemini(sim.url, "hi")

    assert openai_reply.status_code == 429
    assert openai_reply.headers["retry-after"] == "3"  # whole seconds, rounded up
    assert openai_reply.headers["retry-after-ms"] == "2500"
    assert openai_reply.json()["error"]["code"] == "rate_limit_exceeded"
    assert gemini_reply.status_code == 429
    assert gemini_reply.headers["retry-after"] == "2"
    error = gemini_reply.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"][0]["retryDelay"] == "2.0s"


def test_auth_fault(sim: SimulatorClient) -> None:
    sim.set_fault("openai", "auth")
    sim.set_fault("vertex", "auth")

    assert chat(sim.url, "hi").status_code == 401
    assert chat(sim.url, "hi").json()["error"]["code"] == "invalid_api_key"
    assert gemini(sim.url, "hi").status_code == 403
    assert gemini(sim.url, "hi").json()["error"]["status"] == "PERMISSION_DENIED"


def test_slow_answers_after_the_delay(sim: SimulatorClient) -> None:
    sim.set_fault("vertex", "slow", delay_s=0.3)

    started = time.monotonic()
    response = gemini(sim.url, "hi")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_flaky_is_deterministic_after_reset(sim: SimulatorClient) -> None:
    def run() -> list[int]:
        sim.set_fault("openai", "flaky", failure_rate=0.5)
        return [chat(sim.url, f"call {i}").status_code for i in range(20)]

    first = run()
    sim.reset()
    second = run()

    assert first == second
    assert set(first) == {200, 503}
    assert sim.stats()["openai"] == {
        "calls": 20,
        "ok": first.count(200),
        "errors": first.count(503),
    }


def test_reset_mode_drops_the_connection(sim: SimulatorClient) -> None:
    sim.set_fault("openai", "reset")

    with pytest.raises(httpx.RemoteProtocolError):
        chat(sim.url, "hi")
    assert sim.stats()["openai"] == {"calls": 1, "ok": 0, "errors": 1}


# --- control API and counters -----------------------------------------------------------------


def test_stats_count_model_calls_only_and_reset_zeroes_everything(sim: SimulatorClient) -> None:
    sim.set_fault("vertex", "down")
    chat(sim.url, "one")
    chat(sim.url, "two", model="unknown-x")
    gemini(sim.url, "three")
    httpx.get(f"{sim.url}/_sim/health")

    assert sim.stats() == {
        "openai": {"calls": 2, "ok": 1, "errors": 1},
        "vertex": {"calls": 1, "ok": 0, "errors": 1},
        "anthropic": {"calls": 0, "ok": 0, "errors": 0},
    }
    reset = httpx.post(f"{sim.url}/_sim/reset")
    assert reset.status_code == 200
    assert sim.stats()["vertex"] == {"calls": 0, "ok": 0, "errors": 0}
    assert httpx.get(f"{sim.url}/_sim/faults").json()["vertex"]["mode"] == "ok"


def test_fault_state_is_reported_and_validated(sim: SimulatorClient) -> None:
    result = sim.set_fault("openai", "rate-limit", retry_after_s=4)

    assert result["fault"]["mode"] == "rate-limit"
    assert httpx.get(f"{sim.url}/_sim/faults").json()["openai"]["retry_after_s"] == 4.0
    assert httpx.get(f"{sim.url}/_sim/health").json() == {"status": "ok"}
    bad = [
        {"mode": "explode"},
        {"mode": "flaky", "failure_rate": 2},
        {"mode": "down", "status": 200},
        {"mode": "slow", "delay": 1},
    ]
    for body in bad:
        response = httpx.post(f"{sim.url}/_sim/faults/openai", json=body)
        assert response.status_code == 400, body
    assert httpx.post(f"{sim.url}/_sim/faults/mistral", json={"mode": "ok"}).status_code == 400
    assert httpx.get(f"{sim.url}/nowhere").status_code == 404


def test_one_log_record_per_request_without_the_prompt(
    sim: SimulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiexec.simulator")
    chat(sim.url, "top secret prompt text")

    # The handler logs after it has answered: wait for this request's line (the fixture's own
    # reset request may log during the test too, so count the lines about this path).
    def records() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name == "aiexec.simulator" and r.fields["path"] == "/v1/chat/completions"  # type: ignore[attr-defined]
        ]

    deadline = time.monotonic() + 5
    while not records() and time.monotonic() < deadline:
        time.sleep(0.01)
    found = records()
    assert len(found) == 1
    fields = found[0].fields  # type: ignore[attr-defined]
    assert fields["provider"] == "openai"
    assert fields["model"] == "gpt-6.1-terra"
    assert fields["status"] == 200
    assert "top secret" not in json.dumps(fields) + found[0].getMessage()


# --- process entry point ----------------------------------------------------------------------


def test_port_in_use_is_a_clear_error(sim: SimulatorClient) -> None:
    port = int(sim.url.rsplit(":", 1)[1])

    with pytest.raises(SimulatorStartError, match="already in use"):
        make_server("127.0.0.1", port)
    result = subprocess.run(
        [sys.executable, "-m", "infra.simulator", "--port", str(port)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_module_entry_point_serves_and_logs_json_lines() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.simulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())  # blocks until the port is bound
        url = started["url"]
        assert chat(url, "secret words").status_code == 200
        line = json.loads(process.stdout.readline())
        assert line["path"] == "/v1/chat/completions"
        assert line["status"] == 200
        assert "secret words" not in json.dumps(line)
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- `aiexec sim` -----------------------------------------------------------------------------


def test_cli_sets_shows_and_resets_faults(
    sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, sim.url, "fault", "openai", "rate-limit", "--retry-after", "2") == 0
    assert "openai: rate-limit (retry_after_s=2.0)" in capsys.readouterr().out
    assert sim.faults()["openai"]["retry_after_s"] == 2.0
    assert run_cli(monkeypatch, sim.url, "fault", "vertex", "flaky", "--rate", "0.25") == 0
    assert "vertex: flaky (failure_rate=0.25 status=503)" in capsys.readouterr().out
    assert sim.faults()["vertex"]["failure_rate"] == 0.25
    chat(sim.url, "counted")

    assert run_cli(monkeypatch, sim.url, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["faults"]["openai"]["mode"] == "rate-limit"
    assert status["stats"]["openai"] == {"calls": 1, "ok": 0, "errors": 1}
    assert run_cli(monkeypatch, sim.url, "status") == 0
    assert "calls=1" in capsys.readouterr().out

    assert run_cli(monkeypatch, sim.url, "reset") == 0
    assert {f["mode"] for f in sim.faults().values()} == {"ok"}


def test_cli_errors_have_exit_codes(
    sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, sim.url, "fault", "openai", "flaky", "--rate", "3") == 2
    assert "failure_rate" in capsys.readouterr().err

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run_cli(monkeypatch, f"http://127.0.0.1:{port}", "status") == 3
    assert "not reachable" in capsys.readouterr().err
