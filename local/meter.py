"""The function's own bill on the embedded AWS: invocations, their durations, and the bytes
through the function, as Lambda and API Gateway bill them.

The embedded AWS counts the calls to AWS (embedded_aws.counter); this counts what runs as the
function: each request the site serves (`Meter.site`, around the WSGI app) and each event the
worker handles (`Meter.timed`, around the handler). `GET /__thumbs__/invocations` on the
embedded AWS answers the worker's figures (`?reset=1` starts them again); bench/cost.py reads
them next to the counts.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from urllib.parse import parse_qs

PATH = "/__thumbs__/invocations"


class Meter:
    """Invocations, seconds and bytes, by kind ("site", "worker")."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tallies: dict[str, dict[str, float]] = defaultdict(_empty)

    def add(self, kind: str, seconds: float, bytes_in: int = 0, bytes_out: int = 0) -> None:
        with self._lock:
            tally = self._tallies[kind]
            tally["invocations"] += 1
            tally["seconds"] += seconds
            tally["bytes_in"] += bytes_in
            tally["bytes_out"] += bytes_out

    def figures(self, reset: bool = False) -> dict[str, dict[str, float]]:
        with self._lock:
            found = {kind: dict(tally) for kind, tally in self._tallies.items()}
            if reset:
                self._tallies.clear()
        return found

    def timed(self, kind: str, handler):
        """Return `handler(event, context)`, each call counted as one invocation."""

        def handle(event, context):
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                self.add(kind, time.perf_counter() - started, len(json.dumps(event)))

        return handle

    def site(self, app, kind: str = "site"):
        """Return the WSGI `app`, each request counted as one invocation, with the bytes of its
        request (headers and body, as the event carries them) and of its answer."""

        def serve(environ, start_response):
            started = time.perf_counter()
            headers = sum(len(k) + len(str(v)) for k, v in environ.items() if k.startswith("HTTP_"))
            sent = {"headers": 0}

            def counting_start(status, response_headers, exc_info=None):
                sent["headers"] = sum(len(k) + len(v) for k, v in response_headers)
                return start_response(status, response_headers, exc_info)

            body = b"".join(app(environ, counting_start))
            size_in = headers + int(environ.get("CONTENT_LENGTH") or 0)
            self.add(kind, time.perf_counter() - started, size_in, sent["headers"] + len(body))
            return [body]

        return serve

    def serve(self, app):
        """WSGI middleware: answer PATH with the figures, and pass the rest to `app`."""

        def answer(environ, start_response):
            if environ.get("PATH_INFO") != PATH:
                return app(environ, start_response)
            reset = "reset" in parse_qs(environ.get("QUERY_STRING", ""))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(self.figures(reset)).encode()]

        return answer


def _empty() -> dict[str, float]:
    return {"invocations": 0, "seconds": 0.0, "bytes_in": 0, "bytes_out": 0}
