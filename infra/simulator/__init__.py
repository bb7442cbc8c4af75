"""Local provider simulator: OpenAI Chat Completions and Vertex AI Gemini on the wire.

The real `openai` and `google-genai` SDKs talk to it unmodified; faults are injected per provider
at run time through `/_sim/...` (see `aiexec sim`).
"""

from infra.simulator.client import SimulatorClient, SimulatorControlError
from infra.simulator.server import (
    SimulatorServer,
    SimulatorStartError,
    make_server,
    start_in_thread,
)

__all__ = [
    "SimulatorClient",
    "SimulatorControlError",
    "SimulatorServer",
    "SimulatorStartError",
    "make_server",
    "start_in_thread",
]
