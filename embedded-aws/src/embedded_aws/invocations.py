"""Lambda's asynchronous Invoke, for the embedded AWS's own function.

The reconciler, Try again and a replayed failed event start a conversion by invoking the
stage's function with `InvocationType=Event`. moto cannot run a function without Docker, so
for the function the embedded AWS stands in for, an invocation is queued for the pump, as
Lambda queues it for the function: the app calls the same API locally as in AWS.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import unquote

# POST /2015-03-31/functions/{name or ARN}/invocations (AWS Lambda API reference, Invoke).
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")


class Invocations:
    """WSGI middleware: queue asynchronous invocations of the functions it serves."""

    def __init__(self, app):
        self.app = app
        self._queues: dict[str, object] = {}  # function name -> send(body) for its queue

    def serve(self, function_name: str, send) -> None:
        """Queue `function_name`'s asynchronous invocations through `send(message_body)`."""
        self._queues[function_name] = send

    def __call__(self, environ, start_response):
        match = _INVOKE.match(environ.get("PATH_INFO", ""))
        name = _function_name(match.group("function")) if match else None
        if environ["REQUEST_METHOD"] != "POST" or name not in self._queues:
            return self.app(environ, start_response)
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if kind != "Event":
            body = {
                "Type": "User",
                "message": f"The embedded AWS runs {name} asynchronously only (Event).",
            }
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-ErrorType", "InvalidParameterValueException"),
                ],
            )
            return [json.dumps(body).encode()]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(size) or b"{}")
        self._queues[name](json.dumps({"invocation": payload}))
        # Lambda accepts an asynchronous invocation with 202 and an empty body.
        start_response("202 Accepted", [("x-amzn-RequestId", str(uuid.uuid4()))])
        return [b""]


def _function_name(given: str) -> str:
    """Return the name in a function name, a partial ARN or an ARN (with a qualifier or not)."""
    given = unquote(given)
    parts = given.split(":")
    if given.startswith("arn:"):
        return parts[6] if len(parts) > 6 else given
    return parts[0]
