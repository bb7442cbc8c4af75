"""The worker's provider gets file parts it can take: bytes read for inline providers, a gs://
URI passed as it is to one that reads Cloud Storage natively."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shared.attachments.errors import AttachmentUnreadableError
from shared.attachments.resolve import FileReadingProvider
from shared.providers.base import Completion, CompletionRequest, FileData, Turn
from shared.settings import TaskSettings


@dataclass
class Recorder:
    name: str = "fake"
    seen: list[CompletionRequest] = field(default_factory=list)

    def default_model(self) -> str:
        return "m"

    def complete(self, request: CompletionRequest) -> Completion:
        self.seen.append(request)
        return Completion("ok", request.model, "stop", 1, 1, 2)


def request_with_files() -> CompletionRequest:
    turn = Turn(
        "user",
        (
            "look",
            FileData("gs://b/a.png", "image/png"),
            FileData("https://example.com/b.pdf", "application/pdf"),
        ),
    )
    return CompletionRequest(prompt="", model="m", turns=(turn,))


@pytest.mark.usefixtures("default_settings_env")
def test_inline_providers_get_the_bytes_native_ones_the_gs_uri() -> None:
    reads: list[str] = []

    def reader(uri: str) -> bytes:
        reads.append(uri)
        return uri.encode()

    inline, native = Recorder(), Recorder()
    FileReadingProvider(inline, TaskSettings(), reader=reader).complete(request_with_files())
    FileReadingProvider(native, TaskSettings(), ("gs",), reader=reader).complete(
        request_with_files()
    )
    parts = inline.seen[0].turns[0].parts
    assert parts[0] == "look"
    assert [p.data for p in parts[1:] if isinstance(p, FileData)] == [
        b"gs://b/a.png",
        b"https://example.com/b.pdf",
    ]
    native_parts = native.seen[0].turns[0].parts
    assert isinstance(native_parts[1], FileData) and native_parts[1].data is None
    assert isinstance(native_parts[2], FileData) and native_parts[2].data is not None
    assert reads.count("gs://b/a.png") == 1


@pytest.mark.usefixtures("default_settings_env")
def test_a_request_without_files_is_passed_untouched_and_errors_travel() -> None:
    inner = Recorder()
    plain = CompletionRequest(prompt="hi", model="m")

    def unreadable(uri: str) -> bytes:
        raise AttachmentUnreadableError("attachment_unreadable", "gone")

    provider = FileReadingProvider(inner, TaskSettings(), reader=unreadable)
    provider.complete(plain)
    assert inner.seen == [plain] and provider.name == "fake" and provider.default_model() == "m"
    with pytest.raises(AttachmentUnreadableError):
        provider.complete(request_with_files())
