"""Hold a browser's upload, or a conversion, mid-way: so a test sees the page in between.

Off unless LOCAL_HOLDS=1. `POST /__thumbs__/holds` with `{"hold": "upload" | "conversion"}`
holds every later request of that kind before anything of it is read, `{"release": KIND}` (or
`"all"`) lets them go on; `GET` tells what is held and how many requests wait. A held request
waits at most `limit_seconds`, so nothing hangs for good.

- an upload: a browser's POST of a form to S3 (multipart, unsigned);
- a conversion: the worker's read of its upload (a signed GET of a key under uploads/), which
  comes after its claim: the job shows "Converting" while it waits.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

PATH = "/__thumbs__/holds"
KINDS = ("upload", "conversion")


class Holds:
    """WSGI middleware that keeps requests of a held kind waiting until released."""

    def __init__(self, app, limit_seconds: float = 120):
        self.app = app
        self._limit = limit_seconds
        self._lock = threading.Lock()
        self._open = {kind: threading.Event() for kind in KINDS}
        for gate in self._open.values():
            gate.set()
        self.waiting: Counter = Counter()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH:
            return self._control(environ, start_response)
        kind = _kind(environ)
        if kind and not self._open[kind].is_set():
            with self._lock:
                self.waiting[kind] += 1
            try:
                self._open[kind].wait(self._limit)
            finally:
                with self._lock:
                    self.waiting[kind] -= 1
        return self.app(environ, start_response)

    def _control(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            order = json.loads(environ["wsgi.input"].read(size) or b"{}")
            if order.get("hold") in KINDS:
                self._open[order["hold"]].clear()
            released = order.get("release")
            for kind in KINDS if released == "all" else [released] if released in KINDS else []:
                self._open[kind].set()
        with self._lock:
            state = {
                "held": [kind for kind in KINDS if not self._open[kind].is_set()],
                "waiting": {kind: self.waiting[kind] for kind in KINDS},
            }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(state).encode()]


def _kind(environ) -> str | None:
    method, signed = environ["REQUEST_METHOD"], "HTTP_AUTHORIZATION" in environ
    if (
        method == "POST"
        and not signed
        and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
    ):
        return "upload"
    # Path-style S3 addressing: /<bucket>/uploads/<job>/<owner>/<file>.
    parts = environ.get("PATH_INFO", "").split("/", 3)
    if method == "GET" and signed and len(parts) == 4 and parts[2] == "uploads":
        return "conversion"
    return None
