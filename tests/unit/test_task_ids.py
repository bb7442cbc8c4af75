"""Task document ids (per-client namespaces) and the Pub/Sub door's client identity, without
emulators: the rules of shared/task_ids.py and `shared.ingest.pubsub_client`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from infra.topology import build_topology, push_functions
from shared.events import source_topic, topic_of_subscription
from shared.ingest import pubsub_client
from shared.schemas import TaskMessage
from shared.settings_security import _CLIENT_RE
from shared.task_ids import (
    CLIENT_PATTERN,
    check_doc_id,
    doc_id_of,
    resolve,
    split_doc_id,
    task_doc_id,
    valid_client_name,
)


def test_document_ids_are_the_task_id_without_keys_and_namespaced_with_them() -> None:
    assert task_doc_id("x", "acme", namespaced=False) == "x"
    assert task_doc_id("x", "acme", namespaced=True) == "acme~x"
    assert task_doc_id("a:b.c", "acme", namespaced=True) == "acme~a:b.c"
    assert split_doc_id("acme~a:b") == ("acme", "a:b")
    assert split_doc_id("plain") == (None, "plain")


def test_a_document_id_is_bounded_and_safe_for_firestore() -> None:
    longest = task_doc_id("t" * 128, "c" * 64, namespaced=True)
    assert check_doc_id(longest) == longest
    assert len(longest.encode()) == 193 < 1500  # Firestore's document id limit
    for bad in ["acme~", "~x", "a..b~x", "acme~x~y", "ac/me~x", "__x__", "acme~.", "é~x", ""]:
        with pytest.raises(ValueError):
            check_doc_id(bad)


def test_readers_resolve_a_task_id_in_their_own_namespace() -> None:
    assert resolve("x", "acme", namespaced=True) == "acme~x"
    assert resolve("x", "acme", namespaced=False) == "x"
    assert resolve("other~x", "acme", namespaced=True) == "other~x"  # a whole document id
    assert doc_id_of({"task_id": "x"}) == "x"  # written before doc_id existed
    assert doc_id_of({"task_id": "x", "doc_id": "acme~x"}) == "acme~x"


def test_hop_messages_carry_the_document_id() -> None:
    old = TaskMessage.model_validate_json('{"v": 1, "task_id": "x", "chain": ["openai"]}')
    assert old.doc == "x"
    new = TaskMessage(task_id="x", doc_id="acme~x", chain=["openai"])
    assert new.doc == "acme~x"
    assert TaskMessage.model_validate_json(new.model_dump_json()).doc == "acme~x"
    with pytest.raises(ValidationError):
        TaskMessage(task_id="x", doc_id="../x", chain=["openai"])


def test_client_names_follow_one_rule_everywhere() -> None:
    assert _CLIENT_RE.pattern == CLIENT_PATTERN
    for good in ["acme", "a", "team.a-1_b", "9" * 64]:
        assert valid_client_name(good)
    for bad in ["", "a" * 65, "a..b", "-x", ".x", "a b", "a\nb", "a~b", "ä", "a/b"]:
        assert not valid_client_name(bad)


def _settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({}, ("pubsub", None)),
        ({"client_id": "acme"}, ("acme", None)),
        ({"client_id": "evil\nname"}, ("pubsub", "invalid_client_id")),
        ({"client_id": "x" * 65}, ("pubsub", "invalid_client_id")),
        ({"client_id": ""}, ("pubsub", "invalid_client_id")),
        ({"client_id": "acme~x"}, ("pubsub", "invalid_client_id")),
    ],
)
def test_the_client_attribute_of_the_shared_topic_is_checked(
    attributes: dict[str, str], expected: tuple[str, str | None]
) -> None:
    client, problem = pubsub_client(_settings(), attributes, None)
    assert (client, problem.code if problem else None) == expected
    if problem is not None:
        assert problem.field == "client_id"
        assert attributes["client_id"] not in problem.message or not attributes["client_id"]


def test_a_clients_own_topic_decides_the_client() -> None:
    settings = _settings(pubsub_client_topics="acme=tasks-acme,beta=tasks-beta")
    assert pubsub_client(settings, {}, "tasks-acme") == ("acme", None)
    assert pubsub_client(settings, {"client_id": "acme"}, "tasks-acme") == ("acme", None)
    client, problem = pubsub_client(settings, {"client_id": "beta"}, "tasks-acme")
    assert client == "acme" and problem is not None and problem.code == "invalid_client_id"
    # The shared topic (no topic in the push path, or `tasks`) keeps the attribute rule.
    assert pubsub_client(settings, {"client_id": "beta"}, None) == ("beta", None)


def test_the_shared_topic_can_be_told_not_to_name_clients() -> None:
    settings = _settings(pubsub_client_attribute=False)
    assert pubsub_client(settings, {}, None) == ("pubsub", None)
    assert pubsub_client(settings, {"client_id": "pubsub"}, None) == ("pubsub", None)
    client, problem = pubsub_client(settings, {"client_id": "acme"}, None)
    assert client == "pubsub" and problem is not None and problem.code == "invalid_client_id"


def test_client_topics_are_validated() -> None:
    for bad in ["acme", "a..b=tasks-x", "acme=goog-x", "acme=ab", "a=tasks-x,b=tasks-x"]:
        with pytest.raises(ValidationError):
            _settings(pubsub_client_topics=bad)


class _Event(dict[str, str]):
    data: object = None


def test_the_push_path_names_the_topic() -> None:
    assert source_topic(_Event(source="//pubsub.googleapis.com/projects/p/topics/t-1")) == "t-1"
    assert source_topic(_Event(source="//pubsub.googleapis.com/")) is None
    assert source_topic(object()) is None
    assert topic_of_subscription("projects/p/subscriptions/tasks-acme-ingest") == "tasks-acme"
    assert topic_of_subscription("projects/p/subscriptions/tasks-openai-worker") is None
    assert topic_of_subscription(None) is None


def test_client_topics_get_a_push_subscription_naming_the_topic() -> None:
    settings = _settings(pubsub_client_topics="acme=tasks-acme", project_id="proj")
    endpoints = {name: f"https://{name}.example/" for name in push_functions(settings)}
    topology = build_topology(settings, endpoints)
    assert "tasks-acme" in [t.name for t in topology.topics]
    sub = topology.subscription("tasks-acme-ingest")
    assert sub.push_endpoint == "https://ingest-events.example/projects/proj/topics/tasks-acme"
    assert sub.dead_letter_topic == settings.topic_dead
    assert topology.subscription("tasks-ingest").push_endpoint == "https://ingest-events.example/"


def test_the_python_client_resolves_ids_in_its_clients_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiexec.client import CLIENT_ENV, AIExecClient

    keyed = _settings(api_keys_required=True)
    monkeypatch.setenv(CLIENT_ENV, "acme")
    assert AIExecClient(keyed).doc_id("x") == "acme~x"
    assert AIExecClient(keyed, client_id="beta").doc_id("x") == "beta~x"
    assert AIExecClient(keyed).doc_id("beta~x") == "beta~x"
    assert AIExecClient(_settings()).doc_id("x") == "x"  # no keys: one namespace
    assert AIExecClient(_settings(), client_id="beta", namespaced=True).doc_id("x") == "beta~x"
