"""Vertex AI as the rest of the system sees it; importing this loads no SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.providers.spec import BatchSpec, ProviderSpec, SimulatorSpec

if TYPE_CHECKING:
    from shared.batch.provider import BatchProvider
    from shared.providers.base import Provider
    from shared.settings import TaskSettings


def _create(settings: TaskSettings) -> Provider:
    from shared.providers.vertex.adapter import VertexProvider

    return VertexProvider(settings)


def _create_batch(settings: TaskSettings) -> BatchProvider:
    from shared.providers.vertex.batch import VertexBatch

    return VertexBatch(settings)


SPEC = ProviderSpec(
    name="vertex",
    title="Vertex AI",
    create=_create,
    requirements=("google-genai", "httpx", "google-cloud-storage"),  # storage: batch files
    key=None,  # no key: the worker's service account calls Vertex AI with its own identity
    iam_roles=("roles/aiplatform.user",),
    native_file_schemes=("gs",),  # Gemini reads Cloud Storage objects by URI (fileData)
    apis=(("aiplatform.googleapis.com", "Vertex AI, called by the vertex worker"),),
    simulator=SimulatorSpec(
        module="infra.simulator.gemini_api",
        route="/v1beta1/projects/{project}/locations/{location}/publishers/google/models/"
        "{model}:generateContent",
        endpoint_env=("AIEXEC_VERTEX_BASE_URL",),
    ),
    batch=BatchSpec(
        create=_create_batch,
        max_lines=200_000,
        max_bytes=1_000_000_000,  # 1 GB (decimal: the smaller reading)
        source="https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/"
        "batch-prediction-gemini, read 2026-11-30",
        needs_bucket=True,
    ),
)
