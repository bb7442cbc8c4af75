"""Wire schemas: the task request of the public contract and the messages between functions.

The request is strict (no coercion, no unknown fields) because it is what clients send; the
internal messages carry a version `v` so that functions deployed at different times can tell
what they are reading.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.attachments.model import MAX_LISTED, Attachment

# The conversation's models are part of this module's vocabulary (re-exported).
from shared.conversation import (
    MAX_MESSAGES,
    ContentPart,
    FilePart,
    Message,
    MessageRole,
    TextPart,
    check_conversation,
    named_problem,
)
from shared.outbound_urls import OutboundUrlError, check_syntax
from shared.settings import task_settings
from shared.structured_output import SchemaProblemError, check_schema

__all__ = ["ContentPart", "FilePart", "Message", "MessageRole", "TextPart"]  # (re-exported)

# Firestore document ids may not contain "/", be "." or "..", or match __.*__; ours are stricter
# so that ids are safe in URLs, logs and the `usage/{task_id}-{attempt}` key.
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_TASK_ID_RE = re.compile(TASK_ID_PATTERN)
MAX_METADATA_ITEMS = 32
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_MODEL_NAME = 128
# Firestore reserves field names matching `__.*__` (its Document reference: "Field names matching
# the regular expression __.*__ are reserved"); metadata keys become field names of the task
# document, so such a key would fail the write. `.` matches anything here, newlines included.
RESERVED_FIELD_NAME = re.compile(r"__.*__", re.DOTALL)
RESERVED_FIELD_CODE = "reserved_field"


def _unreserved_key(key: str) -> str:
    """A metadata key Firestore can store (the error's location names the key)."""
    if RESERVED_FIELD_NAME.fullmatch(key):
        raise PydanticCustomError(
            RESERVED_FIELD_CODE, "Firestore reserves field names of the form __name__"
        )
    return key


MetadataKey = Annotated[str, AfterValidator(_unreserved_key)]


def _integral(value: Any) -> Any:
    """JSON has one number type: `5.0` is the integer 5 (as JSON Schema says); `5.5` is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]


def _model_name(value: str) -> str:
    """A model name as the schema bounds it (the allowlist, shared/model_policy.py, decides
    which names are served); an error's location names the provider (`model.vertex`)."""
    if not value.strip() or len(value) > MAX_MODEL_NAME:
        raise ValueError(f"must be 1-{MAX_MODEL_NAME} characters and not blank")
    return value


ModelName = Annotated[str, AfterValidator(_model_name)]


class TaskStatus(StrEnum):
    QUEUED = "queued"
    # In a provider's batch job (the batch lane): not terminal; back to `queued` when the task
    # falls back to the online lane, else on to a terminal status when its job's line is read.
    BATCHED = "batched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.REJECTED)


# The statuses a task never leaves (`aiexec replay` apart): defined here once, imported everywhere.
TERMINAL_STATUSES: tuple[str, ...] = tuple(s.value for s in TaskStatus if s.terminal)


# Statuses a task passes through before it ends (what a waiting client keeps waiting on).
PENDING_STATUSES: tuple[str, ...] = tuple(s.value for s in TaskStatus if not s.terminal)


TaskType = Literal["analytical", "creative", "code", "general"]
# The lane a task runs in: `online` (a worker calls the provider now) or `batch` (the provider's
# batch API, at its batch prices, within the task's deadline; shared/batch_lane.py).
TaskMode = Literal["online", "batch"]
MODE_FIELD = "mode"
# A batch job may take hours (OpenAI's window is 24 h): a batch task's deadline is at least this.
BATCH_MIN_DEADLINE_S = 3600.0


def check_task_id(value: str) -> str:
    if not _TASK_ID_RE.fullmatch(value) or ".." in value:
        raise ValueError(
            "must be 1-128 characters of letters, digits, '_', '-', '.', ':', "
            "start with a letter or digit and not contain '..'"
        )
    return value


class TaskRequest(BaseModel):
    """A task as a client submits it (HTTP body or Pub/Sub message data)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Exactly one of `task_description` (one prompt) and `messages` (a conversation).
    task_description: str | None = Field(default=None, min_length=1)
    task_id: str | None = None
    system: str | None = None
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)
    task_type: TaskType | None = None
    model: dict[str, ModelName] | None = None
    providers: list[str] | None = Field(default=None, min_length=1)
    max_output_tokens: JsonInt | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    metadata: dict[MetadataKey, str] | None = None
    # Files attached to the user's prompt (shared/attachments/: limits checked, and each file's
    # readability, by ingest); file parts of `messages` are the other way to attach them.
    attachments: list[Attachment] | None = Field(default=None, min_length=1, max_length=MAX_LISTED)
    # A JSON Schema the answer must follow (shared/structured_output.py says which are accepted);
    # the parsed answer is stored as `result.json`.
    response_schema: dict[str, Any] | None = None
    # Where to POST the task's public view when it ends (shared/callbacks/); its address is
    # checked here without DNS, and resolved and checked by ingest and again at delivery.
    callback_url: str | None = Field(default=None, min_length=1)
    # Seconds from creation after which the task is not started (and expires); bounded.
    deadline_s: float | None = Field(default=None, ge=1)
    # The lane (absent: online); a batch task's deadline is at least BATCH_MIN_DEADLINE_S.
    mode: TaskMode | None = None

    @field_validator("task_description", "system")
    @classmethod
    def _bounded_text(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("must not be blank")
        limit = task_settings().max_prompt_chars
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; the limit is {limit}")
        return value

    @field_validator("task_id")
    @classmethod
    def _safe_id(cls, value: str | None) -> str | None:
        return None if value is None else check_task_id(value)

    @field_validator("response_schema")
    @classmethod
    def _enforceable_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                check_schema(value)
            except SchemaProblemError as error:
                raise named_problem(error.code, error.field, error.message) from error
        return value

    @model_validator(mode="before")
    @classmethod
    def _some_prompt(cls, data: Any) -> Any:
        """No prompt at all is the first thing to say (before any unknown field: a request in
        another API's shape, `{"prompt": ...}`, is told what this one needs)."""
        if isinstance(data, dict) and "task_description" not in data and "messages" not in data:
            raise named_problem("missing", "task_description", "is required (or messages)")
        return data

    @model_validator(mode="after")
    def _one_prompt(self) -> TaskRequest:
        """Exactly one of `task_description` and `messages`; a conversation a provider can take."""
        if self.messages is None:
            if self.task_description is None:
                raise named_problem("missing", "task_description", "is required (or messages)")
            return self
        if self.task_description is not None:
            raise named_problem(
                "exclusive_fields", "messages", "give either task_description or messages, not both"
            )
        check_conversation(self.messages, self.system)
        return self

    @model_validator(mode="after")
    def _batch_deadline(self) -> TaskRequest:
        """A batch job may take hours: a batch task asking for less is refused, naming
        `deadline_s` (without one it gets the batch default, AIEXEC_BATCH_DEADLINE_S)."""
        short = self.deadline_s is not None and self.deadline_s < BATCH_MIN_DEADLINE_S
        if self.mode == "batch" and short:
            raise named_problem(
                "invalid_field",
                "deadline_s",
                f"must be at least {BATCH_MIN_DEADLINE_S:g} seconds for mode batch",
            )
        return self

    @property
    def lane(self) -> TaskMode:
        return self.mode or "online"

    def prompt_texts(self) -> list[str]:
        """The text the task sends (system included), files apart."""
        text = [self.task_description or "", self.system or ""]
        for message in self.messages or []:
            text += message.texts()
        return [item for item in text if item]

    @property
    def prompt_chars(self) -> int:
        return sum(len(item) for item in self.prompt_texts())

    @field_validator("max_output_tokens")
    @classmethod
    def _bounded_tokens(cls, value: int | None) -> int | None:
        limit = task_settings().max_output_tokens_limit
        if value is not None and value > limit:
            raise ValueError(f"must be at most {limit}")
        return value

    @field_validator("providers")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not name a provider twice")
        return value

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if len(value) > MAX_METADATA_ITEMS:
            raise ValueError(f"has {len(value)} entries; the limit is {MAX_METADATA_ITEMS}")
        for key, item in value.items():
            if not key or len(key) > MAX_METADATA_KEY or len(item) > MAX_METADATA_VALUE:
                raise ValueError(
                    f"keys must be 1-{MAX_METADATA_KEY} and values at most "
                    f"{MAX_METADATA_VALUE} characters"
                )
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return _checked_callback_url(value)

    @field_validator("deadline_s")
    @classmethod
    def _deadline(cls, value: float | None) -> float | None:
        return _bounded_deadline(value)


def _checked_callback_url(value: str | None) -> str | None:
    """The URL's form (scheme, host, no credentials); its addresses are ingest's to check."""
    if value is None:
        return value
    try:
        check_syntax(value, allow_private=task_settings().callback_allow_private)
    except OutboundUrlError as error:
        raise ValueError(str(error)) from error
    return value


def _bounded_deadline(value: float | None) -> float | None:
    limit = task_settings().max_task_deadline_s
    if value is not None and value > limit:
        raise ValueError(f"must be at most {limit:g} seconds")
    return value


class TaskMessage(BaseModel):
    """What travels on `tasks-<provider>` and `tasks-dead`: a pointer to the task document.

    The first hop's message of a small task also carries the document as ingest created it and
    that write's update time (`task`, `task_version`: shared/hop_snapshot.py), so the worker
    takes its lease without reading first; without them (older senders, hand-overs, large
    tasks) the worker reads the document. Optional fields, so either version reads the other's.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    task_id: str
    # The task's document id (`tasks/{doc_id}`, shared/task_ids.py); absent in messages of
    # versions before per-client namespaces, whose documents were all `tasks/{task_id}`.
    doc_id: str | None = None
    chain: list[str] = Field(min_length=1)
    hop: int = Field(0, ge=0)
    reason: str | None = None  # why the previous hop handed over (for logs)
    task: dict[str, Any] | None = None  # shared/hop_snapshot.py's encoding of the document
    task_version: str | None = None  # its update time (RFC 3339, nanoseconds)

    @field_validator("task_id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return check_task_id(value)

    @field_validator("doc_id")
    @classmethod
    def _safe_doc_id(cls, value: str | None) -> str | None:
        from shared.task_ids import check_doc_id  # (task_ids builds on this module)

        return None if value is None else check_doc_id(value)

    @property
    def doc(self) -> str:
        """The id of the task's document."""
        return self.doc_id or self.task_id


class ResultEvent(BaseModel):
    """Published on `task-results` when a task reaches a terminal state."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    task_id: str
    client_id: str
    doc_id: str | None = None  # `tasks/{doc_id}` (shared/task_ids.py)
    status: TaskStatus
    provider: str | None = None
    model: str | None = None
    error_code: str | None = None


class FieldProblem(BaseModel):
    code: str
    message: str
    field: str | None = None
