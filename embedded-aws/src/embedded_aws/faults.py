"""Injected AWS failures for resilience tests: the next N calls to a service fail as AWS does.

Off unless the server is made with `faults=True`. `POST /__embedded_aws__/faults` with
`{"service": "s3" | "dynamodb", "count": N, "kind": "throttle" | "unavailable"}` arms faults,
`{"clear": true}` disarms them; `GET` tells how many were served.
Only SDK calls are hit (they retry with backoff); a browser's upload or download is not.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

PATH = "/__embedded_aws__/faults"

_ANSWERS = {
    ("s3", "throttle"): (
        "503 Slow Down",
        "application/xml",
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    ),
    ("s3", "unavailable"): (
        "500 Internal Server Error",
        "application/xml",
        "<Error><Code>InternalError</Code><Message>We encountered an "
        "internal error. Please try again.</Message></Error>",
    ),
    ("dynamodb", "throttle"): (
        "400 Bad Request",
        "application/x-amz-json-1.0",
        json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput.",
            }
        ),
    ),
    ("dynamodb", "unavailable"): (
        "500 Internal Server Error",
        "application/x-amz-json-1.0",
        json.dumps(
            {
                "__type": "com.amazon.coral.availability#ServiceUnavailableException",
                "message": "Service unavailable",
            }
        ),
    ),
}


class Faults:
    """WSGI middleware that answers armed faults instead of passing calls on."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._armed: dict[str, list[str]] = {"s3": [], "dynamodb": []}
        self.served: Counter = Counter()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH:
            return self._control(environ, start_response)
        service = _service(environ)
        with self._lock:
            kind = self._armed[service].pop(0) if service and self._armed[service] else None
            if kind:
                self.served[f"{service}:{kind}"] += 1
        if kind is None:
            return self.app(environ, start_response)
        status, content_type, body = _ANSWERS[(service, kind)]
        start_response(status, [("Content-Type", content_type)])
        return [body.encode()]

    def _control(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            order = json.loads(environ["wsgi.input"].read(size) or b"{}")
            with self._lock:
                if order.get("clear"):
                    self._armed = {"s3": [], "dynamodb": []}
                else:
                    kind = order.get("kind", "throttle")
                    self._armed[order["service"]] += [kind] * order["count"]
        with self._lock:
            state = {
                "served": dict(self.served),
                "armed": {name: len(kinds) for name, kinds in self._armed.items()},
            }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(state).encode()]


def _service(environ) -> str | None:
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return "dynamodb"
    if "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
        return "s3"
    return None
