"""Attachments on the live stack (issue 15): an image and a PDF in the Cloud Storage emulator,
answered by each provider of the session's chain (Vertex AI reads gs:// itself, OpenAI gets the
bytes inline; Anthropic: tests/chaos/test_attachments_anthropic.py), through fallback, with the
files' tokens in the usage; bad inputs refused at ingest with the field named, nothing stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud.storage import Client as StorageClient

from infra.simulator.files import file_tokens
from shared.providers.registry import SPECS
from shared.schemas import TaskMessage
from tests.attachments.conftest import pdf_bytes, png_bytes
from tests.e2e.conftest import Pipeline, unique

PROVIDERS = ["openai", "vertex"]
PROMPT = "Describe the attached file."


@dataclass(frozen=True)
class Stored:
    uri: str
    mime_type: str
    size: int

    @property
    def attachment(self) -> dict[str, str]:
        return {"uri": self.uri, "mime_type": self.mime_type}


def put(stack: Any, name: str, data: bytes, mime_type: str) -> Stored:
    bucket = StorageClient(project=stack.settings.project_id).bucket(stack.settings.storage_bucket)
    bucket.blob(name).upload_from_string(data, content_type=mime_type)
    return Stored(f"gs://{stack.settings.storage_bucket}/{name}", mime_type, len(data))


@pytest.fixture(scope="module")
def files(stack: Any) -> dict[str, Stored]:
    return {
        "png": put(stack, "e2e/pixel.png", png_bytes(32, 32), "image/png"),
        "pdf": put(stack, "e2e/two-pages.pdf", pdf_bytes(2), "application/pdf"),
    }


def submit(pipeline: Pipeline, body: dict[str, Any]) -> dict[str, Any]:
    task_id = unique("attach")
    response = pipeline.post("/tasks", body | {"task_id": task_id})
    assert response.status_code == 202, response.text
    return pipeline.wait(task_id)


def tried(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in task["attempts"]]


@pytest.mark.parametrize("kind", ["png", "pdf"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_reads_an_image_and_a_pdf(
    pipeline: Pipeline, files: dict[str, Stored], provider: str, kind: str
) -> None:
    file = files[kind]
    plain = submit(pipeline, {"task_description": PROMPT, "providers": [provider]})
    task = submit(
        pipeline,
        {"task_description": PROMPT, "attachments": [file.attachment], "providers": [provider]},
    )
    assert task["status"] == "succeeded", task
    assert tried(task) == [(provider, "ok")]
    assert task["request"]["attachments"] == [file.attachment]  # the reference, never the bytes
    # The file's tokens are in the prompt tokens, as the provider reported them: the same
    # count on every provider for the same file (the simulator's rule).
    extra = task["usage"]["prompt_tokens"] - plain["usage"]["prompt_tokens"]
    assert extra == file_tokens(file.size)


def test_vertex_is_given_the_gs_uri_the_others_the_bytes() -> None:
    assert SPECS["vertex"].native_file_schemes == ("gs",)
    assert SPECS["openai"].native_file_schemes == SPECS["anthropic"].native_file_schemes == ()


def test_a_file_part_of_a_conversation(pipeline: Pipeline, files: dict[str, Stored]) -> None:
    part = {"type": "file"} | files["pdf"].attachment
    messages = [
        {"role": "user", "content": "I will send a report."},
        {"role": "assistant", "content": "Send it."},
        {"role": "user", "content": [{"type": "text", "text": "Here it is."}, part]},
    ]
    for provider in PROVIDERS:
        task = submit(pipeline, {"messages": messages, "providers": [provider]})
        assert task["status"] == "succeeded", task
        assert task["request"]["messages"][2]["content"][1] == part


def test_with_openai_down_vertex_answers_with_the_file(
    pipeline: Pipeline, files: dict[str, Stored]
) -> None:
    pipeline.fault("openai", "down")
    body = {"task_description": PROMPT, "attachments": [files["png"].attachment]}
    task = submit(pipeline, body)
    assert task["status"] == "succeeded", task
    assert [p for p, _ in tried(task)] == ["openai", "vertex"]
    assert tried(task)[-1] == ("vertex", "ok")
    assert task["result"]["provider"] == "vertex"


def bad(pipeline: Pipeline, attachments: list[dict[str, str]]) -> tuple[int, dict[str, Any], str]:
    task_id = unique("bad-attach")
    body = {"task_description": PROMPT, "attachments": attachments, "task_id": task_id}
    response = pipeline.post("/tasks", body)
    return response.status_code, response.json().get("error", {}), task_id


def test_bad_attachments_are_refused_naming_the_field_and_nothing_is_stored(
    pipeline: Pipeline, stack: Any, files: dict[str, Stored]
) -> None:
    limit = stack.settings.max_attachment_bytes
    big = put(stack, "e2e/too-big.png", b"\x89PNG" + bytes(limit), "image/png")
    good = files["png"].attachment
    bucket = stack.settings.storage_bucket
    cases = [
        ([good, big.attachment], "attachment_too_large", "attachments.1.uri"),
        ([{"uri": f"gs://{bucket}/e2e/missing.png", "mime_type": "image/png"}],
         "attachment_unreadable", "attachments.0.uri"),
        ([{"uri": "gs://no-such-bucket-aiexec/x.png", "mime_type": "image/png"}],
         "attachment_unreadable", "attachments.0.uri"),
        ([good, {"uri": files["png"].uri, "mime_type": "video/mp4"}],
         "unsupported_attachment", "attachments.1.mime_type"),
        ([{"uri": "ftp://example.com/a.png", "mime_type": "image/png"}],
         "unsupported_attachment", "attachments.0.uri"),
        # the SSRF guard: a loopback (private, metadata...) address is never fetched
        ([{"uri": "https://127.0.0.1/a.png", "mime_type": "image/png"}],
         "attachment_unreadable", "attachments.0.uri"),
        ([good] * (stack.settings.max_attachments + 1), "too_many_attachments", "attachments"),
    ]  # fmt: skip
    for attachments, code, field in cases:
        status, error, task_id = bad(pipeline, attachments)
        assert (status, error.get("code"), error.get("field")) == (400, code, field), error
        assert error["message"].startswith(f"{field}: ")
        assert pipeline.store.get(task_id) is None  # nothing stored, nothing queued


def test_an_unreadable_file_published_to_the_topic_is_a_recorded_rejection(
    pipeline: Pipeline, stack: Any
) -> None:
    task_id = unique("bad-attach-pubsub")
    missing = {"uri": f"gs://{stack.settings.storage_bucket}/e2e/gone.pdf",
               "mime_type": "application/pdf"}  # fmt: skip
    pipeline.publish_task(
        {"task_description": PROMPT, "attachments": [missing], "task_id": task_id}
    )
    task = pipeline.wait(task_id)
    assert task["status"] == "rejected"
    assert (task["error"]["code"], task["error"]["field"]) == (
        "attachment_unreadable",
        "attachments.0.uri",
    )


def test_a_file_gone_before_the_worker_reads_it_fails_the_task_clearly(
    pipeline: Pipeline, stack: Any
) -> None:
    """Ingest saw the object; it was deleted before the worker read it: the task fails at once
    (attachment_unreadable, one attempt, no provider called, no hand-over), never stuck."""
    gone = put(stack, "e2e/deleted-later.png", png_bytes(), "image/png")
    task_id = unique("attach-gone")
    request = {"task_description": PROMPT, "attachments": [gone.attachment], "task_id": task_id}
    # What ingest stores and queues for an accepted task (its check passed while the file was
    # there); then the file disappears before the worker gets the message.
    creation = pipeline.store.creation(task_id, "tests", request, ["openai", "vertex"])
    pipeline.store.commit_creation(creation)
    StorageClient(project=stack.settings.project_id).bucket(stack.settings.storage_bucket).blob(
        "e2e/deleted-later.png"
    ).delete()
    calls_before = pipeline.calls("openai")
    message = TaskMessage(task_id=task_id, doc_id=task_id, chain=["openai", "vertex"], hop=0)
    topic = stack.settings.provider_topic("openai")
    pipeline.bus.publish(topic, message.model_dump_json().encode())
    task = pipeline.wait(task_id)
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "invalid_task"
    assert task["error"]["message"].startswith("attachment_unreadable: ")
    assert [(a["provider"], a["outcome"], a["error"]["code"]) for a in task["attempts"]] == [
        ("openai", "invalid_task", "attachment_unreadable")
    ]
    assert pipeline.calls("openai") == calls_before  # the provider was never called
