"""Anthropic as the rest of the system sees it; importing this loads no SDK.

Called through Anthropic's own Messages API with a key, not as Claude on Vertex AI: on Vertex AI
it would share the second provider's endpoint, project quotas, IAM and regional outages, so one
Google incident would take two links of the fallback chain down at once. Anthropic's endpoint is
a failure domain of its own; the price is one more key, kept in Secret Manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.providers.spec import KeySpec, ProviderSpec, SimulatorSpec

if TYPE_CHECKING:
    from shared.providers.base import Provider
    from shared.settings import TaskSettings


def _create(settings: TaskSettings) -> Provider:
    from shared.providers.anthropic.adapter import AnthropicProvider

    return AnthropicProvider(settings)


SPEC = ProviderSpec(
    name="anthropic",
    title="Anthropic",
    create=_create,
    requirements=("anthropic", "google-cloud-storage"),  # the SDK; attachments read from gs://
    key=KeySpec(env="ANTHROPIC_API_KEY", secret="aiexec-anthropic-api-key"),  # noqa: S106 - its name
    simulator=SimulatorSpec(
        module="infra.simulator.anthropic_api",
        route="/anthropic/v1/messages",
        base_path="/anthropic",
        endpoint_env=("ANTHROPIC_API_KEY", "AIEXEC_ANTHROPIC_BASE_URL"),
    ),
    settings_env=("ANTHROPIC_API_KEY",),
)
