"""Local provider simulator: each registered provider's wire protocol (OpenAI Chat Completions,
Vertex AI Gemini, Anthropic Messages; one dialect module each, named by the provider's spec).

The real SDKs talk to it unmodified; faults are injected per provider
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
