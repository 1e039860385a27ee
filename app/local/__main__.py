"""Serve the embedded AWS alone, in the foreground: `python -m app.local [--port N]`.

Tests and the stress suite run it as a separate process, as Lambda runs the worker apart
from the web function.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .. import config
from . import start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.local", description=__doc__)
    parser.add_argument("--port", type=int,
                        help="port (default: LOCAL_AWS_PORT or 5100; 0: any free port)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(logging.INFO)
    settings = config.from_env()
    settings["LOCAL_AWS"] = True
    if args.port is not None:
        settings["LOCAL_AWS_PORT"] = args.port
    if not start(settings):
        sys.exit(f"An embedded AWS already runs on port {settings['LOCAL_AWS_PORT']}.")
    print(f"embedded AWS ready on {settings['AWS_ENDPOINT_URL']}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()


if __name__ == "__main__":
    main()
