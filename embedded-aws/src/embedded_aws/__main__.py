"""Serve the embedded AWS in the foreground: `python -m embedded_aws [--port N] [--faults]`.

It prints "embedded AWS ready on URL" once it serves, and runs until interrupted. Point
boto3 at it with `AWS_ENDPOINT_URL=URL` and the credentials `testing` / `testing`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .server import EmbeddedAWS, EmbeddedAWSError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m embedded_aws", description=__doc__)
    parser.add_argument("--port", type=int, default=5100, help="port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--faults", action="store_true", help="accept injected AWS faults")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        aws = EmbeddedAWS(args.port, host=args.host, faults=args.faults).start()
    except EmbeddedAWSError as error:
        sys.exit(str(error))
    print(f"embedded AWS ready on {aws.endpoint}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    aws.stop()


if __name__ == "__main__":
    main()
