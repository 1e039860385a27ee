"""S3's event notifications for one bucket, delivered to a Python function as Lambda's trigger.

In AWS, a bucket's notification invokes a function asynchronously: the object is stored, the
event is queued, the function runs later, is retried twice if it raises, and what still
fails goes to an on-failure destination. `S3Events` does the same in this process: it sets
the bucket's notification through S3's own API (to an SQS queue, which moto delivers to
without Docker) and a `Pump` hands each event to the handler.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable

from .counter import INTERNAL_AGENT
from .pump import Pump
from .server import ACCOUNT_ID, CREDENTIALS, REGION

Handler = Callable[[dict, object], object]


def client(
    service: str,
    endpoint: str,
    credentials: dict[str, str] | None = None,
    *,
    internal: bool = False,
    **options,
):
    """Return a boto3 client for the embedded AWS at `endpoint`, with its fake credentials.

    `internal`: a client of the embedded AWS's own machinery, whose calls stand for no call
    anyone makes in AWS: the request counter leaves them out.
    """
    import boto3
    from botocore.config import Config

    key, secret = next(iter((credentials or CREDENTIALS).items()))
    # S3 on a loopback address: path-style, and SigV4 for presigned links and forms too.
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    if service != "s3":
        config = Config()
    if internal:
        config = config.merge(Config(user_agent_extra=INTERNAL_AGENT))
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=options.pop("region_name", REGION),
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=options.pop("config", config),
        **options,
    )


class S3Events:
    """Deliver `bucket`'s events to `handler(event, context)`, in a thread of this process."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        handler: Handler,
        *,
        prefix: str = "",
        suffix: str = "",
        events: Iterable[str] = ("s3:ObjectCreated:*",),
        queue_name: str | None = None,
        notification_id: str | None = None,
        credentials: dict[str, str] | None = None,
        timeout_seconds: float = 60,
        **pump_options,
    ):
        self.endpoint, self.bucket, self.handler = endpoint, bucket, handler
        self.prefix, self.suffix, self.events = prefix, suffix, list(events)
        self.queue_name = queue_name or f"{bucket}-events"
        self.notification_id = notification_id  # each record's configurationId (S3's Id)
        self.timeout_seconds = timeout_seconds
        self._credentials = credentials
        self._pump_options = pump_options
        # S3 hands its events to Lambda itself: the queue between them here costs nothing there.
        self.sqs = client("sqs", endpoint, credentials, internal=True)
        self.queue_url = ""
        self._pump: Pump | None = None
        self._failures: list[BaseException] = []

    def start(self) -> S3Events:
        """Point the bucket's notification at a queue of its own, and start delivering."""
        self.queue_url = self.sqs.create_queue(
            QueueName=self.queue_name,
            # A delivery stays hidden while its handler may still run, as Lambda's does.
            Attributes={"VisibilityTimeout": str(int(self.timeout_seconds))},
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        rules = [{"Name": "prefix", "Value": self.prefix}] if self.prefix else []
        rules += [{"Name": "suffix", "Value": self.suffix}] if self.suffix else []
        queue = {"QueueArn": arn["Attributes"]["QueueArn"], "Events": self.events}
        if self.notification_id:
            queue["Id"] = self.notification_id
        if rules:
            queue["Filter"] = {"Key": {"FilterRules": rules}}
        s3 = client("s3", self.endpoint, self._credentials, internal=True)
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"QueueConfigurations": [queue]}
        )
        self._pump = Pump(
            self.sqs,
            self.queue_url,
            self.handler,
            timeout_seconds=self.timeout_seconds,
            **{"function_arn": _arn(self.queue_name), **self._pump_options},
        )
        self._failures = self._pump.failures  # kept after stop(), for a test to read
        self._pump.start()
        return self

    def send(self, body: str) -> None:
        """Queue a message for the handler, as an asynchronous invocation of the function."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def invoke(self, event: dict) -> None:
        """Queue `event` for the handler, as `Invoke` with `InvocationType=Event` does."""
        self.send(json.dumps({"invocation": event}))

    @property
    def failures(self) -> list[BaseException]:
        """What the handler raised on its last attempt at each event it gave up on."""
        return list(self._failures)

    def settle(self, timeout: float = 30) -> None:
        """Wait until every event queued so far has been handled (or given up on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle() and self._idle():  # twice: a receive may be in flight
                return
            time.sleep(0.05)
        raise TimeoutError(f"S3 events for {self.bucket} still pending after {timeout} s")

    def _idle(self) -> bool:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        counts = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        waiting = sum(int(counts["Attributes"].get(name, 0)) for name in names)
        return waiting == 0 and self._pump is not None and self._pump.in_flight == 0

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.stop()
            self._pump = None


def _arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def run_every(seconds: float, task: Callable[[], object], on_error: Callable) -> threading.Thread:
    """Run `task` every `seconds` in a daemon thread, as a scheduled rule invokes a function."""

    def loop() -> None:
        while True:
            time.sleep(seconds)
            try:
                task()
            except Exception as error:  # the next run tries again, as the next event would
                on_error(error)

    thread = threading.Thread(target=loop, name="embedded-aws-schedule", daemon=True)
    thread.start()
    return thread
