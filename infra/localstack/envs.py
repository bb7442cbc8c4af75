"""Environment variables: how settings travel to child processes and to users' shells."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices, SecretStr

from infra.settings import Settings
from shared.providers.registry import SPECS

# Per-process settings the stack sets itself (a worker's provider), never inherited.
_PER_PROCESS = frozenset({"provider"})
PROVIDER_ENV_NAMES = ("PROVIDER", "AIEXEC_PROVIDER")
# Each provider's API key variable, as its spec declares it.
KEY_ENVS = {name: spec.key.env for name, spec in SPECS.items() if spec.key is not None}


def env_name(field: str) -> str:
    """The environment variable `Settings` reads `field` from (its first alias, if any)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return f"AIEXEC_{field.upper()}"


def _encode(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting the caller overrode (env, arguments, `model_copy`), as env variables.

    A child process started with these (on top of `os.environ`) reads the same settings.
    """
    env: dict[str, str] = {}
    for field, info in Settings.model_fields.items():
        if field in _PER_PROCESS:
            continue
        value = getattr(settings, field)
        if field not in settings.model_fields_set and value == info.get_default(
            call_default_factory=True
        ):
            continue
        encoded = _encode(value)
        if encoded is not None:
            env[env_name(field)] = encoded
    return env


def base_url(settings: Settings, port: int) -> str:
    return f"http://{settings.host}:{port}"


def connection_env(settings: Settings) -> dict[str, str]:
    """How clients reach a local stack running with `settings` (the `local.env` core)."""
    return {
        "PUBSUB_EMULATOR_HOST": f"{settings.host}:{settings.pubsub_port}",
        "FIRESTORE_EMULATOR_HOST": f"{settings.host}:{settings.firestore_port}",
        # google-cloud-storage takes this as its endpoint, so it carries the scheme
        "STORAGE_EMULATOR_HOST": base_url(settings, settings.storage_port),
        "GOOGLE_CLOUD_PROJECT": settings.project_id,
        "AIEXEC_INGEST_URL": base_url(settings, settings.ingest_port),
        "AIEXEC_SIMULATOR_URL": base_url(settings, settings.simulator_port),
    } | trace_env(settings)


def trace_env(settings: Settings) -> dict[str, str]:
    """The stack's functions export their spans to its collector, which shows each trace."""
    collector = base_url(settings, settings.trace_collector_port)
    return {
        "AIEXEC_TRACE_EXPORTER": "otlp",
        "AIEXEC_TRACE_OTLP_ENDPOINT": f"{collector}/v1/traces",
        "AIEXEC_TRACE_LINK_TEMPLATE": f"{collector}/traces/{{trace_id}}",
    }


# The local stack's callbacks go to local receivers (the demo's, tests'), signed with a fixed
# secret that is no secret (like the local API-key pepper): a setting of the caller's wins.
LOCAL_CALLBACK_SECRET = "whsec_" + "YWlleGVjLWxvY2FsLWNhbGxiYWNrLXNlY3JldC0x"
LOCAL_CALLBACK_ENV = {
    "AIEXEC_CALLBACK_ALLOW_PRIVATE": "true",
    "AIEXEC_CALLBACK_SECRET": LOCAL_CALLBACK_SECRET,
}


def stack_env(settings: Settings) -> dict[str, str]:
    """`settings_env` plus the connection settings (which win): what `local.env` exports.
    The batch lane's files go to the storage emulator's bucket unless a bucket is set."""
    batch_bucket = {"AIEXEC_BATCH_BUCKET": settings.batch_bucket or settings.storage_bucket}
    env = LOCAL_CALLBACK_ENV | batch_bucket | settings_env(settings)
    env.update(connection_env(settings))
    return env


def child_env(
    settings: Settings,
    repo_root: Path,
    *,
    provider: str | None = None,
    base: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """Environment of a stack process: `base` (os.environ) + `stack_env` + PYTHONPATH, and
    `THREADS` (functions-framework's request threads) when given.

    A provider's API key reaches that provider's worker only, as deploy mounts each key into
    its own worker only: no other process holds a key it does not use.
    """
    env = dict(os.environ if base is None else base)
    for name in PROVIDER_ENV_NAMES:
        env.pop(name, None)
    env.update(stack_env(settings))
    for name, key_env in KEY_ENVS.items():
        if name != provider:
            env.pop(key_env, None)
    pythonpath = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), pythonpath) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1"  # gcloud must fail, never wait for an answer
    if provider is not None:
        for name in PROVIDER_ENV_NAMES:
            env[name] = provider
        if settings.worker_threads is not None:  # concurrent provider calls per worker
            env["THREADS"] = str(settings.worker_threads)
    if threads is not None:
        env["THREADS"] = str(threads)
    return env
