"""moto's server behind the gate, on a loopback port: started once, reused, reset between uses."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from werkzeug.serving import make_server

from .bucket_owner import BucketOwnerCheck
from .counter import Counter
from .gate import S3Gate
from .invocations import Invocations
from .moto_gaps import MotoGaps, install

MARKER_PATH = "/__embedded_aws__/marker"
MARKER = b"embedded-aws"
# Fixed, fake credentials: the gate verifies every signature against them, and nothing signed
# with them can reach a real account.
CREDENTIALS = {"testing": "testing"}
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


class EmbeddedAWSError(RuntimeError):
    """The embedded AWS cannot start; the message says why and what to change."""


class PortInUse(EmbeddedAWSError):
    """Another program listens on the port the embedded AWS was given."""

    def __init__(self, port: int):
        super().__init__(f"Port {port} is in use by another program: choose a free port.")
        self.port = port


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


class _Marker:
    """Answer the marker path, so a second process knows the port holds an embedded AWS."""

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
    requests, can let two conditional updates of one item both succeed, which would hide (or
    fake) a lost race. Serving them in turn gives DynamoDB's atomicity back.
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


Middleware = Callable[[Callable], Callable]


class EmbeddedAWS:
    """moto on `host:port`: S3 behind the gate; the calls Zappa makes answered as AWS does.

    `port=0` takes any free port (`.port` then tells which). `faults=True` accepts injected
    failures (`faults.py`); each of `middleware` wraps the whole server, outermost last.
    """

    def __init__(
        self,
        port: int = 0,
        credentials: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        *,
        faults: bool = False,
        middleware: Iterable[Middleware] = (),
    ):
        self.host, self.port = host, port
        self.credentials = dict(credentials or CREDENTIALS)
        self.faults, self.middleware = faults, list(middleware)
        self._server = None
        self._serving: threading.Thread | None = None
        self.invocations: Invocations | None = None
        self.counter: Counter | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def is_running(self) -> bool:
        """Return True when this port already serves an embedded AWS (ours or another's)."""
        try:
            with urllib.request.urlopen(self.endpoint + MARKER_PATH, timeout=2) as response:
                return response.read() == MARKER
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> EmbeddedAWS:
        """Serve on the port, in a thread of this process; raise PortInUse if it is taken."""
        if self.port and not port_is_free(self.host, self.port):
            # Werkzeug's make_server would exit the process instead, with other advice.
            raise PortInUse(self.port)
        self._server = make_server(
            self.host, self.port, self.app(), threaded=True, request_handler=_quiet_handler()
        )
        self.port = self._server.server_port  # the one the system chose, when asked for 0
        self._serving = threading.Thread(
            target=self._server.serve_forever, name="embedded-aws", daemon=True
        )
        self._serving.start()
        return self

    def start_or_reuse(self) -> bool:
        """Start the server unless one already runs here; True when this call started it."""
        if self.port and self.is_running():
            return False
        self.start()
        return True

    def app(self):
        """Return the WSGI app: moto, its gaps filled, invocations, the gate, the rest, and
        the request counter around them all."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        install()
        moto = DomainDispatcherApplication(create_backend_app)
        self.invocations = Invocations(MotoGaps(_OneAtATime(moto)))
        app = S3Gate(BucketOwnerCheck(self.invocations), self.credentials)
        if self.faults:
            from .faults import Faults

            app = Faults(app)
        for wrap in self.middleware:
            app = wrap(app)
        # Outermost: a refused request is billed too (S3 bills a 403 as any request).
        self.counter = Counter(app)
        return _Marker(self.counter)

    @staticmethod
    def reset() -> None:
        """Forget every bucket, object, table, queue and function: a fresh account.

        moto keeps its state in this process; a server in another process has its own.
        """
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def stop(self) -> None:
        """Stop serving and let the port go: when this returns, the port is free again.

        Werkzeug's serve_forever closes the listening socket itself, after it tells
        shutdown() that it stopped. Closing it here too returns at once while that thread may
        still be inside close(): the port would listen a moment longer. So wait for the thread.
        """
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._serving.join()
            self._server = self._serving = None


def _quiet_handler():
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        # A pump polls SQS every second: log only what went wrong.
        def log_request(self, code="-", size="-"):
            if str(code).isdigit() and int(code) >= 500:
                super().log_request(code, size)

    return QuietHandler
