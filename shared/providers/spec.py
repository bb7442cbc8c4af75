"""What a provider declares about itself, so that nothing outside its folder names it.

Every provider is a folder `shared/providers/<name>/` holding its adapter (`adapter.py`, which
imports the SDK) and its spec (`spec.py`, which must not: ingest, the deploy planner, the local
stack and the tests read specs without loading any SDK). `shared/providers/registry.py` lists
the specs, one line per provider. The bundles (SDK requirements), the IAM plan (roles, the key's
secret), the local stack and the test stack (which settings would reach a real provider), the
simulator (its dialect module) and the settings reference all read them from there. Its
settings section (`settings.py`: fields, defaults per task type) is mixed into the one settings
object and read through `TaskSettings.provider_section(name)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.batch.provider import BatchProvider
    from shared.providers.base import Provider
    from shared.settings import TaskSettings


@dataclass(frozen=True)
class KeySpec:
    """An API key: the variable the worker reads it from and its Secret Manager secret."""

    env: str  # e.g. OPENAI_API_KEY: the name the provider's own SDK documents
    secret: str  # the default secret deploy mounts into this provider's worker as `env`


@dataclass(frozen=True)
class SimulatorSpec:
    """How the local simulator (`infra/simulator/`) stands in for this provider."""

    module: str  # the simulator's dialect module (a name, not an import: shared never imports it)
    route: str  # the model-call path on the simulator (what the SDK sends to)
    base_path: str = ""  # the prefix of the SDK's base URL on the simulator ("" = its root)
    # Settings that point the SDK elsewhere than the simulator (a real key, an explicit endpoint):
    # hidden from the test stack so that tests never call a real provider.
    endpoint_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchSpec:
    """The provider's batch API (`batch.py` beside its adapter): half price, hours of latency.

    `max_lines` and `max_bytes` are the provider's own limits on one job's input file (the
    batcher splits below them, or below AIEXEC_BATCH_MAX_LINES/_BYTES when lower); `source`
    says where they were read and when."""

    create: Callable[[TaskSettings], BatchProvider]  # imports the SDK only when called
    max_lines: int
    max_bytes: int
    source: str
    needs_bucket: bool = False  # its files live in AIEXEC_BATCH_BUCKET (none set: not batched)


@dataclass(frozen=True)
class ProviderSpec:
    name: str  # the chain's name: topic `tasks-<name>`, function `worker-<name>`, PROVIDER=<name>
    title: str  # for people: "OpenAI"
    create: Callable[[TaskSettings], Provider]  # imports the adapter (and its SDK) only when called
    requirements: tuple[str, ...]  # distributions (uv.lock names) a worker of it installs
    simulator: SimulatorSpec
    key: KeySpec | None = None  # None: no key (Vertex AI uses the worker's own identity)
    iam_roles: tuple[str, ...] = ()  # project roles its worker's service account needs
    # Google APIs its calls need enabled in the project: (service, why), for the bootstrap.
    apis: tuple[tuple[str, str], ...] = ()
    # Variables without the AIEXEC_ prefix that its settings read (key, SDK-standard endpoint).
    settings_env: tuple[str, ...] = field(default=())
    # URI schemes of attachments the provider reads itself (Vertex AI: `gs://`); a file of any
    # other scheme is read by the worker and sent inline (shared/attachments/resolve.py).
    native_file_schemes: tuple[str, ...] = ()
    # Its batch lane (shared/batch/), or None: its batch tasks run online.
    batch: BatchSpec | None = None
