"""Deterministic fake model output and token accounting, shared by every wire dialect.

Same input, same output, same token counts: tests and demos can assert on them. The numbers
follow the real providers' rules closely enough for accounting code to be exercised: output
tokens include reasoning tokens and both count against the output limit, and a long prompt seen
before reports a cached prefix.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from infra.simulator.structured import answer_text

MARKER_CONTEXT_TOO_LONG = "[sim:context-too-long]"
MARKER_INVALID = "[sim:invalid]"
MARKER_BLOCKED = "[sim:blocked]"  # the provider's safety filter refuses the prompt

# OpenAI caches prompts of at least 1024 tokens, in 128-token steps; Gemini's implicit cache is
# similar enough that one rule serves both.
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
_CACHE_CAPACITY = 10_000

_SENTENCES = (
    "The simulator considered the request carefully.",
    "A real model would give a more useful answer here.",
    "This reply is deterministic, so tests can rely on it.",
    "Nothing was sent to a real provider.",
    "The answer depends only on the prompt and the model.",
    "Token counts are estimated at four characters per token.",
    "Faults can be injected at run time through the control API.",
    "Every call is counted in the simulator's statistics.",
)
_SNIPPET_CHARS = 40


@dataclass(frozen=True)
class Generation:
    text: str
    finish: str  # "stop" or "length"; each dialect renders its own name
    prompt_tokens: int
    completion_tokens: int  # visible output + reasoning
    reasoning_tokens: int
    cached_tokens: int


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def prompt_token_count(system: str, prompt: str) -> int:
    return max(1, count_tokens(system) + count_tokens(prompt))


# Models that report reasoning (thinking) tokens: OpenAI's o-series, gpt-5 and the gpt-6 "sol"
# tier; Gemini 2.5 and the gemini-4 tier; Claude Opus 5.x and Fable (thinking always on). The
# everyday defaults answer without reasoning tokens.
_REASONING_PREFIXES = (
    "o1",
    "o3",
    "o4",
    "gpt-5",
    "gemini-2.5",
    "gemini-4",
    "claude-opus-5",
    "claude-fable",
)


def is_reasoning_model(model: str) -> bool:
    name = model.lower()
    return name.startswith(_REASONING_PREFIXES) or "-sol" in name or "thinking" in name


def render_text(tag: str, prompt: str, system: str) -> str:
    digest = hashlib.sha256(f"{tag}\n{system}\n{prompt}".encode()).digest()
    snippet = " ".join(prompt.split())[:_SNIPPET_CHARS]
    count = 2 + digest[0] % 3
    picked = [_SENTENCES[digest[i + 1] % len(_SENTENCES)] for i in range(count)]
    return f'[sim:{tag}] You asked: "{snippet}". ' + " ".join(picked)


class PromptCache:
    """Remembers long prompts so a repeat reports cached tokens, as the real services do."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[bytes] = set()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def cached_tokens(self, key: str, prompt_tokens: int) -> int:
        if prompt_tokens < CACHE_MIN_TOKENS:
            return 0
        digest = hashlib.sha256(key.encode()).digest()
        with self._lock:
            if digest in self._seen:
                return CACHE_MIN_TOKENS + (
                    (prompt_tokens - CACHE_MIN_TOKENS) // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS
                )
            if len(self._seen) >= _CACHE_CAPACITY:
                self._seen.clear()  # bounded memory matters more than cache realism
            self._seen.add(digest)
            return 0


def generate(
    *,
    tag: str,
    model: str,
    prompt: str,
    system: str,
    max_tokens: int | None,
    cache: PromptCache,
    schema: dict[str, Any] | None = None,
) -> Generation:
    """The completion for one call; `tag` ("openai/<model>") prefixes the text. With a JSON
    `schema`, the text is a JSON instance of it (infra/simulator/structured.py), and the schema
    counts as prompt tokens, as the providers count it."""
    prompt_tokens = prompt_token_count(system, prompt)
    if schema is None:
        text = render_text(tag, prompt, system)
    else:
        prompt_tokens += count_tokens(json.dumps(schema))
        text = answer_text(schema, f"{tag}\n{system}\n{prompt}")
    visible = count_tokens(text)
    reasoning = 2 * visible if is_reasoning_model(model) else 0
    finish = "stop"
    if max_tokens is not None and reasoning + visible > max_tokens:
        finish = "length"
        reasoning = min(reasoning, max_tokens)
        visible = max_tokens - reasoning
        text = text[: visible * 4]
    cached = cache.cached_tokens(f"{model}\n{system}\n{prompt}", prompt_tokens)
    return Generation(
        text=text,
        finish=finish,
        prompt_tokens=prompt_tokens,
        completion_tokens=reasoning + visible,
        reasoning_tokens=reasoning,
        cached_tokens=cached,
    )
