"""Serve Thumbs's embedded AWS alone, in the foreground: `python -m local [--port N]`.

Tests and the stress suite run it as a separate process, as Lambda runs the worker apart
from the web function. It prints "embedded AWS ready on URL" once it serves.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from app.config import Settings

from . import Options, start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument(
        "--port", type=int, help="port (default: LOCAL_AWS_PORT or 5100; 0: any free port)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(logging.INFO)
    options = Options.from_env()
    if args.port is not None:
        options = Options(**{**options.__dict__, "local_aws_port": args.port})
    from embedded_aws import EmbeddedAWS

    if options.local_aws_port and EmbeddedAWS(options.local_aws_port).is_running():
        sys.exit(f"An embedded AWS already runs on port {options.local_aws_port}.")
    settings = start(Settings.from_env(), options)
    print(f"embedded AWS ready on {settings.aws_endpoint_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()


if __name__ == "__main__":
    main()
