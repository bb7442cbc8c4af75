"""The settings, in sections, and what each service is given.

A section is a mixin of flat fields in a module of its own: core (`settings_core.py`: identity,
names, chain, circuits, deadlines), completion callbacks (`settings_callbacks.py`), the batch
lane (`settings_batch.py`), each
provider (`shared/providers/<name>/settings.py`, read by name through `provider_section`), the
models that span providers (`settings_models.py`), ingest's defences (`settings_security.py`),
report delivery (`settings_reports.py`), and, outside the runtime, the tooling's deploy and
local stack/benchmark sections (`infra/settings.py`).
Environment names are the fields' (`AIEXEC_<FIELD>`, or the contract's where Google's libraries
or a provider's SDK define one); `docs/configuration.md` and `.env.example` list them all.

Services compose the sections they read: `TaskSettings` (every function that handles tasks:
core + providers), `IngestSettings` (+ ingest), `ReportServiceSettings` (+ report delivery).
`RuntimeSettings` has every runtime section; `infra.settings.Settings` adds the tooling's.
"""

from __future__ import annotations

from functools import lru_cache

from shared.providers.anthropic.settings import AnthropicSettings
from shared.providers.openai.settings import OpenAISettings
from shared.providers.vertex.settings import VertexSettings
from shared.settings_batch import BatchSettings
from shared.settings_callbacks import CallbackSettings
from shared.settings_core import SETTINGS_CONFIG, CoreSettings
from shared.settings_models import ModelSettings
from shared.settings_providers import ProviderSections
from shared.settings_reports import ReportSettings
from shared.settings_security import SecuritySettings
from shared.settings_tracing import TracingSettings


class ProvidersSettings(
    ProviderSections, OpenAISettings, VertexSettings, AnthropicSettings, ModelSettings
):
    """Every provider's section (a new provider adds its section here) and the shared models."""


class TaskSettings(
    CoreSettings, ProvidersSettings, CallbackSettings, TracingSettings, BatchSettings
):
    """What every function that handles tasks reads (worker, finalizer, sweeper, callbacks);
    the callback section too, since ingest checks a `callback_url` the way delivery does;
    tracing (`settings_tracing.py`), since every function exports spans; the batch lane's,
    since the batcher, the poller, the sweeper and /health read its jobs."""

    model_config = SETTINGS_CONFIG

    def lease_seconds(self, provider: str) -> float:
        return self.timeout_for(provider) * self.provider_attempts + self.lease_margin_s


class IngestSettings(TaskSettings, SecuritySettings):
    """Ingest: the task sections plus its defences (keys, rate limits, budgets, input)."""

    model_config = SETTINGS_CONFIG


class CallbackServiceSettings(TaskSettings, SecuritySettings):
    """The callbacks function: the task sections plus where API keys (and their signing
    secrets) are kept."""

    model_config = SETTINGS_CONFIG


class ReportServiceSettings(TaskSettings, ReportSettings):
    """The report function: the task sections plus where the report is delivered."""

    model_config = SETTINGS_CONFIG


class RuntimeSettings(IngestSettings, CallbackServiceSettings, ReportServiceSettings):
    """Every section a deployed function reads."""

    model_config = SETTINGS_CONFIG


# Each function reads its settings once (functions are long-lived processes).


@lru_cache(maxsize=1)
def task_settings() -> TaskSettings:
    """The worker's, the finalizer's and the sweeper's settings."""
    return TaskSettings()


@lru_cache(maxsize=1)
def ingest_settings() -> IngestSettings:
    return IngestSettings()


@lru_cache(maxsize=1)
def callback_settings() -> CallbackServiceSettings:
    return CallbackServiceSettings()


@lru_cache(maxsize=1)
def report_settings() -> ReportServiceSettings:
    return ReportServiceSettings()
