"""The worker's provider, given file parts it can take: each file's bytes read for providers
that need them inline (OpenAI, Anthropic), a `gs://` URI passed as it is to a provider that
reads Cloud Storage natively (Vertex AI, by its spec's `native_file_schemes`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shared.attachments.fetch import read_file
from shared.attachments.refs import scheme
from shared.providers.base import Completion, CompletionRequest, FileData, Part, Provider, Turn
from shared.settings_core import CoreSettings

Reader = Callable[[str], bytes]


class FileReadingProvider:
    """`inner`, with the file parts of every call read first (errors classified as provider
    errors: unreadable → the task fails, passing → retried; neither counts against `inner`)."""

    def __init__(
        self,
        inner: Provider,
        settings: CoreSettings,
        native_schemes: tuple[str, ...] = (),
        reader: Reader | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.native_schemes = frozenset(native_schemes)
        self.reader: Reader = reader or (lambda uri: read_file(settings, uri))

    def default_model(self) -> str:
        return self.inner.default_model()

    def complete(self, request: CompletionRequest) -> Completion:
        return self.inner.complete(self.resolve(request))

    def resolve(self, request: CompletionRequest) -> CompletionRequest:
        if not any(isinstance(p, FileData) for t in request.turns for p in t.parts):
            return request
        turns = tuple(Turn(t.role, tuple(self._part(p) for p in t.parts)) for t in request.turns)
        return replace(request, turns=turns)

    def _part(self, part: Part) -> Part:
        if not isinstance(part, FileData) or part.data is not None:
            return part
        if scheme(part.uri) in self.native_schemes:
            return part
        return replace(part, data=self.reader(part.uri))

    def __getattr__(self, name: str) -> Any:
        # Anything else the worker or a test asks the adapter (its client, its settings).
        return getattr(self.inner, name)
