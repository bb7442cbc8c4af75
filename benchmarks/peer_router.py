"""The peer: LiteLLM's `Router` over a batch, in its own process (so the benchmark can kill it).

    python -m benchmarks.peer_router --simulator URL --project P --tasks IN --answers OUT

Same chain as the pipeline, against the same simulator: OpenAI (`openai/<model>`, api_base the
simulator's OpenAI route) then Gemini (`gemini/<model>`, api_base the simulator's Vertex AI
publisher path: LiteLLM appends `/models/<model>:generateContent`), with the Router's fallbacks
and no retries of its own beyond them. Reads the tasks (JSON lines: task_id, prompt), builds the
Router, prints `ready`, waits for one line on stdin, then runs every task with at most
`--concurrency` in flight; each answer is appended to `--answers` as it arrives (flushed: what
the caller saw answered survives a SIGKILL). Nothing downloads: the model cost map is the
bundled one (`LITELLM_LOCAL_MODEL_COST_MAP`) and tiktoken reads LiteLLM's bundled files.

Only in the `bench` dependency group; imported by name so that nothing else needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

PRIMARY, FALLBACK = "primary", "fallback"


def model_list(simulator: str, project: str, location: str, models: tuple[str, str]) -> list[Any]:
    openai_model, gemini_model = models
    gemini_base = f"{simulator}/v1/projects/{project}/locations/{location}/publishers/google"
    return [
        {
            "model_name": PRIMARY,
            "litellm_params": {
                "model": f"openai/{openai_model}",
                "api_base": f"{simulator}/v1",
                "api_key": "sk-simulator",
                "max_retries": 0,
            },
        },
        {
            "model_name": FALLBACK,
            "litellm_params": {
                "model": f"gemini/{gemini_model}",
                "api_base": gemini_base,
                "api_key": "simulator",
                "max_retries": 0,
            },
        },
    ]


def build_router(args: argparse.Namespace) -> Any:
    litellm: Any = importlib.import_module("litellm")
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    models = model_list(args.simulator, args.project, args.location, (args.openai, args.gemini))
    return litellm.Router(
        model_list=models,
        fallbacks=[{PRIMARY: [FALLBACK]}],
        num_retries=0,
        timeout=args.timeout_s,
    )


async def run_all(router: Any, tasks: list[dict[str, str]], concurrency: int, out: TextIO) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(task: dict[str, str]) -> None:
        async with gate:
            started = time.time()
            record: dict[str, Any] = {"task_id": task["task_id"], "started": started}
            try:
                response = await router.acompletion(
                    model=PRIMARY, messages=[{"role": "user", "content": task["prompt"]}]
                )
                hidden = getattr(response, "_hidden_params", None) or {}
                record |= {
                    "ok": True,
                    "provider": hidden.get("custom_llm_provider"),
                    "model": getattr(response, "model", None),
                    "tokens": getattr(getattr(response, "usage", None), "total_tokens", None),
                }
            except Exception as error:  # noqa: BLE001 - a failed task is an answer too
                record |= {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
            record["ended"] = time.time()
            out.write(json.dumps(record) + "\n")
            out.flush()

    await asyncio.gather(*(one(t) for t in tasks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--openai", default="gpt-6.1-terra")
    parser.add_argument("--gemini", default="gemini-3.8-flash")
    parser.add_argument("--tasks", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument(
        "--warm", action="store_true", help="one call per deployment before `ready` (lazy imports)"
    )
    args = parser.parse_args(argv)
    tasks = [json.loads(line) for line in args.tasks.read_text().splitlines() if line.strip()]
    router = build_router(args)
    with args.answers.open("a", encoding="utf-8") as out:
        asyncio.run(serve(router, tasks, args, out))
    return 0


async def serve(
    router: Any, tasks: list[dict[str, str]], args: argparse.Namespace, out: TextIO
) -> None:
    """Warm (optionally), say `ready`, wait for the go, run the batch: one event loop, so the
    Router's cached clients stay on the loop that made them."""
    if args.warm:
        for name in (PRIMARY, FALLBACK):
            with contextlib.suppress(Exception):  # a warm-up that fails warms the imports too
                await router.acompletion(
                    model=name, messages=[{"role": "user", "content": "warm-up"}]
                )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the go
    await run_all(router, tasks, args.concurrency, out)


if __name__ == "__main__":
    sys.exit(main())
