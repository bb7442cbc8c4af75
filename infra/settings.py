"""The tooling's settings: every runtime section (`shared.settings.RuntimeSettings`) plus the
deploy section (`settings_deploy.py`), the alerts section (`settings_monitoring.py`) and the
local stack and benchmark section (`settings_localstack.py`). What `aiexec`, the deploy
planner, the local stack, the benchmarks and the tests read; no deployed function imports it."""

from __future__ import annotations

from functools import lru_cache

from infra.settings_deploy import DeploySettings
from infra.settings_localstack import LocalStackSettings
from infra.settings_monitoring import MonitoringSettings
from shared.settings import RuntimeSettings
from shared.settings_core import SETTINGS_CONFIG


class Settings(RuntimeSettings, DeploySettings, MonitoringSettings, LocalStackSettings):
    """Every section, tooling included (`aiexec`, deploy, local stack, benchmarks, tests)."""

    model_config = SETTINGS_CONFIG


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
