"""Which port each part of the stack uses, checks that they are free, and free ports for tests."""

from __future__ import annotations

import contextlib
import errno
import random
import socket
from dataclasses import dataclass

from infra.localstack.envs import base_url, env_name
from infra.localstack.errors import StackError
from infra.settings import Settings

_TEST_PORT_RANGE = (20_000, 32_000)  # below Linux's ephemeral range: no clash with client sockets


@dataclass(frozen=True)
class PortUse:
    port: int
    component: str
    setting: str  # the settings field, e.g. "pubsub_port" or "worker_base_port + 1"
    env: str  # the variable that changes it

    def describe(self) -> str:
        return f"port {self.port} ({self.component}; setting {self.setting}, env {self.env})"


def port_uses(settings: Settings) -> list[PortUse]:
    """Every port the local stack binds, with the setting that chooses it."""
    fixed = [
        ("pubsub_port", "Pub/Sub emulator"),
        ("firestore_port", "Firestore emulator"),
        ("storage_port", "Cloud Storage emulator"),
        ("trace_collector_port", "trace collector"),
        ("simulator_port", "provider simulator"),
        ("ingest_port", "ingest function"),
        ("ingest_events_port", "ingest-events function"),
        ("finalizer_port", "finalizer function"),
        ("sweeper_port", "sweeper function"),
        ("report_port", "report function"),
        ("callbacks_port", "callbacks function"),
        ("batcher_port", "batcher function"),
        ("poller_port", "poller function"),
    ]
    uses = [PortUse(getattr(settings, f), c, f, env_name(f)) for f, c in fixed]
    for index, provider in enumerate(settings.providers):
        setting = "worker_base_port" + (f" + {index}" if index else "")
        port = settings.worker_base_port + index
        uses.append(PortUse(port, f"worker-{provider}", setting, env_name("worker_base_port")))
    return uses


def port_free(host: str, port: int, *, reuse_addr: bool = True) -> bool:
    """Whether a server could bind `host:port` now (servers set SO_REUSEADDR, so do we)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise StackError(f"cannot bind {host}:{port}: {exc} (check setting `host`)") from exc
    return True


# The settings of the ports another stack's emulators and simulator hold (`functions_only`).
SERVICE_PORTS = (
    "pubsub_port",
    "firestore_port",
    "storage_port",
    "simulator_port",
    "trace_collector_port",
)


def check_ports(settings: Settings, *, skip: tuple[str, ...] = ()) -> None:
    """Raise a `StackError` naming every clash or taken port (and the setting to change);
    the ports of the settings in `skip` are not checked (someone else's, already running)."""
    problems: list[str] = []
    seen: dict[int, PortUse] = {}
    for use in port_uses(settings):
        if use.setting in skip:
            continue
        if use.port in seen:
            problems.append(
                f"{use.describe()} is also assigned to {seen[use.port].describe()}; "
                "give them different ports"
            )
            continue
        seen[use.port] = use
        if not 0 < use.port < 65536:
            problems.append(f"{use.describe()} is not a valid port")
        elif not port_free(settings.host, use.port):
            problems.append(
                f"{use.describe()} on {settings.host} is already in use; stop what holds it "
                f"(a stack already running? `aiexec down`) or set {use.env} to a free port"
            )
    if problems:
        raise StackError("cannot start the local stack:\n  - " + "\n  - ".join(problems))


def free_port_settings(base: Settings) -> Settings:
    """`base` with every stack port replaced by a currently free one (for tests)."""
    host = base.host
    rng = random.SystemRandom()
    taken: set[int] = set()
    with contextlib.ExitStack() as held:

        def claim(count: int = 1) -> int:
            for _ in range(500):
                first = rng.randrange(*_TEST_PORT_RANGE)
                block = range(first, first + count)
                if taken.intersection(block) or not all(_hold(held, host, p) for p in block):
                    continue
                taken.update(block)
                return first
            raise StackError(f"no {count} consecutive free ports found on {host}")

        ports: dict[str, int] = {
            f: claim()
            for f in (
                "pubsub_port",
                "firestore_port",
                "storage_port",
                "simulator_port",
                "trace_collector_port",
                "ingest_port",
                "ingest_events_port",
                "finalizer_port",
                "sweeper_port",
                "report_port",
                "callbacks_port",
                "batcher_port",
                "poller_port",
            )
        }
        ports["worker_base_port"] = claim(len(base.providers))
    ingest_url = base_url(base, ports["ingest_port"])
    return base.model_copy(update={**ports, "ingest_url": ingest_url})


def _hold(stack: contextlib.ExitStack, host: str, port: int) -> bool:
    """Bind `port` and keep it bound until `stack` closes (so no port is picked twice)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return False
    stack.callback(sock.close)
    return True
