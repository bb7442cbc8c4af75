"""The local stack: emulators, provider simulator and functions as processes on one machine.

`LocalStack` (used by `aiexec up` and by the test suite) starts everything and returns only when
every part answers; `free_port_settings` gives tests a private set of ports.
"""

from infra.localstack.envs import connection_env, settings_env, stack_env
from infra.localstack.errors import StackError
from infra.localstack.ports import check_ports, free_port_settings, port_uses
from infra.localstack.preflight import check_tools
from infra.localstack.stack import LocalStack
from infra.localstack.state import ENV_FILE, LOGS_DIR, PIDS_FILE, read_state, stop_recorded

__all__ = [
    "ENV_FILE",
    "LOGS_DIR",
    "PIDS_FILE",
    "LocalStack",
    "StackError",
    "check_ports",
    "check_tools",
    "connection_env",
    "free_port_settings",
    "port_uses",
    "read_state",
    "settings_env",
    "stack_env",
    "stop_recorded",
]
