"""The pytest plugin: an `embedded_aws` fixture, registered through the `pytest11` entry point.

- **Scope.** One server per test session, in a thread of the session's process, on a free
  port: each pytest-xdist worker is a process of its own, so each has its own server and
  port. Its state (buckets, objects, tables, queues) is reset after every test that used the
  fixture: each test starts from an empty account.
- **Environment.** While a test runs, `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
  `AWS_SECRET_ACCESS_KEY` and `AWS_DEFAULT_REGION` point any boto3 client at it, with the
  fake credentials the gate accepts; `AWS_PROFILE` and session tokens are removed.
- **Counts.** `embedded_aws.counts()` tells the requests served during the test, by service
  and operation, as AWS bills them (`counter.py`).
- **Imports.** moto and boto3 are imported only when a test asks for the fixture.

Do not mix it with moto's `mock_aws` in one test: `mock_aws` intercepts every client in the
process, this fixture's included.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

_ENVIRONMENT = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


class HandlerFailed(AssertionError):
    """A handler raised on every attempt at an S3 event, as Lambda would give up on it."""


class EmbeddedAWSFixture:
    """The embedded AWS, as one test sees it."""

    def __init__(self, server):
        from .server import REGION

        self.endpoint_url: str = server.endpoint
        self.region: str = REGION
        self._server = server
        self._deliveries: list = []

    def client(self, service_name: str, **options):
        """Return a boto3 client for `service_name`, pointed here, with the test credentials."""
        from .events import client

        return client(service_name, self.endpoint_url, **options)

    def on_s3_event(self, bucket: str, handler, *, prefix: str = "", suffix: str = "", **options):
        """Deliver `bucket`'s events (ObjectCreated by default) to `handler(event, context)`.

        Delivery is asynchronous, as Lambda's is: call `settle()` to wait for it.
        """
        from .events import S3Events

        events = S3Events(
            self.endpoint_url, bucket, handler, prefix=prefix, suffix=suffix, **options
        )
        self._deliveries.append(events.start())
        return events

    def settle(self, timeout: float = 30) -> None:
        """Wait until every S3 event so far has been handled; raise if a handler gave up."""
        failures = []
        for events in self._deliveries:
            events.settle(timeout)
            failures += events.failures
        if failures:
            raise HandlerFailed(f"the handler failed on {len(failures)} event(s): {failures[0]!r}")

    def counts(self, reset: bool = False) -> dict[str, dict[str, int]]:
        """Return the requests served since the test began (or the last reset), by service
        and operation: `{"s3": {"PutObject": 2}, "dynamodb": {"GetItem": 1}}`. The event
        pump's own calls are left out: S3 hands its events to Lambda for nothing."""
        return self._server.counter.counts(reset)

    def fail_next(self, service: str, count: int = 1, kind: str = "throttle") -> None:
        """Make the next `count` calls to `service` ("s3" or "dynamodb") fail as AWS does."""
        order = json.dumps({"service": service, "count": count, "kind": kind}).encode()
        urllib.request.urlopen(self.endpoint_url + "/__embedded_aws__/faults", order, 5).close()

    def _close(self) -> None:
        for events in self._deliveries:
            events.stop()
        urllib.request.urlopen(
            self.endpoint_url + "/__embedded_aws__/faults", json.dumps({"clear": True}).encode(), 5
        ).close()


@pytest.fixture(scope="session")
def embedded_aws_server():
    """The session's server: started on first use, on a free port, stopped at the end."""
    from .server import EmbeddedAWS

    server = EmbeddedAWS(0, faults=True).start()
    yield server
    server.stop()


@pytest.fixture
def embedded_aws(embedded_aws_server, monkeypatch) -> EmbeddedAWSFixture:
    """The embedded AWS for one test: `.endpoint_url`, `.client(name)`, `.on_s3_event(...)`."""
    from .server import CREDENTIALS, REGION

    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    key, secret = next(iter(CREDENTIALS.items()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    aws = EmbeddedAWSFixture(embedded_aws_server)
    aws.counts(reset=True)
    try:
        yield aws
    finally:
        aws._close()
        embedded_aws_server.reset()
