"""Who a `tasks` message comes from, asked by ingest (to accept it) and by the finalizer (to
record a dead-lettered one under its client).

Pub/Sub authenticates publishers, not the `client_id` attribute, so whoever may publish to the
shared `tasks` topic may name any client. The attribute is checked like a client name from API
keys (`invalid_client_id` otherwise); a deployment that must tell publishers apart gives a
client its own topic (`AIEXEC_PUBSUB_CLIENT_TOPICS`, publisher role on it for that client
only), whose messages are that client's whatever they say, and can stop the shared topic from
naming clients at all (`AIEXEC_PUBSUB_CLIENT_ATTRIBUTE=false`).
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.schemas import FieldProblem
from shared.settings_core import CoreSettings
from shared.task_ids import CLIENT_RULE, PUBSUB_CLIENT, valid_client_name

CLIENT_ATTRIBUTE = "client_id"


def pubsub_client(
    settings: CoreSettings, attributes: Mapping[str, str], topic: str | None
) -> tuple[str, FieldProblem | None]:
    """Who a message on `topic` is from: (client, None), or (the client its rejection is
    recorded under, the problem) when its `client_id` attribute cannot be accepted.

    A client's own topic (`AIEXEC_PUBSUB_CLIENT_TOPICS`) carries that client's tasks only; on
    the shared `tasks` topic the attribute names the client (default `pubsub`), and must be a
    client name as API keys have them (the same rule, so it is a safe part of a document id).
    """
    named = attributes.get(CLIENT_ATTRIBUTE)
    owner = next((c for c, t in settings.pubsub_client_topics.items() if t == topic), None)
    if owner is not None:
        if named is not None and named != owner:
            return owner, _client_problem(
                f"client_id: this topic carries client {owner}'s tasks only"
            )
        return owner, None
    if named is None:
        return PUBSUB_CLIENT, None
    if not valid_client_name(named):
        return PUBSUB_CLIENT, _client_problem(f"client_id: use {CLIENT_RULE}")
    if not settings.pubsub_client_attribute and named != PUBSUB_CLIENT:
        return PUBSUB_CLIENT, _client_problem(
            f"client_id: the {settings.topic_tasks} topic does not name clients here; publish "
            "to your client's own topic"
        )
    return named, None


def _client_problem(message: str) -> FieldProblem:
    # The value itself is never echoed: it may be long, or hold newlines.
    return FieldProblem(code="invalid_client_id", message=message, field=CLIENT_ATTRIBUTE)
