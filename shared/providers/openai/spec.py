"""OpenAI as the rest of the system sees it; importing this loads no SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.providers.spec import BatchSpec, KeySpec, ProviderSpec, SimulatorSpec

if TYPE_CHECKING:
    from shared.batch.provider import BatchProvider
    from shared.providers.base import Provider
    from shared.settings import TaskSettings


def _create(settings: TaskSettings) -> Provider:
    from shared.providers.openai.adapter import OpenAIProvider

    return OpenAIProvider(settings)


def _create_batch(settings: TaskSettings) -> BatchProvider:
    from shared.providers.openai.batch import OpenAIBatch

    return OpenAIBatch(settings)


SPEC = ProviderSpec(
    name="openai",
    title="OpenAI",
    create=_create,
    requirements=("openai", "httpx", "google-cloud-storage"),  # google-cloud-storage: attachments
    key=KeySpec(env="OPENAI_API_KEY", secret="aiexec-openai-api-key"),  # noqa: S106 - its name
    simulator=SimulatorSpec(
        module="infra.simulator.openai_api",
        route="/v1/chat/completions",
        base_path="/v1",
        endpoint_env=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ),
    settings_env=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    batch=BatchSpec(
        create=_create_batch,
        max_lines=50_000,
        max_bytes=200_000_000,  # 200 MB (decimal: the smaller reading)
        source="https://platform.openai.com/docs/api-reference/batch/create, read 2026-11-30",
    ),
)
