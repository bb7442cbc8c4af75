"""`python -m infra.simulator --host 127.0.0.1 --port 8090`: serve until interrupted."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from infra.settings import Settings
from infra.simulator.server import SimulatorStartError, make_server
from shared.structured_logs import configure

# Same meaning as the CLI's EXIT_UNREACHABLE: the local stack cannot use this service.
EXIT_CANNOT_START = 3

logger = logging.getLogger("aiexec.simulator")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.simulator",
        description="Local simulator of the providers' APIs (OpenAI, Vertex AI Gemini, Anthropic).",
    )
    settings = Settings()
    parser.add_argument("--host", default=settings.host, help="address (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=settings.simulator_port, help="port (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    configure("simulator")
    try:
        server = make_server(args.host, args.port, batch_delay_s=settings.sim_batch_delay_s)
    except SimulatorStartError as exc:
        sys.stderr.write(f"simulator: {exc}\n")
        return EXIT_CANNOT_START
    logger.info("simulator listening", extra={"fields": {"url": server.url}})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.state.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
