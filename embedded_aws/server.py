"""moto's server behind the S3 gate, on a fixed loopback port, started once and reused."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from .gate import S3Gate
from .invocations import Invocations
from .moto_gaps import MotoGaps, install

MARKER_PATH = "/__thumbs__/embedded-aws"
MARKER = b"thumbs-embedded-aws"


class LocalAWSError(RuntimeError):
    """The embedded AWS cannot start; the message says why and what to change."""


def port_is_free(host: str, port: int) -> bool:
    """Return True unless another socket listens on `host:port`.

    The probe binds as the server will, with SO_REUSEADDR: connections of a stopped server
    that linger in TIME_WAIT then leave the port free, as they do for the server itself.
    """
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def port_in_use(port: int, what: str, variable: str) -> str:
    """Say, in one line, that another program listens where `what` would, and what to set."""
    return (
        f"Port {port}, where {what} listens, is in use by another program: stop that "
        f"program, or choose a free port with {variable} ({variable}={port + 1} make run)."
    )


class _Marker:
    """Answer the marker path, so a second process knows the port holds this server."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == MARKER_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [MARKER]
        return self.app(environ, start_response)


class _OneAtATime:
    """Serve DynamoDB calls one at a time.

    DynamoDB applies each conditional write atomically; moto's server, under concurrent
    requests, can let two conditional updates of one item both succeed. The job state machine
    relies on that atomicity, so the embedded AWS must provide it too.
    """

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self._lock:
            # Drain the response inside the lock: the write happens while it is built.
            return list(self.app(environ, start_response))


class EmbeddedAWS:
    """moto on `host:port`: S3 behind the gate; the calls Zappa makes answered as AWS does."""

    def __init__(
        self,
        port: int,
        credentials: dict[str, str],
        host: str = "127.0.0.1",
        faults: bool = False,
        holds: bool = False,
    ):
        self.host, self.port, self.credentials = host, port, credentials
        self.faults, self.holds = faults, holds
        self._server = None
        self.invocations: Invocations | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def is_running(self) -> bool:
        """Return True when this port already serves an embedded AWS (ours or a sibling's)."""
        try:
            with urllib.request.urlopen(self.endpoint + MARKER_PATH, timeout=2) as response:
                return response.read() == MARKER
        except (urllib.error.URLError, OSError):
            return False

    def start_or_reuse(self) -> bool:
        """Start the server unless one already runs here; True when this call started it."""
        if self.port and self.is_running():
            return False
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        class QuietHandler(MotoRequestHandler):
            # The pump polls SQS every second: log only what went wrong.
            def log_request(self, code="-", size="-"):
                if str(code).isdigit() and int(code) >= 500:
                    super().log_request(code, size)

        install()
        moto = DomainDispatcherApplication(create_backend_app)
        self.invocations = Invocations(MotoGaps(_OneAtATime(moto)))
        app = S3Gate(self.invocations, self.credentials)
        if self.faults:
            from .faults import Faults

            app = Faults(app)
        if self.holds:
            from .holds import Holds

            app = Holds(app)
        app = _Marker(app)
        # Werkzeug's make_server exits the process on a busy port, with advice about another
        # setting: try the port first, and say which setting to change.
        if not port_is_free(self.host, self.port):
            raise LocalAWSError(port_in_use(self.port, "the embedded AWS", "LOCAL_AWS_PORT"))
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=QuietHandler
        )
        self.port = self._server.server_port  # the one the system chose, when asked for 0
        threading.Thread(
            target=self._server.serve_forever, name="embedded-aws", daemon=True
        ).start()
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
