"""Where a task goes next: the provider chain, hop by hop, ending in `tasks-dead`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.schemas import TaskMessage
from shared.settings import TaskSettings
from shared.usage import CallRecord


def topic_for_hop(settings: TaskSettings, chain: list[str], hop: int) -> str:
    """The topic that owns `hop`: a provider queue, or the final dead-letter topic past the end."""
    return settings.provider_topic(chain[hop]) if hop < len(chain) else settings.topic_dead


def resolve_chain(settings: TaskSettings, requested: list[str] | None) -> list[str]:
    """The task's chain: the request's restriction/reordering of the configured chain.

    Raises ValueError naming the providers that are not deployed (no queue exists for them).
    """
    if not requested:
        return list(settings.providers)
    unknown = [name for name in requested if name not in settings.providers]
    if unknown:
        raise ValueError(
            f"unknown provider(s) {', '.join(unknown)}; configured: {', '.join(settings.providers)}"
        )
    return list(requested)


def hand_over(message: TaskMessage, next_hop: int, reason: str) -> TaskMessage:
    # Same task and document id; the first hop's snapshot is stale once that hop wrote.
    update = {"hop": next_hop, "reason": reason, "task": None, "task_version": None}
    return message.model_copy(update=update)


def model_for(
    settings: TaskSettings,
    provider: str,
    requested: dict[str, str] | None,
    task_type: str | None = None,
) -> str:
    """The model for one provider: the request's explicit choice, else the task type's, else
    the provider's default."""
    if requested and provider in requested:
        return requested[provider]
    by_type = settings.models_by_type(provider)
    if task_type and task_type in by_type:
        return by_type[task_type]
    default = settings.default_model(provider)
    if default is None:
        raise ValueError(f"no default model configured for provider {provider!r}")
    return default


def models_to_try(settings: TaskSettings, provider: str, request: dict[str, Any]) -> list[str]:
    """The models to call on `provider`, in order: the chosen one (see `model_for`), then the
    task type's configured fallback model (`settings.fallback_model_for`), which is tried only
    when the provider answers that the chosen model does not exist (`model_unavailable`).

    The fallback applies whether the chosen model came from configuration or from the request's
    explicit `model`: a task is answered by a model that exists rather than handed over, and the
    attempts and the result record which model answered (docs/contract.md).
    """
    chosen = model_for(settings, provider, request.get("model"), request.get("task_type"))
    spare = settings.fallback_model_for(provider, request.get("task_type"))
    return [chosen] if not spare or spare == chosen else [chosen, spare]


def not_called(settings: TaskSettings, provider: str, request: dict[str, Any]) -> CallRecord:
    """The record of a hop skipped without a call because `provider`'s circuit is open."""
    now = datetime.now(UTC)
    model = model_for(settings, provider, request.get("model"), request.get("task_type"))
    error = {"code": "circuit_open", "message": f"{provider} circuit is open; not called"}
    return CallRecord(provider, model, now, now, "circuit_open", error, called_provider=False)


def seconds_left(task: dict[str, Any], now: datetime) -> float | None:
    """Seconds until the task's deadline (`deadline_at`: created_at + its `deadline_s`)."""
    deadline = task.get("deadline_at")
    return (deadline - now).total_seconds() if isinstance(deadline, datetime) else None


def out_of_time(settings: TaskSettings, provider: str, left: float) -> CallRecord:
    """The record of a hop skipped because its retries could not finish before the deadline
    (provider timeout x attempts > the time left), or the deadline has passed."""
    now = datetime.now(UTC)
    needed = settings.timeout_for(provider) * settings.provider_attempts
    error = {
        "code": "deadline",
        "message": f"{max(left, 0):.0f} s left before the task's deadline; {provider} may "
        f"need {needed:g} s; not called",
    }
    return CallRecord(provider, "", now, now, "deadline", error, called_provider=False)
