"""Feed events from a queue of the embedded AWS to a handler, as Lambda's asynchronous invocation
does: S3's events, and the function's own asynchronous invocations."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote_plus, unquote_plus

from .context import LambdaContext

logger = logging.getLogger(__name__)


class Pump(threading.Thread):
    """Receive events from SQS and hand each to `handler(event, context)`.

    Like Lambda's asynchronous invocation, a failed event is tried again, up to
    `max_receives` times in all, then kept in the on-failure queue, in the record Lambda's
    destination writes. With `loss`, that share of S3's own events is dropped unseen, as a
    lost notification is, and `on_lost(event)` is told.
    """

    def __init__(
        self,
        sqs,
        queue_url: str,
        handler,
        *,
        timeout_seconds: float = 60,
        max_receives: int = 3,
        workers: int = 4,
        copies: int = 1,
        failed_queue_url: str | None = None,
        function_arn: str = "",
        loss: float = 0.0,
        on_lost=None,
        function_name: str = "embedded-function",
    ):
        super().__init__(name="embedded-aws-pump", daemon=True)
        self._sqs, self._queue_url, self._handler = sqs, queue_url, handler
        self._failed_queue_url, self._function_arn = failed_queue_url, function_arn
        self._loss, self._on_lost, self._function_name = loss, on_lost, function_name
        self._counting = threading.Lock()
        self.in_flight = 0  # events received and not yet settled
        self.failures: list[BaseException] = []  # the last error of each event given up on
        self._timeout, self._max_receives = timeout_seconds, max_receives
        # S3 delivers at least once: `copies` > 1 delivers every event that often, at once.
        self._copies = copies
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        self._slots = threading.BoundedSemaphore(workers)
        self._copy_pool = ThreadPoolExecutor(
            max_workers=max(1, workers * copies), thread_name_prefix="copy"
        )
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            free = self._free_slots()
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=free,
                    WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # the server may be going away; say so and keep trying
                logger.exception("embedded AWS: cannot receive S3 events")
                self._release(free)
                self._stopping.wait(1)
                continue
            messages = response.get("Messages", [])
            self._release(free - len(messages))
            for message in messages:
                with self._counting:
                    self.in_flight += 1
                self._pool.submit(self._deliver_then_release, message)

    def _free_slots(self) -> int:
        """Wait for a free worker, then take every other free one (at most 10: SQS's batch)."""
        self._slots.acquire()
        taken = 1
        while taken < 10 and self._slots.acquire(blocking=False):
            taken += 1
        return taken

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _deliver_then_release(self, message: dict) -> None:
        try:
            self._deliver(message)
        except Exception:  # SQS itself failed; the message comes back after its timeout
            logger.exception("embedded AWS: could not settle an S3 event")
        finally:
            with self._counting:
                self.in_flight -= 1
            self._slots.release()

    def _deliver(self, message: dict) -> None:
        body = json.loads(message["Body"])
        if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
            # S3 sends its test event to a queue it is told to notify, never to a function.
            self._settle(message)
            return
        invoked = isinstance(body, dict) and "invocation" in body
        event = body["invocation"] if invoked else as_s3_sends(body)
        if not invoked and self._loss and random.random() < self._loss:
            logger.info(
                "an S3 event was lost on purpose, as a lost notification is: %s", _keys(event)
            )
            if self._on_lost:
                self._on_lost(event)
            self._settle(message)
            return
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        deliveries = [
            self._copy_pool.submit(
                self._handler, event, LambdaContext(self._function_name, self._timeout)
            )
            for _ in range(self._copies)
        ]
        try:
            for delivery in deliveries:
                delivery.result()
        except Exception as error:
            if receives < self._max_receives:
                logger.exception("worker failed on attempt %d; it will be retried", receives)
                # Lambda waits a minute before a retry; a second is kinder locally.
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=receives,
                )
                return
            logger.exception("worker failed %d times; keeping the event", receives)
            self.failures.append(error)
            self._keep_failed(event, error, receives)
        self._settle(message)

    def _settle(self, message: dict) -> None:
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _keep_failed(self, event: dict, error: Exception, attempts: int) -> None:
        """Send the event to the on-failure queue, in the record Lambda's destination writes."""
        if not self._failed_queue_url:
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self._function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self._sqs.send_message(QueueUrl=self._failed_queue_url, MessageBody=json.dumps(record))


def as_s3_sends(event: dict) -> dict:
    """Return an S3 event with each key encoded as S3 encodes it.

    S3's event message structure: "The object key name value is URL encoded. For example,
    'red flower.jpg' becomes 'red+flower.jpg'" (form encoding, which leaves '/' alone); moto
    also encodes '/' (`photos%2Fcat.jpg`), which S3 never sends.
    """
    for record in event.get("Records", []) if isinstance(event, dict) else []:
        found = record.get("s3", {}).get("object", {})
        if isinstance(found.get("key"), str):
            found["key"] = quote_plus(unquote_plus(found["key"]), safe="/")
    return event


def _keys(event: dict) -> list[str]:
    return [r.get("s3", {}).get("object", {}).get("key") for r in event.get("Records", [])]


def in_a_fresh_process(handler: str, timeout_seconds: float, command=None):
    """Return a handler that runs each event in its own process, killed at the timeout.

    `handler` is the function to run, as `package.module:function`; `python -m
    embedded_aws.invoke` runs it, unless `command` (a list) says what runs instead.
    """
    command = command or [sys.executable, "-m", "embedded_aws.invoke", handler]

    def invoke(event: dict, context) -> None:
        try:
            finished = subprocess.run(
                [*command, str(timeout_seconds)],
                input=json.dumps(event),
                text=True,
                timeout=timeout_seconds,
            )
        except subprocess.TimeoutExpired as error:
            raise InvocationFailed(f"timed out after {timeout_seconds} s") from error
        if finished.returncode != 0:
            raise InvocationFailed(f"exited with status {finished.returncode}")

    return invoke


class InvocationFailed(Exception):
    """A worker process failed, crashed or ran out of time."""
