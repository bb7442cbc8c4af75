"""The Python client of the AI Execution System.

    from aiexec.client import AIExecClient

    with AIExecClient() as client:                       # settings from the environment
        sent = client.submit({"task_description": "Summarize the CAP theorem"})
        task = client.wait(sent.task_id, timeout_s=60)   # a Firestore snapshot listener
        print(task.status, task.text)

Submit over HTTP (`via="http"`, the default; `AIEXEC_API_KEY` is sent as a bearer key when set)
or by publishing to the `tasks` topic (`via="pubsub"`, with Google credentials). Requests are
validated by ingest's own parser before sending. See docs/contract.md and README.md.
"""

from aiexec.client.core import API_KEY_ENV, CLIENT_ENV, AIExecClient
from aiexec.client.errors import (
    ClientError,
    RequestRefusedError,
    ServiceUnreachableError,
    TaskValidationError,
)
from aiexec.client.export import RESULT_COLUMNS, result_row, write_results
from aiexec.client.files import read_task_file
from aiexec.client.models import BatchItem, BatchSummary, Submitted, Task
from aiexec.client.timespec import parse_duration, parse_since
from shared.schemas import TaskRequest

__all__ = [
    "API_KEY_ENV",
    "CLIENT_ENV",
    "RESULT_COLUMNS",
    "AIExecClient",
    "BatchItem",
    "BatchSummary",
    "ClientError",
    "RequestRefusedError",
    "ServiceUnreachableError",
    "Submitted",
    "Task",
    "TaskRequest",
    "TaskValidationError",
    "parse_duration",
    "parse_since",
    "read_task_file",
    "result_row",
    "write_results",
]
